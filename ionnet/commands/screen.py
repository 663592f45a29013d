"""``ionnet screen``: scan and analyse many structures into one SQLite table."""
from __future__ import annotations

import argparse
import json
import sys

from ._common import (
    add_connectivity_argument,
    add_settings_arguments,
    add_thresholds_argument,
    positive_float,
    positive_int,
    settings_from_args,
)


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
    add_connectivity_argument(p)
    add_thresholds_argument(p, "free-volume thresholds stored per row")
    p.add_argument("--workers", type=positive_int, default=1, help="local worker processes (default 1: in this process)")
    p.add_argument("--threads-per-worker", type=positive_int, default=1, help="torch threads per pool worker (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", default=None, help="dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--save-grids", metavar="DIR", default=None, help="keep each structure's energy grids (.npz) here")
    p.add_argument("--retry-failed", action="store_true", help="recompute structures stored as failed")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="give up on a structure after this long (stored as failed; not on dask workers)")
    p.add_argument("--path-column", default="path", help="CSV column of structure paths (default: path)")
    p.add_argument("--id-column", default=None, help="CSV column of structure names (default: file stem)")
    p.add_argument("--task", default=None, metavar="MODULE:FUNC",
                   help="advanced: replace the scan by f(path, settings) -> EnergyGrid | list "
                        "('pkg.mod:func' or 'file.py:func'); used for tests and custom pipelines")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="progress on stderr: a bar on a terminal, a line every 10 s in a log or pipe (default: on)")
    p.add_argument("--json", action="store_true", help="print the run summary as JSON on stdout")
    add_settings_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..screening import screen

    summary = screen(
        args.inputs,
        args.db,
        settings=settings_from_args(args),
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
        if not summary.n_ok + summary.n_failed:
            print("(--retry-failed recomputes the failed rows)")
        if len(summary.failures) > 20:
            print(f"(ionnet rank --db {args.db} --failed lists every failure)")
    sys.stdout.flush()
    return 0
