"""Argument helpers shared by the command-line verbs."""
from __future__ import annotations

import argparse
import os

from ..errors import GridError, IonnetError

STRUCTURE_SUFFIXES = (".cif", ".json", ".vasp", ".xyz", ".extxyz", ".mcif")


def float_list(text: str) -> list[float]:
    """Parse ``0.5,0.9,1.5`` into floats (argparse type)."""
    try:
        return [float(x) for x in text.replace(" ", ",").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers in eV, got {text!r}") from None


def add_scan_arguments(p: argparse.ArgumentParser) -> None:
    """Options that turn a structure into an energy grid (shared by scan/analyze)."""
    g = p.add_argument_group("scan options (when the input is a structure)")
    g.add_argument("--ion", default="Li", help="mobile ion element (default: Li)")
    g.add_argument("--model", default="m3gnet",
                   help="m3gnet | chgnet | bvse | PATH to a matgl model folder (default: m3gnet)")
    g.add_argument("--spacing", type=float, default=0.2, help="grid spacing in Å (default: 0.2)")
    g.add_argument("--shape", type=int, nargs=3, metavar=("NA", "NB", "NC"), help="grid shape instead of --spacing")
    g.add_argument("--framework", choices=["vacancy", "empty"], default="vacancy",
                   help="vacancy: one map per distinct mobile ion, others frozen; empty: all mobile ions removed")
    g.add_argument("--order", action="store_true", help="build an ordered approximant of a disordered structure")
    g.add_argument("--relax", action="store_true", help="relax the structure with the same potential first")
    g.add_argument("--no-symmetry", action="store_true", help="evaluate every node (no space-group reduction)")
    g.add_argument("--min-distance", type=float, default=None,
                   help="skip nodes closer than this (Å) to a framework atom (default: from ionic radii)")
    g.add_argument("--refine", action="store_true",
                   help="coarse grid first, full resolution only near low energies (exact below the ceiling)")
    g.add_argument("--device", default="cpu", help="cpu or cuda")
    g.add_argument("--batch-size", type=int, default=None)
    g.add_argument("--checkpoint", default=None, help="file to resume an interrupted scan from")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar (default: on when stderr is a terminal)")


def is_grid_file(path: str) -> bool:
    return path.endswith(".npz")


def scan_kwargs(args: argparse.Namespace) -> dict:
    """The ``ionnet.scan`` settings shared by every verb that scans (scan, analyze, screen)."""
    return dict(
        ion=args.ion,
        model=args.model,
        spacing=args.spacing,
        shape=tuple(args.shape) if args.shape else None,
        framework=args.framework,
        order=args.order,
        relax=args.relax,
        symmetry=not args.no_symmetry,
        min_distance=args.min_distance,
        refine=args.refine,
        device=args.device,
        batch_size=args.batch_size,
    )


def scan_from_args(path: str, args: argparse.Namespace):
    """Run ``ionnet.scan`` on a structure file with the parsed options."""
    import sys

    from ..scanning import scan

    if not os.path.exists(path):
        raise IonnetError(f"input not found: {path}")
    progress = args.progress if args.progress is not None else sys.stderr.isatty()
    return scan(path, **scan_kwargs(args), progress=progress, checkpoint=args.checkpoint)


def load_grids(path: str):
    """An EnergyGrid (or list of them) from a ``.npz`` written by ``ionnet scan``."""
    from ..grid import load_grids as _load

    if not os.path.exists(path):
        raise GridError(f"grid file not found: {path}")
    return _load(path)
