"""``ionnet plot``: 2D figures of a grid: free volume curve, level histogram, slice."""
from __future__ import annotations

import argparse

from ..settings import DEFAULT_CONNECTIVITY
from ._common import load_grids
from .export import pick_map

EPILOG = """examples:
  ionnet plot lifepo4.npz -o fv.png                          # FV(t) with the 1D/2D/3D thresholds
  ionnet plot lifepo4.npz --kind hist -o levels.png
  ionnet plot lifepo4.npz --kind slice --axis 2 --field level -o slice.pdf
"""


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="free volume curve, level histogram or a slice through the minimum (PNG/PDF/SVG)",
        description="Draw a 2D figure of an energy grid with matplotlib (no window).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", metavar="GRID", help="grid .npz written by 'ionnet scan' / EnergyGrid.save")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="image file (.png, .pdf, .svg)")
    p.add_argument("--kind", choices=["fv", "hist", "slice"], default="fv", help="figure (default: fv)")
    p.add_argument("--axis", type=int, choices=[0, 1, 2], default=2, help="slice: lattice axis normal to it")
    p.add_argument("--field", choices=["energy", "level"], default="energy", help="slice: what to colour")
    p.add_argument("--dpi", type=int, default=150)
    p.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=DEFAULT_CONNECTIVITY)
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os

    from ..analysis import analyze
    from ..render import fv_plot, level_histogram, slice_plot
    from ..errors import RenderError

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise RenderError(f"-o must end in .png, .pdf, .svg or .jpg (got {args.output!r})")
    result = analyze(pick_map(load_grids(args.grid), args.map), connectivity=args.connectivity)
    if args.kind == "fv":
        fig = fv_plot(result)
    elif args.kind == "hist":
        fig = level_histogram(result)
    else:
        fig = slice_plot(result, axis=args.axis, field=args.field)
    fig.savefig(args.output, dpi=args.dpi)
    print(f"wrote {args.output}")
    return 0
