"""``ionnet screen``: scan and analyse many structures into one SQLite table."""
from __future__ import annotations

import argparse
import json
import sys

from ._common import float_list, scan_kwargs


def register(sub) -> None:
    p = sub.add_parser(
        "screen",
        help="screen many structures (folder, glob or CSV) into a SQLite database",
        description=(
            "Run scan + analyze on every structure and store one row of descriptors per structure "
            "in SQLite (WAL mode, one transaction per result). Rerunning skips finished structures, "
            "so an interrupted or killed run loses nothing and stores nothing twice."
        ),
        epilog="Example: ionnet screen cifs/ --db results.sqlite --model bvse --workers 2",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="folder of CIF/POSCAR files, a glob (quote it), a CSV with a column of paths, or files")
    p.add_argument("--db", required=True, help="SQLite results file (created if missing)")
    p.add_argument("--model", default="m3gnet", help="m3gnet | chgnet | bvse | PATH to a model (default: m3gnet)")
    p.add_argument("--ion", default="Li", help="mobile ion element (default: Li)")
    p.add_argument("--spacing", type=float, default=0.2, help="grid spacing in Å (default: 0.2)")
    p.add_argument("--shape", type=int, nargs=3, metavar=("NA", "NB", "NC"), help="grid shape instead of --spacing")
    p.add_argument("--framework", choices=["vacancy", "empty"], default="vacancy",
                   help="vacancy: one map per distinct mobile ion, others frozen; empty: all mobile ions removed")
    p.add_argument("--order", action="store_true", help="build an ordered approximant of disordered structures")
    p.add_argument("--relax", action="store_true", help="relax each structure with the same potential first")
    p.add_argument("--no-symmetry", action="store_true", help="evaluate every node (no space-group reduction)")
    p.add_argument("--min-distance", type=float, default=None, help="skip nodes closer than this (Å) to an atom")
    p.add_argument("--refine", action="store_true",
                   help="coarse grid first, full resolution only near low energies (exact below the ceiling)")
    p.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=6, help="grid connectivity (default 6)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--thresholds", type=float_list, default=[0.5, 0.9, 1.5],
                   help="free-volume thresholds stored per row, eV (default: 0.5,0.9,1.5)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1: in this process)")
    p.add_argument("--threads-per-worker", type=int, default=1, help="torch threads per pool worker (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--save-grids", metavar="DIR", default=None, help="keep each structure's energy grids (.npz) here")
    p.add_argument("--retry-failed", action="store_true", help="recompute structures stored as failed")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on a structure after this long (stored as failed; not on dask workers)")
    p.add_argument("--path-column", default="path", help="CSV column of structure paths (default: path)")
    p.add_argument("--id-column", default=None, help="CSV column of structure names (default: file stem)")
    p.add_argument("--task", default=None, metavar="MODULE:FUNC",
                   help="advanced: replace the scan by f(path, settings) -> EnergyGrid | list "
                        "('pkg.mod:func' or 'file.py:func'); used for tests and custom pipelines")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress bar with ETA on stderr (default: on)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..screen import screen

    summary = screen(
        args.inputs,
        args.db,
        **scan_kwargs(args),
        connectivity=args.connectivity,
        thresholds=args.thresholds,
        workers=args.workers,
        threads_per_worker=args.threads_per_worker,
        dask_address=args.dask,
        save_grids=args.save_grids,
        retry_failed=args.retry_failed,
        timeout_s=args.timeout,
        path_column=args.path_column,
        id_column=args.id_column,
        task=args.task,
        progress=args.progress,
    )
    if args.json:
        print(json.dumps(summary.to_dict()))
    else:
        print(summary.summary())
    sys.stdout.flush()
    return 0
