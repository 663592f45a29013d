"""``ionnet render``: 3D picture (PNG, interactive HTML) of the migration pathways of a grid."""
from __future__ import annotations

import argparse

from ..settings import DEFAULT_CONNECTIVITY
from ._common import load_grids
from .export import pick_map

EPILOG = """examples:
  ionnet render lifepo4.npz -o pathways.png                 # surfaces just above the 1D/2D/3D thresholds
  ionnet render lifepo4.npz --threshold 0.3 0.8 --supercell 2 2 1 -o pathways.png
  ionnet render lifepo4.npz --components 0.4 -o components.png   # every region below 0.4 eV
  ionnet render lifepo4.npz --html pathways.html            # interactive page, works offline

rendering is off screen (EGL on machines without a display).
"""


def register(sub) -> None:
    p = sub.add_parser(
        "render",
        help="3D picture of the pathways below given energies (PNG and/or HTML)",
        description="Render the region reachable from the minimum below each threshold, "
                    "with framework atoms and the site graph, off screen.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", metavar="GRID", help="grid .npz written by 'ionnet scan' / EnergyGrid.save")
    p.add_argument("-o", "--output", metavar="PNG", help="PNG file to write")
    p.add_argument("--html", metavar="FILE", help="also (or only) write an interactive HTML page")
    p.add_argument("--threshold", type=float, nargs="+", default=None, metavar="T",
                   help="eV above the minimum, one surface each (default: just above the 1D/2D/3D thresholds)")
    p.add_argument("--supercell", type=int, nargs=3, default=[2, 2, 2], metavar=("NA", "NB", "NC"),
                   help="repetitions along a, b, c (default: 2 2 2)")
    p.add_argument("--components", type=float, default=None, metavar="T",
                   help="instead: every connected region below T eV, percolating ones highlighted")
    p.add_argument("--no-atoms", action="store_true", help="hide the framework atoms")
    p.add_argument("--no-sites", action="store_true", help="hide the site graph")
    p.add_argument("--size", type=int, nargs=2, default=[1024, 768], metavar=("W", "H"), help="pixels")
    p.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=DEFAULT_CONNECTIVITY)
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..render import components, export_html, pathways, save
    from ..errors import RenderError

    if not args.output and not args.html:
        raise RenderError("nothing to write: give -o PICTURE.png and/or --html FILE.html")
    if args.output and not args.output.lower().endswith(".png"):
        raise RenderError(f"-o must name a .png file (got {args.output!r}); use --html for a web page")
    result = analyze(pick_map(load_grids(args.grid), args.map), connectivity=args.connectivity)
    if args.components is not None:
        plotter = components(result, args.components, show_atoms=not args.no_atoms, window_size=args.size)
    else:
        plotter = pathways(
            result, args.threshold, supercell=args.supercell, show_atoms=not args.no_atoms,
            show_sites=not args.no_sites, window_size=args.size,
        )
    try:
        if args.output:
            print(f"wrote {save(plotter, args.output)}")
        if args.html:
            print(f"wrote {export_html(plotter, args.html)}")
    finally:
        plotter.close()
    return 0
