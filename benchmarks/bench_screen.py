"""Screening throughput: structures per hour, serial vs a local pool.

A fixed set: the first ``--n`` ordered OBELiX CIFs by id (sorted).  For each
model, the set is screened twice into fresh databases, once serially
(``workers=1``, in process) and once on a local process pool
(``--workers``, one torch thread each), and the wall time of each
:func:`ionnet.screen` call is measured (model loading included).

Run::

    python benchmarks/bench_screen.py                      # bvse and m3gnet, 20 structures, 0.2 Å
    python benchmarks/bench_screen.py --models bvse --spacing 0.3 --n 10
    python benchmarks/bench_screen.py --model-n m3gnet=4 --model-spacing m3gnet=0.6 --json out.json

Prints one table row per (model, mode) with the speed-up of the pool over serial.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import csv
import json
import os
import platform
import sys
import tempfile
import time

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "obelix")


def ordered_ids(data: str, n: int) -> list[str]:
    with open(os.path.join(data, "obelix.csv"), newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("cif_ordered") == "True"]
    ids = sorted(r["id"] for r in rows if os.path.exists(os.path.join(data, "cifs", f"{r['id']}.cif")))
    return ids[:n]


def run_one(model: str, paths: list[str], spacing: float, workers: int, task: str | None, framework: str,
            timeout: float | None) -> dict:
    from ionnet.screening import screen

    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        s = screen(paths, os.path.join(d, "bench.sqlite"), model=model, spacing=spacing, workers=workers,
                   task=task, framework=framework, timeout_s=timeout, progress=False)
        wall = time.perf_counter() - t0
    return {"model": model, "framework": framework, "spacing": spacing, "workers": workers, "n": len(paths),
            "ok": s.n_ok,
            "failed": s.n_failed, "wall_s": wall, "per_hour": len(paths) / wall * 3600,
            "failures": s.failures}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=DEFAULT_DATA, help="OBELiX folder (obelix.csv + cifs/)")
    p.add_argument("--models", default="bvse,m3gnet", help="comma-separated models (default bvse,m3gnet)")
    p.add_argument("--n", type=int, default=20, help="structures (first N ordered ids; default 20)")
    p.add_argument("--spacing", type=float, default=0.2, help="grid spacing, Å (default 0.2)")
    p.add_argument("--model-spacing", action="append", default=[], metavar="MODEL=Å",
                   help="per-model spacing, e.g. m3gnet=0.5 (repeatable)")
    p.add_argument("--model-n", action="append", default=[], metavar="MODEL=N",
                   help="per-model number of structures, e.g. m3gnet=4 (repeatable)")
    p.add_argument("--workers", type=int, default=2, help="pool size (default 2)")
    p.add_argument("--framework", choices=["auto", "vacancy", "empty"], default="auto",
                   help="auto: empty for bvse (the BVSE convention), vacancy for ML models (default)")
    p.add_argument("--timeout", type=float, default=None, help="per-structure limit, s (timeouts count as failed)")
    p.add_argument("--task", default=None, help="advanced: replace the scan (module:function)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)

    per_sp = {k: float(v) for k, v in (x.split("=", 1) for x in args.model_spacing)}
    per_n = {k: int(v) for k, v in (x.split("=", 1) for x in args.model_n)}
    ids = ordered_ids(args.data, args.n)
    print(f"# {len(ids)} ordered OBELiX structures: {' '.join(ids)}", file=sys.stderr)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"python {platform.python_version()}", file=sys.stderr)
    results = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        sp = per_sp.get(model, args.spacing)
        mids = ids[: per_n.get(model, len(ids))]
        paths = [os.path.join(args.data, "cifs", f"{i}.cif") for i in mids]
        fw = args.framework if args.framework != "auto" else ("empty" if model == "bvse" else "vacancy")
        for workers in (1, args.workers):
            r = run_one(model, paths, sp, workers, args.task, fw, args.timeout)
            results.append(r)
            print(f"# {model} workers={workers}: {r['wall_s']:.1f} s ({r['ok']} ok, {r['failed']} failed)",
                  file=sys.stderr)
    print(f"{'model':<8} {'framework':>9} {'spacing':>7} {'n':>3} {'workers':>7} {'ok':>3} {'fail':>4} {'wall s':>8} "
          f"{'struct/h':>9} {'speed-up':>8}")
    serial = {}
    for r in results:
        key = (r["model"], r["spacing"], r["n"])
        if r["workers"] == 1:
            serial[key] = r["wall_s"]
        su = serial.get(key, float("nan")) / r["wall_s"]
        r["speedup"] = su
        print(f"{r['model']:<8} {r['framework']:>9} {r['spacing']:>7.2f} {r['n']:>3} {r['workers']:>7} {r['ok']:>3} "
              f"{r['failed']:>4} "
              f"{r['wall_s']:>8.1f} {r['per_hour']:>9.0f} {su:>8.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ids": ids, "results": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
