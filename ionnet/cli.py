"""``ionnet`` command line: a thin layer over the library.

Each verb lives in ``ionnet/commands/<verb>.py`` and provides
``register(subparsers)``, which adds its parser and sets ``func=run`` where
``run(args) -> int``.  Exit codes: 0 ok, 1 ionnet error (one line on stderr;
traceback only with ``-v``), 2 usage error.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ._version import __version__
from .errors import IonnetError

VERBS = ["scan", "analyze", "transport", "path", "export", "render", "plot", "screen", "rank", "validate"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors: one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="ionnet",
        description="Find fast ion conductors from the potential energy surface seen by a mobile ion.",
        epilog="Example: ionnet analyze grid.npz --json   (run 'ionnet VERB --help' for each verb)",
    )
    p.add_argument("--version", action="version", version=f"ionnet {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="log to stderr and show tracebacks")
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except IonnetError as e:
        if args.verbose:
            raise
        print(f"ionnet: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ionnet: interrupted", file=sys.stderr)
        return 130
    except (OSError, MemoryError) as e:  # file-system and memory problems are user-facing too
        if args.verbose:
            raise
        print(f"ionnet: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
