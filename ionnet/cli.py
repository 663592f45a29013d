"""``ionnet`` command line: a thin layer over the library.

Each verb lives in ``ionnet/commands/<verb>.py`` and provides
``register(subparsers)``, which adds its parser and sets ``func=run`` where
``run(args) -> int``.

:func:`main` is the one exception boundary: every error a user can cause ends
in one line on stderr (``ionnet: error: ...``) and exit code 1, usage errors
(a misspelt verb or option, with a "did you mean") in exit code 2, Ctrl-C in
130; never a traceback, unless ``--debug`` (or ``-v``, or the environment
variable ``IONNET_DEBUG=1``) asks for it.
"""
from __future__ import annotations

import argparse
import difflib
import importlib
import logging
import os
import re
import sys

from ._version import __version__
from .errors import IonnetError
from .io.files import one_line as _one_line

VERBS = ["scan", "analyze", "transport", "path", "export", "render", "plot", "screen", "rank", "validate"]

#: Environment variable that turns on tracebacks (like ``--debug``).
DEBUG_ENV_VAR = "IONNET_DEBUG"


def _suggest(word: str, choices) -> str:
    close = difflib.get_close_matches(word, [str(c) for c in choices], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit 2) that suggest the closest verb or option."""

    def error(self, message: str) -> None:
        m = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if m:
            choices = re.findall(r"'([^']*)'", m.group(2)) or [c.strip() for c in m.group(2).split(",")]
            message += _suggest(m.group(1), choices)
        m = re.search(r"unrecognized arguments: (.*)", message)
        if m:
            options = [o for a in self._actions for o in a.option_strings]
            for sub in self._subparsers._group_actions if self._subparsers else ():
                for p in getattr(sub, "choices", {}).values():
                    options += [o for a in p._actions for o in a.option_strings]
            for word in m.group(1).split():
                if word.startswith("-"):
                    hint = _suggest(word.split("=")[0], sorted(set(options)))
                    if hint:
                        message += hint
                        break
        self.exit(2, f"{self.prog}: error: {_one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ionnet",
        description="Find fast ion conductors from the potential energy surface seen by a mobile ion.",
        epilog="Example: ionnet analyze grid.npz --json   (run 'ionnet VERB --help' for each verb)",
    )
    p.add_argument("--version", action="version", version=f"ionnet {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr and show tracebacks")
    p.add_argument("--debug", action="store_true",
                   help=f"show the Python traceback of an error (also: {DEBUG_ENV_VAR}=1; may follow the verb)")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=_Parser)
    for verb in VERBS:
        try:
            mod = importlib.import_module(f"ionnet.commands.{verb}")
        except ModuleNotFoundError as e:
            if e.name == f"ionnet.commands.{verb}":
                continue  # verb not built into this version
            raise
        mod.register(sub)
    return p


def error_message(e: BaseException) -> str:
    """The one line printed for an error: its own message, or a short description of an unexpected one."""
    if isinstance(e, IonnetError):
        return _one_line(e)
    if isinstance(e, OSError) and (e.strerror or e.filename):
        name = f" {_one_line(e.filename, 200)}" if e.filename else ""
        return f"cannot use{name}: {e.strerror or e}"
    if isinstance(e, MemoryError):
        return "out of memory; use a coarser grid (larger --spacing) or a machine with more memory"
    text = _one_line(e, 300)
    kind = type(e).__name__
    return (f"{kind}: {text}" if text else kind) + f" (rerun with --debug for the traceback)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = os.environ.get(DEBUG_ENV_VAR, "").strip() not in ("", "0")
    if "--debug" in argv[1:]:  # allowed after the verb too
        argv = [argv[0]] + [a for a in argv[1:] if a != "--debug"]
        debug = True
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = debug or args.debug or args.verbose
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        if debug:
            raise
        print("ionnet: interrupted (a scan with --checkpoint resumes where it stopped)", file=sys.stderr)
        return 130
    except SystemExit:
        raise
    except BrokenPipeError:  # `ionnet rank ... | head`: the reader left; not an error of ours
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
    except Exception as e:  # noqa: BLE001 - the one boundary: nothing reaches the user as a traceback
        if debug:
            raise
        print(f"ionnet: error: {error_message(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
