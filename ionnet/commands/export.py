"""``ionnet export``: a grid as a graph (GraphML/GML) or as volumetric data for crystal viewers."""
from __future__ import annotations

import argparse

from ..export import FORMATS
from ._common import add_connectivity_argument, check_output, load_grids

EPILOG = """examples:
  ionnet export lifepo4.npz -o lifepo4.cube                 # energy for VESTA/VMD (format from -o)
  ionnet export lifepo4.npz -o CHGCAR --field level --threshold 0.8
  ionnet export lifepo4.npz -o lifepo4.vts                  # ParaView, any lattice
  ionnet export lifepo4.npz -o sites.graphml --graph sites  # site graph for networkx/Gephi
  ionnet export lifepo4.npz --format gml --threshold 0.5 -o grid.gml

volumetric values are eV above the minimum; forbidden/unreachable/above-threshold
nodes are written as 1e4 eV (CHGCAR: values x cell volume, as VASP does).
"""

def register(sub) -> None:
    p = sub.add_parser(
        "export",
        help="write a grid as GraphML/GML or as cube/CHGCAR/grd/XSF/VTK volumetric data",
        description="Export an energy grid (.npz from 'ionnet scan') or its level map / graphs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("grid", metavar="GRID", help="grid .npz written by 'ionnet scan' / EnergyGrid.save")
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="output file")
    p.add_argument("--format", choices=list(FORMATS), default=None,
                   help="output format (default: from the -o extension; CHGCAR*/LOCPOT* names are recognised)")
    p.add_argument("--field", choices=["energy", "level"], default="energy",
                   help="volumetric field: probe energy or level map (default: energy)")
    p.add_argument("--threshold", type=float, default=None, metavar="T",
                   help="eV above the minimum: graphs keep nodes/edges <= T; volumetric files fill nodes above T")
    p.add_argument("--graph", choices=["grid", "sites"], default="grid",
                   help="graphml/gml: every grid node, or the site graph (default: grid)")
    add_connectivity_argument(p)
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")
    p.set_defaults(func=run)


def pick_map(grids, index):
    """One EnergyGrid of a ScanResult: ``index`` or the lowest-energy map."""
    from ..errors import GridError

    if index is None:
        return grids.lowest()
    if not 0 <= index < len(grids):
        raise GridError(f"--map must be 0..{len(grids) - 1} (got {index})")
    return grids[index]


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze
    from ..export import GRAPH_FORMATS, export_format, write

    fmt = export_format(args.output, args.format)
    check_output(args.output, args.grid)
    grid = pick_map(load_grids(args.grid), args.map)
    needs_analysis = fmt in GRAPH_FORMATS or args.field == "level"
    obj = analyze(grid, connectivity=args.connectivity) if needs_analysis else grid
    from ..io.files import atomic_path

    with atomic_path(args.output) as tmp:  # every format: a complete file or none
        write(obj, tmp, fmt, field=args.field, threshold=args.threshold, graph=args.graph)
    print(f"wrote {args.output} ({fmt})")
    return 0
