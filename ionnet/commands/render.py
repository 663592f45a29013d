"""``ionnet render``: 3D picture (PNG, interactive HTML) of the migration pathways of a grid."""
from __future__ import annotations

import argparse
import os

from ..settings import DEFAULT_CONNECTIVITY
from ._common import float_list, load_grids
from .export import pick_map

EPILOG = """examples:
  ionnet render lifepo4.npz -o pathways.png                 # the channel just above the MPE, 2x2x2 cells
  ionnet render lifepo4.npz --view iso --repeat 1,2,1 -o pathways.png
  ionnet render lifepo4.npz --threshold 3.4,3.8 -o pathways.png  # plus translucent surfaces at 3.4 and 3.8 eV
  ionnet render lifepo4.npz --components 0.8 -o components.png   # every region below 0.8 eV
  ionnet render lifepo4.npz --html pathways.html            # interactive page, works offline

rendering is off screen (EGL on machines without a display).
"""


#: Largest picture side, pixels (a larger window aborts VTK's off-screen context).
MAX_PIXELS = 8192


def register(sub) -> None:
    p = sub.add_parser(
        "render",
        help="3D picture of the percolating pathways (PNG and/or HTML)",
        description="Render the volume reachable just above the minimal percolation energy (MPE), "
                    "each connected component coloured by its dimensionality, with the framework atoms, "
                    "the site graph and the cell, off screen.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", metavar="GRID", help="grid .npz written by 'ionnet scan' / EnergyGrid.save")
    p.add_argument("-o", "--output", metavar="PNG", help="PNG file to write")
    p.add_argument("--html", metavar="FILE", help="also (or only) write an interactive HTML page")
    p.add_argument("--margin", type=float, default=0.05, metavar="EV",
                   help="the channel surface encloses E - E_min <= MPE + EV (default: 0.05)")
    p.add_argument("--threshold", type=float_list, nargs="+", default=None, metavar="T",
                   help="also draw the region reachable below T eV (translucent), e.g. the 2D/3D thresholds; "
                        "several comma-separated (3.4,3.8)")
    p.add_argument("--repeat", type=int_list, nargs="+", default=None, metavar="N",
                   help="cells shown along a, b, c: one number or three, comma-separated (default: 2,2,2)")
    p.add_argument("--supercell", type=int, nargs=3, default=None, metavar=("NA", "NB", "NC"),
                   help=argparse.SUPPRESS)  # old name of --repeat
    p.add_argument("--view", choices=["a", "b", "c", "iso"], default=None,
                   help="look along a lattice vector or isometric (default: across the fastest direction)")
    p.add_argument("--components", type=float, default=None, metavar="T",
                   help="instead: every connected region below T eV, each its own colour")
    p.add_argument("--title", default=None, help="title text (default: formula, model, MPE and its direction)")
    p.add_argument("--no-atoms", action="store_true", help="hide the framework atoms")
    p.add_argument("--no-sites", action="store_true", help="hide the site graph")
    p.add_argument("--size", type=int, nargs=2, default=[1024, 768], metavar=("W", "H"), help="pixels")
    p.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=DEFAULT_CONNECTIVITY)
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")
    p.set_defaults(func=run)


def int_list(text: str) -> list[int]:
    """Parse ``2,2,1`` (or one number) into integers (argparse type)."""
    try:
        values = [int(x) for x in text.replace(" ", ",").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"expected comma-separated whole numbers, got {text!r}")
    return values


def _flat(groups):
    """One list from ``nargs='+'`` of comma lists: ``2,2,1`` and the older ``2 2 1`` give the same."""
    return None if groups is None else [v for group in groups for v in group]


def _repeat(args, default):
    from ..errors import RenderError

    repeat = _flat(args.repeat)
    if repeat is None:
        return tuple(args.supercell) if args.supercell else default
    if len(repeat) == 1:
        return (repeat[0],) * 3
    if len(repeat) == 3:
        return tuple(repeat)
    raise RenderError(f"--repeat takes one number or three, e.g. 2,2,1 (got {','.join(map(str, repeat))})")


def _size(path: str) -> str:
    n = os.path.getsize(path)
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.0f} kB"


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..render import components, export_html, pathways, save
    from ..errors import RenderError

    if not args.output and not args.html:
        raise RenderError("nothing to write: give -o PICTURE.png and/or --html FILE.html")
    if args.output and not args.output.lower().endswith(".png"):
        raise RenderError(f"-o must name a .png file (got {args.output!r}); use --html for a web page")
    if not all(16 <= n <= MAX_PIXELS for n in args.size):
        raise RenderError(f"--size must be 16..{MAX_PIXELS} pixels per side (got {args.size[0]} {args.size[1]})")
    from ._common import check_output
    from ..io.files import atomic_path

    check_output(args.output, args.grid)
    check_output(args.html, args.grid, option="--html")
    result = analyze(pick_map(load_grids(args.grid), args.map), connectivity=args.connectivity)
    common = dict(view=args.view, window_size=args.size, title=args.title)
    outputs = [(args.output, "png"), (args.html, "html")]
    for path, kind in outputs:
        if not path:
            continue
        light = kind == "html"  # lighter spheres for the web page; meshes are decimated in export_html
        if args.components is not None:
            plotter = components(result, args.components, supercell=_repeat(args, (1, 1, 1)),
                                 show_atoms=not args.no_atoms, resolution=10 if light else 20, **common)
        else:
            plotter = pathways(
                result, _flat(args.threshold), supercell=_repeat(args, (2, 2, 2)), show_atoms=not args.no_atoms,
                show_sites=not args.no_sites, margin=args.margin, resolution=10 if light else 20, **common,
            )
        try:
            with atomic_path(path) as tmp:  # a complete picture or none
                (save(plotter, tmp) if kind == "png" else export_html(plotter, tmp))
            written = path
        finally:
            plotter.close()
        print(f"wrote {written} ({_size(written)})")
    return 0
