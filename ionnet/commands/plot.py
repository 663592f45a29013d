"""``ionnet plot``: 2D figures of a grid: free volume curve, level histogram, slice, Arrhenius plot."""
from __future__ import annotations

import argparse

from ..settings import DEFAULT_CONNECTIVITY
from ._common import check_output, float_list, load_grids, positive_int
from .export import pick_map

EPILOG = """examples:
  ionnet plot lifepo4.npz -o fv.png                          # FV(t) with the 1D/2D/3D thresholds
  ionnet plot lifepo4.npz --log -o fv_log.png                # the same on a log axis
  ionnet plot lifepo4.npz --kind hist -o levels.png
  ionnet plot lifepo4.npz --kind slice --field level -o slice.pdf   # plane along the channel
  ionnet plot lifepo4.npz --kind arrhenius -o arrhenius.png
"""

DEFAULT_TEMPERATURES = [300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0]


def register(sub) -> None:
    p = sub.add_parser(
        "plot",
        help="free volume curve, level histogram, slice or Arrhenius plot (PNG/PDF/SVG)",
        description="Draw a 2D figure of an energy grid with matplotlib (no window).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", metavar="GRID", help="grid .npz written by 'ionnet scan' / EnergyGrid.save")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="image file (.png, .pdf, .svg)")
    p.add_argument("--kind", choices=["fv", "hist", "slice", "arrhenius"], default="fv",
                   help="figure (default: fv)")
    p.add_argument("--log", action="store_true", help="fv/hist: logarithmic y axis")
    p.add_argument("--axis", type=int, choices=[0, 1, 2], default=None,
                   help="slice: lattice axis normal to it (default: a plane along the fastest direction)")
    p.add_argument("--index", type=int, default=None, help="slice: grid index along --axis (default: the minimum's)")
    p.add_argument("--field", choices=["energy", "level"], default="energy", help="slice: what to colour")
    p.add_argument("--temperatures", type=float_list, default=None, metavar="T1,T2,...",
                   help="arrhenius: temperatures in K (default: 300,400,...,1000)")
    p.add_argument("--dpi", type=positive_int, default=150, help="dots per inch, >= 1 (default: 150)")
    p.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=DEFAULT_CONNECTIVITY)
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")
    p.set_defaults(func=run)


def _transport(result, temperatures):
    """``ionnet.transport(result, temperatures)``: D(T), Ea and sigma of the site graph."""
    from ..diffusion import transport

    return transport(result, temperatures)


def run(args: argparse.Namespace) -> int:
    import os

    from ..analysis import analyze
    from ..errors import RenderError
    from ..render import arrhenius_plot, fv_plot, level_histogram, slice_plot

    ext = os.path.splitext(args.output)[1].lower()
    if ext not in (".png", ".pdf", ".svg", ".jpg", ".jpeg"):
        raise RenderError(f"-o must end in .png, .pdf, .svg or .jpg (got {args.output!r})")
    check_output(args.output, args.grid)
    result = analyze(pick_map(load_grids(args.grid), args.map), connectivity=args.connectivity)
    if args.kind == "fv":
        fig = fv_plot(result, log=args.log)
    elif args.kind == "hist":
        fig = level_histogram(result, log=args.log)
    elif args.kind == "slice":
        fig = slice_plot(result, axis=args.axis, field=args.field, index=args.index)
    else:
        fig = arrhenius_plot(_transport(result, args.temperatures or DEFAULT_TEMPERATURES))
    from ..io.files import atomic_path

    with atomic_path(args.output) as tmp:
        fig.savefig(tmp, dpi=args.dpi)
    print(f"wrote {args.output}")
    return 0
