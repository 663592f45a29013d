"""``ionnet rank``: a screening database as a ranked table."""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys

from ..screening.ranking import RANK_KEYS
from ._common import int_at_least

_CSV_COLUMNS = [
    "rank", "structure_id", "formula", "model", "ion", "value", "value_spread", "n_configurations", "mpe", "e2d",
    "e3d", "fv", "xi", "xi_cell", "ea", "log10_sigma_300", "fvc", "fvd", "e_min", "n_sites", "n_maps", "grid_shape",
    "settings_hash", "t_total_s", "path",
]


def register(sub) -> None:
    p = sub.add_parser(
        "rank",
        help="rank screened structures by a descriptor",
        description="Rank the 'ok' rows of an 'ionnet screen' database: mpe/e2d/e3d/ea ascending "
                    "(never percolating last), fv/xi/sigma descending (sigma: log10 of the transport "
                    "conductivity at 300 K). A structure ordered into several configurations shows "
                    "mean ± standard deviation over them.",
        epilog="Example: ionnet rank --db results.sqlite --by fv --fv-threshold 0.9 --top 20",
    )
    p.add_argument("--db", required=True, help="SQLite file written by 'ionnet screen'")
    p.add_argument("--by", choices=list(RANK_KEYS), default="mpe", help="descriptor to rank by (default: mpe)")
    p.add_argument("--fv-threshold", type=float, default=0.9, help="threshold of the fv column, eV (default 0.9)")
    p.add_argument("--top", type=int_at_least(0), default=20, help="rows to show (0: all; default 20)")
    p.add_argument("--csv", metavar="FILE", default=None, help="also write the shown rows to this CSV")
    p.add_argument("--model", default=None, help="only this model")
    p.add_argument("--ion", default=None, help="only this mobile ion")
    p.add_argument("--settings", default=None, metavar="HASH", help="only this settings hash (prefix)")
    p.add_argument("--failed", action="store_true", help="list the failed structures and their errors instead")
    p.add_argument("--json", action="store_true", help="rows as JSON on stdout")
    p.set_defaults(func=run)


def _fmt(v, nd=4) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def _value(r: dict) -> str:
    """The ranked value, ``mean±sd`` over ordered configurations when there are several."""
    v, sp = r.get("value"), r.get("value_spread")
    return _fmt(v) if sp is None or v is None else f"{v:.3f}±{sp:.3f}"


def run(args: argparse.Namespace) -> int:
    from ..io.files import check_output
    from ..screening import rank, read_results

    if args.csv:
        check_output(args.csv, inputs=[args.db], option="--csv")  # before reading the database
    if args.failed:
        rows = read_results(args.db, model=args.model, ion=args.ion, settings_hash=args.settings, status="failed")
        if args.json:
            print(json.dumps([{k: r[k] for k in ("structure_id", "path", "model", "error_type", "error")}
                              for r in rows]))
        else:
            for r in rows:
                print(f"{r['structure_id']}\t{r['model']}\t{r['error_type']}: {r['error']}")
            print(f"{len(rows)} failed", file=sys.stderr)
        return 0
    rows = rank(args.db, by=args.by, fv_threshold=args.fv_threshold, top=args.top or None,
                model=args.model, ion=args.ion, settings_hash=args.settings)
    if args.csv:
        from ..io.files import atomic_path

        with atomic_path(args.csv) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=_CSV_COLUMNS, extrasaction="ignore")
            w.writeheader()
            for r in rows:
                w.writerow({k: (json.dumps(r.get(k)) if isinstance(r.get(k), list) else r.get(k))
                            for k in _CSV_COLUMNS})
    if args.json:
        print(json.dumps([{k: r.get(k) for k in _CSV_COLUMNS} for r in rows]))
        return 0
    if not rows:
        print("no ok rows match (check --model / --ion, or run 'ionnet rank --failed')", file=sys.stderr)
        return 0
    if len({(r["model"], r["settings_hash"]) for r in rows}) > 1:
        print("note: rows from several models/settings are mixed; filter with --model or --settings",
              file=sys.stderr)
    fvh = f"FV({args.fv_threshold:g})"
    head = (f"{'rank':>4}  {'id':<16} {'formula':<18} {'model':<8} {args.by:>13}  {'MPE':>7} {'E3D':>7} {fvh:>9} "
            f"{'Xi':>7} {'Ea':>6} {'lgσ300':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        model = str(r["model"]).split("/")[-1][:8]
        print(f"{r['rank']:>4}  {str(r['structure_id'])[:16]:<16} {str(r.get('formula') or '-')[:18]:<18} "
              f"{model:<8} {_value(r):>13}  {_fmt(r.get('mpe'), 3):>7} {_fmt(r.get('e3d'), 3):>7} "
              f"{_fmt(r.get('fv')):>9} {_fmt(r.get('xi'), 3):>7} {_fmt(r.get('ea'), 3):>6} "
              f"{_fmt(r.get('log10_sigma_300'), 2):>7}")
    return 0
