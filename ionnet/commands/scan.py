"""``ionnet scan``: energy grid of a mobile ion in a frozen framework."""
from __future__ import annotations

import argparse
import os
import sys

from ._common import add_scan_arguments, check_output, save_scan, scan_from_args

EPILOG = """examples:
  ionnet scan ionnet/data/LiFePO4.cif --model bvse -o lifepo4_bvse.npz
  IONNET_M3GNET_PATH=../shared/models/M3GNet-MP-2021.2.8-PES ionnet scan LiFePO4.cif --model m3gnet -o lfp.npz
  ionnet scan Na3PS4.cif --ion Na --model chgnet --spacing 0.3 --framework empty -o nps.npz
"""


def register(sub) -> None:
    p = sub.add_parser(
        "scan",
        help="energy of a probe ion on a grid in a frozen framework",
        description="Scan a structure with a real potential and write the energy grid(s) to a .npz file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("structure", help="CIF, POSCAR/CONTCAR or pymatgen JSON file")
    p.add_argument("-o", "--output", required=True, help="output .npz (one map, or all maps of a vacancy scan)")
    add_scan_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    check_output(args.output, args.structure, args.checkpoint, suffixes=(".npz",))  # before the scan
    grids = scan_from_args(args.structure, args)
    save_scan(grids, args.output)
    n, shape = len(grids), grids[0].shape
    print(f"wrote {n} map{'s' if n > 1 else ''} of shape {'x'.join(map(str, shape))} to {os.fspath(args.output)}",
          file=sys.stderr)
    return 0
