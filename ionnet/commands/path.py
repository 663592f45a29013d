"""``ionnet path``: NEB-ready ion path (VASP folders 00..NN, ASE trajectory) from a grid."""
from __future__ import annotations

import argparse
import json
import os

from ._common import add_scan_arguments
from .transport import add_network_arguments, grids_from_args

EPILOG = """examples:
  ionnet path lifepo4.npz --images 7 -o neb/              # the percolation path through one period
  ionnet path lifepo4.npz --sites 0 2 --images 5 -o neb02/ --force
  ionnet path ionnet/data/LiFePO4.cif --model bvse --framework empty -o neb/
"""


def register(sub) -> None:
    p = sub.add_parser(
        "path",
        help="NEB-ready ion path: POSCAR folders 00..NN and an ASE trajectory",
        description="Write the lowest-barrier path of the mobile ion (site -> saddle -> site ...) as NEB images: "
                    "by default the path that makes the cell percolate, through one lattice period.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="GRID|STRUCTURE", help="grid .npz (with its framework), or a structure")
    p.add_argument("-o", "--output", required=True, metavar="FOLDER", help="NEB folder to create")
    p.add_argument("--images", type=int, default=7, help="intermediate images (VASP IMAGES; default: 7)")
    p.add_argument("--sites", type=int, nargs=2, metavar=("I", "J"), default=None,
                   help="path from site I to site J instead of the percolation path")
    p.add_argument("--force", action="store_true", help="write into an existing non-empty folder")
    p.add_argument("--json", action="store_true", help="print the path as JSON")
    p.add_argument("--output-grid", metavar="NPZ", help="also save the scanned grid(s) (structure input)")
    add_network_arguments(p)
    add_scan_arguments(p)
    p.set_defaults(func=run)


def _check_folder(folder: str, force: bool) -> None:
    from ..errors import ExportError

    if os.path.exists(folder):
        if not os.path.isdir(folder):
            raise ExportError(f"-o {folder!r} exists and is not a folder; give a new folder name")
        if os.listdir(folder) and not force:
            raise ExportError(f"-o {folder!r} exists and is not empty; pass --force to overwrite its files")


def run(args: argparse.Namespace) -> int:
    from ..diffusion import transport
    from ..errors import TransportError

    if args.images < 1:
        raise TransportError(f"--images must be >= 1 (got {args.images})")
    _check_folder(args.output, args.force)  # before any scan: nothing computed is lost to a refused folder
    grid = grids_from_args(args)
    result = transport(grid, [300.0], connectivity=args.connectivity, min_depth=args.min_depth)
    if args.sites:
        path = result.path(args.sites[0], args.sites[1], n_images=args.images)
    else:
        path = result.percolation_path(n_images=args.images)
    path.write_neb(args.output, force=args.force)
    if args.json:
        print(json.dumps(path.to_dict()))
    else:
        print(path.summary())
        print(f"wrote {args.output}: {path.n_images + 2} POSCAR folders, neb.traj, path.json")
    return 0
