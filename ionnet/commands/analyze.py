"""``ionnet analyze``: thresholds, free volume and sites of a grid (or a structure, scanned first)."""
from __future__ import annotations

import argparse
import json

from ._common import (
    add_connectivity_argument,
    add_scan_arguments,
    add_thresholds_argument,
    check_output,
    is_grid_file,
    load_grids,
    save_scan,
    scan_from_args,
)

EPILOG = """examples:
  ionnet analyze lifepo4.npz
  ionnet analyze lifepo4.npz --connectivity 26 --thresholds 0.5,0.9 --json
  ionnet analyze ionnet/data/LiFePO4.cif --model bvse --spacing 0.3
"""


def register(sub) -> None:
    p = sub.add_parser(
        "analyze",
        help="MPE, 2D/3D thresholds, free volume and sites of an energy grid",
        description="Analyse an energy grid (.npz from 'ionnet scan') or scan a structure first and analyse it.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="GRID|STRUCTURE", help="grid .npz, or a CIF/POSCAR/JSON structure")
    add_connectivity_argument(p)
    add_thresholds_argument(p, "energies above the minimum at which to report free volume")
    p.add_argument("--source", choices=["auto", "sites", "min", "any"], default="auto",
                   help="sites: the mobile ion's recorded sites (their basin minima); min: the global minimum "
                        "(and nodes within float precision of it); any: percolation of any region; "
                        "auto (default): sites when the grid records them, else min")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    p.add_argument("-o", "--output", help="also save the scanned grid(s) to this .npz (structure input)")
    add_scan_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..analysis import analyze

    if is_grid_file(args.input):
        grids = load_grids(args.input)
    else:
        check_output(args.output, args.input, args.checkpoint, suffixes=(".npz",))  # before the scan
        grids = scan_from_args(args.input, args)
        if args.output:
            save_scan(grids, args.output)
    result = analyze(grids, connectivity=args.connectivity, source=None if args.source == "auto" else args.source)
    if args.json:
        print(json.dumps(result.to_dict(args.thresholds)))
    else:
        print(result.summary(args.thresholds))
    return 0
