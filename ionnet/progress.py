"""Progress that a person and a log can both follow.

:func:`progress_bar` returns a counter with ``update(n)``, ``set_postfix(...)``
and ``close()``.  Where it writes depends on ``mode``:

* on a terminal: a tqdm bar (stable total, rate and ETA);
* elsewhere (a log file, a pipe, a batch job): one plain line every
  ``every_s`` seconds (default 10) and one at the end, e.g.
  ``scan Li map 1: 45% (1234/2742 pt), 210 pt/s, ETA 7s``; never a ``\\r``;
* off: nothing.

``mode`` is what the API's ``progress=`` argument accepts:

==========  ===========================================================
``"auto"``  bar on a terminal, nothing otherwise (the library default)
``True``    bar on a terminal, lines otherwise (the command line default)
``False``   nothing
``"bar"``   always the tqdm bar; ``"lines"``: always the plain lines
==========  ===========================================================

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> bar = progress_bar(4, "demo", unit="pt", mode="lines", file=out, every_s=0.0)
>>> bar.update(2); bar.close()
>>> print(out.getvalue().splitlines()[0].split(",")[0])
demo: 50% (2/4 pt)
"""
from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["progress_bar", "resolve_mode", "PROGRESS_EVERY_S"]

#: Seconds between two progress lines on a non-terminal.
PROGRESS_EVERY_S = 10.0


def _isatty(file: Any) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def resolve_mode(mode: bool | str | None, file: TextIO | None = None) -> str:
    """``'bar'``, ``'lines'`` or ``'off'`` for a ``progress=`` value (see the module docstring)."""
    file = sys.stderr if file is None else file
    tty = _isatty(file)
    if mode is None or mode is False or mode == "off":
        return "off"
    if mode == "auto":
        return "bar" if tty else "off"
    if mode is True:
        return "bar" if tty else "lines"
    if mode in ("bar", "lines"):
        return str(mode)
    from .errors import IonnetError

    raise IonnetError(f"`progress` must be True, False, 'auto', 'bar' or 'lines' (got {mode!r})")


def _duration(s: float) -> str:
    s = max(0.0, s)
    if s < 60:
        return f"{s:.0f}s"
    if s < 3600:
        return f"{int(s // 60)}m{int(s % 60):02d}s"
    return f"{int(s // 3600)}h{int(s % 3600 // 60):02d}m"


class _Lines:
    """A tqdm-like counter that prints one plain line every ``every_s`` seconds."""

    def __init__(self, total: int | None, desc: str, unit: str, file: TextIO, every_s: float) -> None:
        self.total, self.desc, self.unit, self.file, self.every_s = total, desc, unit, file, every_s
        self.n = 0
        self.postfix = ""
        self.t0 = self._last = time.monotonic()
        self._printed_n = -1

    def _line(self) -> str:
        dt = time.monotonic() - self.t0
        rate = self.n / dt if dt > 0 else 0.0
        if self.total:
            text = f"{self.desc}: {100.0 * self.n / self.total:.0f}% ({self.n}/{self.total} {self.unit})"
        else:
            text = f"{self.desc}: {self.n} {self.unit}"
        text += f", {rate:.0f} {self.unit}/s" if rate >= 10 else f", {rate:.2g} {self.unit}/s"
        if self.total and rate > 0 and self.n < self.total:
            text += f", ETA {_duration((self.total - self.n) / rate)}"
        else:
            text += f", {_duration(dt)} elapsed"
        return text + (f", {self.postfix}" if self.postfix else "")

    def _emit(self) -> None:
        print(self._line(), file=self.file, flush=True)
        self._last = time.monotonic()
        self._printed_n = self.n

    def update(self, n: int = 1) -> None:
        self.n += int(n)
        if time.monotonic() - self._last >= self.every_s:
            self._emit()

    def set_postfix(self, refresh: bool = False, **kw: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in kw.items())

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        if self.n != self._printed_n and (self.n or self.total):
            self._emit()


class _Off:
    n = 0
    total = None

    def update(self, n: int = 1) -> None:
        self.n += int(n)

    def set_postfix(self, refresh: bool = False, **kw: Any) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int | None, desc: str, *, unit: str = "it", mode: bool | str | None = "auto",
                 file: TextIO | None = None, every_s: float = PROGRESS_EVERY_S) -> Any:
    """A progress counter (``update``, ``set_postfix``, ``close``, ``n``, ``total``) for ``mode``.

    Parameters
    ----------
    total : int or None
        Number of steps (None: unknown; lines then show the count and the rate).
    desc, unit : str
        Label and unit (``"pt"``, ``"struct"``).
    mode : bool or {'auto', 'bar', 'lines', 'off'}
        See the module docstring.
    file : text stream, default sys.stderr
    every_s : float, s
        Seconds between plain lines.
    """
    file = sys.stderr if file is None else file
    kind = resolve_mode(mode, file)
    if kind == "off":
        return _Off()
    if kind == "lines":
        return _Lines(total, desc, unit, file, every_s)
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=file, dynamic_ncols=True, leave=False, smoothing=0.1)
