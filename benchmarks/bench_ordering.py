"""Ordering coverage on OBELiX: how many disordered CIFs become ordered supercells, how fast, how exact.

The CIFs of ``../shared/data/obelix`` are sorted into disorder groups with
:func:`ionnet.validate.classify_disorder` (``ordered`` / ``ion``: only Li sites
partial / ``framework``).  Each CIF of the chosen groups is ordered with
:func:`ionnet.scanning.ordering.order_structure`, one at a time in this process, and the
table reports successes, wall time per structure, atoms after ordering, the
rounding errors and every failure with its reason.  (The previous
``order=True``, integral occupancies only, ordered 7 of the 152
framework-disordered CIFs; it was measured with ``--baseline`` up to commit
55312ff and removed with it.)

Run::

    python benchmarks/bench_ordering.py                                  # framework group, empty mode
    python benchmarks/bench_ordering.py --groups ion --framework occupied
    python benchmarks/bench_ordering.py --framework occupied --sample 30 --json out.json
    python benchmarks/bench_ordering.py --scan 0.3      # and ionnet.scan(CIF, "Li", "bvse", order=True) of each

The machine is usually shared: times are wall times of one process.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

DEFAULT_DATA = str(Path(__file__).resolve().parents[2] / "shared" / "data" / "obelix")


def pick(data: str, groups: list[str], sample: int | None, seed: int) -> list[tuple[str, str, str]]:
    """[(id, group, cif path)] for the chosen disorder groups, sorted by id (a seeded sample if asked)."""
    import numpy as np

    from ionnet.validation import classify_disorder, load_obelix

    out = []
    for e in sorted(load_obelix(data), key=lambda e: e.id):
        if e.cif is None:
            continue
        g = "ordered" if e.cif_ordered else classify_disorder(e.cif, "Li")
        if g in groups:
            out.append((e.id, g, e.cif))
    if sample is not None and sample < len(out):
        idx = sorted(np.random.default_rng(seed).choice(len(out), sample, replace=False).tolist())
        out = [out[i] for i in idx]
    return out


def q(values: list[float], frac: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, int(round(frac * (len(v) - 1))))] if v else float("nan")


def scan_check(path: str, r, spacing: float, framework: str, max_sites: int) -> dict:
    """``ionnet.scan(path, order=True)`` with BVSE, as ``ionnet scan CIF --order`` runs it.

    The scan orders the CIF itself (same seed, so the same first
    configuration as ``r``: checked) and passes the ordering's oxidation
    states to BVSE; ``framework='occupied'`` scans in the vacancy mode.
    """
    import ionnet

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = ionnet.scan(path, "Li", "bvse", spacing=spacing, framework="empty" if framework == "empty" else "vacancy",
                        order=True, max_sites=max_sites, progress=False)
    fw = g[0].structure
    if framework == "empty" and fw.composition.reduced_formula != r.structure.composition.reduced_formula:
        raise AssertionError(f"scan ordered {fw.composition.formula}, order_structure {r.structure.composition.formula}")
    res = ionnet.analyze(g)
    return {"scan_s": time.perf_counter() - t0, "mpe_ev": float(res.mpe), "n_maps": len(g)}


def run(items, *, framework: str, max_sites: int, time_limit: float, n_conf: int, method: str,
        scan_spacing: float | None = None) -> list[dict]:
    from ionnet.errors import IonnetError
    from ionnet.scanning.ordering import order_structure

    rows = []
    for cid, group, path in items:
        t0 = time.perf_counter()
        row = {"id": cid, "group": group}
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = order_structure(path, "Li", framework=framework, max_sites=max_sites,
                                    n_configurations=n_conf, time_limit_s=time_limit, method=method)
            dmin = min(_min_distance(st) for st in r.structures)
            row.update(ok=True, min_distance_ang=dmin, n_atoms=r.n_atoms, scaling=r.scaling, base=r.base_cell, method=r.method,
                       n_conf=len(r.structures), max_site_error=r.max_site_error,
                       composition_error=r.composition_error, charge=r.charge, formula=r.structure.composition.formula,
                       notes=list(r.notes))
            if scan_spacing:
                try:
                    row.update(scan_check(path, r, scan_spacing, framework, max_sites), scan_ok=True)
                except Exception as e:  # noqa: BLE001 - reported per CIF
                    row.update(scan_ok=False, scan_error=f"{type(e).__name__}: {e}")
        except IonnetError as e:
            row.update(ok=False, reason=f"{type(e).__name__}: {e}")
        except Exception as e:  # noqa: BLE001 - a bug: reported, not raised, so the table is complete
            row.update(ok=False, reason=f"BUG {type(e).__name__}: {e}")
        row["time_s"] = time.perf_counter() - t0 - row.get("scan_s", 0.0)
        rows.append(row)
        status = (f"ok {row['n_atoms']:4d} atoms x{row['scaling']:<3d} {row['method']:<15s} "
                  f"site err {row['max_site_error']:.3f} comp err {row['composition_error']:.3%}"
                  if row["ok"] else f"FAILED {row['reason']}")
        if "scan_ok" in row:
            status += (f" | scan {row['scan_s']:.1f}s MPE {row['mpe_ev']:.2f} eV" if row["scan_ok"]
                       else f" | SCAN FAILED {row['scan_error']}")
        print(f"{cid} {group:9s} {row['time_s']:6.2f}s {status}", file=sys.stderr, flush=True)
    return rows


def _min_distance(s) -> float:
    """Shortest interatomic distance (Å) of an ordered structure."""
    import numpy as np

    if len(s) < 2:
        return float("inf")
    d = np.array(s.distance_matrix)
    np.fill_diagonal(d, np.inf)
    return float(d.min())


def table(rows: list[dict], title: str, framework: str = "empty") -> str:
    ok = [r for r in rows if r["ok"]]
    t = [r["time_s"] for r in rows]
    lines = [f"### {title}", "", "| quantity | value |", "|---|---|",
             f"| CIFs | {len(rows)} |", f"| ordered | {len(ok)} ({len(ok) / max(len(rows), 1):.0%}) |",
             f"| failed | {len(rows) - len(ok)} |",
             f"| time per CIF, median / 90 % / max (s) | {q(t, .5):.2f} / {q(t, .9):.2f} / {max(t, default=0):.2f} |"]
    if ok:
        a = [r["n_atoms"] for r in ok]
        se = [r["max_site_error"] for r in ok]
        ce = [r["composition_error"] for r in ok]
        lines += [
            f"| atoms after ordering, median / 90 % / max | {q(a, .5):.0f} / {q(a, .9):.0f} / {max(a)} |",
            f"| max site error, median / 90 % / max | {q(se, .5):.3f} / {q(se, .9):.3f} / {max(se):.3f} |",
            f"| composition error, median / 90 % / max | {q(ce, .5):.2%} / {q(ce, .9):.2%} / {max(ce):.2%} |",
            f"| exact (composition error < 0.1 %) | {sum(c < 1e-3 for c in ce)} |",
        ]
        dm = [r["min_distance_ang"] for r in ok if "min_distance_ang" in r]
        if dm:
            lines.append(f"| shortest interatomic distance, min / 10 % / median (Å) | "
                         f"{min(dm):.2f} / {q(dm, .1):.2f} / {q(dm, .5):.2f} |")
        methods: dict[str, int] = {}
        for r in ok:
            methods[r["method"]] = methods.get(r["method"], 0) + 1
        lines.append("| methods | " + ", ".join(f"{k} {v}" for k, v in sorted(methods.items())) + " |")
        charges = [abs(r["charge"]) for r in ok if r.get("charge") is not None]
        if charges and framework == "occupied":
            lines.append(f"| net charge \\|e\\| per cell, median / max | {q(charges, .5):.2f} / {max(charges):.2f} |")
    scanned = [r for r in ok if "scan_ok" in r]
    if scanned:
        good = [r for r in scanned if r["scan_ok"]]
        st = [r["scan_s"] for r in good]
        lines.append(f"| BVSE scan of the ordered framework (empty) | {len(good)} of {len(scanned)}, "
                     f"median {q(st, .5):.1f} s, max {max(st, default=0):.1f} s |")
    fails = [r for r in rows if not r["ok"]]
    if fails:
        lines += ["", "Failures:", ""] + [f"- `{r['id']}` ({r['group']}): {r['reason']}" for r in fails]
    bad_scans = [r for r in scanned if not r["scan_ok"]]
    if bad_scans:
        lines += ["", "Scan failures:", ""] + [f"- `{r['id']}`: {r['scan_error']}" for r in bad_scans]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=DEFAULT_DATA, help="OBELiX folder (obelix.csv, cifs/)")
    ap.add_argument("--groups", default="framework", help="comma list of ordered, ion, framework")
    ap.add_argument("--framework", default="empty", choices=["empty", "occupied"])
    ap.add_argument("--method", default="auto", choices=["auto", "ewald", "random"])
    ap.add_argument("--max-sites", type=int, default=200)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--n-configurations", type=int, default=1)
    ap.add_argument("--sample", type=int, default=None, help="a seeded random sample of this many CIFs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ids", default=None, help="comma list of OBELiX ids (overrides --groups)")
    ap.add_argument("--scan", type=float, default=None, metavar="SPACING",
                    help="also run ionnet.scan(CIF, order=True) with BVSE at this spacing (Å)")
    ap.add_argument("--json", default=None, help="write all rows to this file")
    a = ap.parse_args(argv)
    if not os.path.isdir(a.data):
        print(f"OBELiX folder {a.data} not found (pass --data)", file=sys.stderr)
        return 2
    groups = a.groups.split(",")
    items = pick(a.data, ["ordered", "ion", "framework"] if a.ids else groups, a.sample, a.seed)
    if a.ids:
        want = set(a.ids.split(","))
        items = [it for it in items if it[0] in want]
    t0 = time.perf_counter()
    rows = run(items, framework=a.framework, max_sites=a.max_sites, time_limit=a.time_limit,
               n_conf=a.n_configurations, method=a.method, scan_spacing=a.scan)
    wall = time.perf_counter() - t0
    title = (f"{', '.join(groups)} CIFs, framework='{a.framework}', max_sites={a.max_sites}, "
             f"n_configurations={a.n_configurations}, method={a.method}")
    print(table(rows, title, a.framework))
    print(f"\nwall {wall:.0f} s; {platform.node()}, {os.cpu_count()} cores (shared), python {platform.python_version()}")
    out = {"args": vars(a), "rows": rows, "wall_s": wall}
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
