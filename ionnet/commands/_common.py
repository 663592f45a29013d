"""Argument helpers shared by the command-line verbs.

The scan options are not written here: :func:`add_settings_arguments` builds
them from the fields of :class:`ionnet.settings.ScanSettings` (name, default,
help, choices), and :func:`settings_from_args` reads them back into one.
"""
from __future__ import annotations

import argparse
import math
import os
from dataclasses import MISSING, fields

from ..errors import GridError, IonnetError
from ..settings import CONNECTIVITIES, DEFAULT_CONNECTIVITY, DEFAULT_THRESHOLDS, ScanSettings


def float_list(text: str) -> list[float]:
    """Parse ``0.5,0.9,1.5`` into finite floats (argparse type)."""
    try:
        values = [float(x) for x in text.replace(" ", ",").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite comma-separated numbers, got {text!r}")
    return values


def int_at_least(low: int):
    """An argparse type: a whole number >= ``low``, with a one-line message otherwise.

    Examples
    --------
    >>> int_at_least(0)("3"), positive_int("1")
    (3, 1)
    """
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}") from None
        if v < low:
            raise argparse.ArgumentTypeError(f"must be >= {low} (got {text})")
        return v

    parse.__name__ = f"int >= {low}"
    return parse


#: An integer >= 1 (argparse type).
positive_int = int_at_least(1)


def positive_float(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not (math.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0 (got {text})")
    return v




def add_settings_arguments(p: argparse.ArgumentParser, settings: type[ScanSettings] = ScanSettings,
                           *, title: str = "scan options") -> None:
    """One ``--option`` per field of ``settings``, with its default in the help text.

    A boolean that defaults to off is a ``--flag``; one that defaults to on is
    a ``--no-flag``.  ``dest`` is the field name, so :func:`settings_from_args`
    reads the namespace back.
    """
    g = p.add_argument_group(title)
    for f in fields(settings):
        default = f.default if f.default is not MISSING else None
        cli = dict(f.metadata.get("cli", {}))
        text = f.metadata.get("help", "")
        flag = "--" + f.name.replace("_", "-")
        if isinstance(default, bool):
            if default:
                g.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_false", default=True,
                               help=f"turn off: {text} (default: on)")
            else:
                g.add_argument(flag, dest=f.name, action="store_true", default=False, help=f"{text} (default: off)")
            continue
        shown = f.metadata.get("none", "none") if default is None else default
        g.add_argument(flag, dest=f.name, default=default, help=f"{text} (default: {shown})", **cli)


def settings_from_args(args: argparse.Namespace, settings: type[ScanSettings] = ScanSettings) -> ScanSettings:
    """The settings object of the options :func:`add_settings_arguments` added, checked at once.

    Besides :class:`~ionnet.ScanSettings`' own checks, the model name and the
    mobile ion are checked here, before any file is read or written (not with
    ``--task``, whose function may use any model name).
    """
    s = settings(**{f.name: getattr(args, f.name) for f in fields(settings)})
    if getattr(args, "task", None) is None:
        check_model_and_ion(s.model, s.ion)
    return s


def check_model_and_ion(model, ion) -> None:
    """A misspelt ``--model`` or ``--ion`` fails here, before any work (with the closest model name)."""
    from ..potentials import check_model_name
    from ..scanning.structure import element

    check_model_name(model)
    element(ion, "--ion")


def add_connectivity_argument(p: argparse.ArgumentParser) -> None:
    """``--connectivity`` of the analysis, default :data:`ionnet.settings.DEFAULT_CONNECTIVITY`."""
    p.add_argument("--connectivity", type=int, choices=list(CONNECTIVITIES), default=DEFAULT_CONNECTIVITY,
                   help=f"grid connectivity (default: {DEFAULT_CONNECTIVITY})")


def add_thresholds_argument(p: argparse.ArgumentParser, what: str) -> None:
    """``--thresholds`` (eV, comma-separated), default :data:`ionnet.settings.DEFAULT_THRESHOLDS`."""
    shown = ",".join(f"{t:g}" for t in DEFAULT_THRESHOLDS)
    p.add_argument("--thresholds", type=float_list, default=list(DEFAULT_THRESHOLDS),
                   help=f"{what}, eV (default: {shown})")


def add_scan_arguments(p: argparse.ArgumentParser) -> None:
    """The scan options plus ``--checkpoint`` and ``--progress`` (scan, analyze)."""
    add_settings_arguments(p)
    g = p.add_argument_group("scan run")
    g.add_argument("--checkpoint", default=None, help="file to resume an interrupted scan from (default: none)")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress on stderr: a bar on a terminal, a line every 10 s in a log or pipe (default: on)")


def is_grid_file(path: str) -> bool:
    return path.lower().endswith(".npz")


def check_output(path: str | None, *inputs: str | None, option: str = "--output",
                 suffixes: tuple[str, ...] | None = None) -> str | None:
    """Check an output path before any expensive work (its folder is created).

    Refuses a folder, an input of the command, a wrong ending or an unwritable
    place with a one-line :class:`~ionnet.errors.OutputError`; None passes.
    """
    if path is None:
        return None
    from ..io.files import check_output as _check

    return _check(path, inputs=[i for i in inputs if i], option=option, suffixes=suffixes)


def scan_from_args(path: str, args: argparse.Namespace):
    """Run ``ionnet.scan`` on a structure file with the parsed options."""
    from ..scanning import scan

    if not os.path.exists(path):
        raise IonnetError(f"input not found: {path}")
    progress = True if args.progress is None else args.progress  # a bar on a terminal, lines in a log
    return scan(path, settings=settings_from_args(args), progress=progress, checkpoint=args.checkpoint)


def save_scan(grids, path: str) -> None:
    """Save scanned grids; if that fails after all, keep them in a rescue file and say where.

    The output was checked before the scan, so this is rare (disk full, the
    folder removed meanwhile); the computed maps are never thrown away.

    Raises
    ------
    OutputError
        ``path`` could not be written (the message names the rescue file).
    """
    import tempfile

    from ..errors import OutputError
    from ..grid import save_grids
    from ..io.files import one_line

    try:
        save_grids(grids, path)
        return
    except (OSError, IonnetError) as e:
        first = e
    rescue = os.path.join(tempfile.gettempdir(), f"ionnet-rescued-{os.getpid()}.npz")
    try:
        save_grids(grids, rescue)
    except (OSError, IonnetError):
        raise first from None
    raise OutputError(f"cannot write {one_line(path)} ({one_line(first, 120)}); the scanned grid(s) were saved to "
                      f"{rescue} instead: move it where you want it") from None


def load_grids(path: str):
    """The maps (a :class:`ionnet.ScanResult`) of a ``.npz`` written by ``ionnet scan``."""
    from ..grid import load_grids as _load

    if not os.path.exists(path):
        raise GridError(f"grid file not found: {path}")
    return _load(path)
