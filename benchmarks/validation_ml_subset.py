"""CHGNet and M3GNet on a fixed, seed-defined stratified OBELiX subset (resumable).

Run (long; outside git)::

    IONNET_M3GNET_PATH=/work/shared/models/M3GNet-MP-2021.2.8-PES nice -n 15 \
        python benchmarks/validation_ml_subset.py --data /work/shared/data/obelix --out /work/valruns/ml

The subset: entries with a CIF and a conductivity whose scanned cell has <= ``--max-atoms``
atoms (the CIF's sum of occupancies; a framework-disordered CIF's ordered supercell), stratified by (disorder group, superionic
class); ``numpy.random.default_rng(seed).permutation`` of the sorted ids in each stratum, taken
round-robin until ``--n`` ids.  The ids are written to ``<out>/subset.txt`` first.
Each (model, framework) setting is one ``ionnet.screen`` call into ``<out>/screen.sqlite``
(done rows are skipped on rerun) with every energy grid kept under ``<out>/grids/`` so the
analysis can be recomputed without model evaluations.  Wall times go to ``<out>/walltimes.json``.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import time

import numpy as np

DESCRIPTOR_ROWS = ("mpe", "e3d", "fv_0.9", "xi", "ea", "log10_sigma_300")


def ordered_atoms(cif: str, group: str) -> float:
    """Atoms of the cell the ML models scan: the CIF's (sum of occupancies), or for a framework-disordered
    CIF its ordered supercell (``order=True``: framework atoms plus the Li count); inf if it cannot be ordered."""
    from pymatgen.core import Structure

    from ionnet.scanning.structure import order_configurations

    s = Structure.from_file(cif)
    if group != "framework":
        return float(s.composition.num_atoms)
    try:
        configs, info = order_configurations(s, "Li", "empty")
    except Exception:  # noqa: BLE001 - not orderable: never drawn
        return float("inf")
    return float(len(configs[0]) + info["n_mobile"])


def stratified_subset(plan, n: int, seed: int, max_atoms: float) -> list[str]:
    """``n`` ids drawn round-robin over (group, superionic) strata, each stratum seed-permuted.

    The strata hold the CIFs with at most ``max_atoms`` atoms (sum of occupancies); each is
    permuted with one ``default_rng(seed)`` in turn, and a drawn framework-disordered CIF whose
    ordered supercell has more than ``max_atoms`` atoms is passed over (the permutations, and so
    the draws of the other strata, do not depend on that check).
    """
    from pymatgen.core import Structure

    strata: dict[tuple[str, bool], list[str]] = {}
    for g, ids in sorted(plan.groups.items()):
        for i in sorted(ids):
            try:
                s = Structure.from_file(plan.entries[i].cif)
            except Exception:  # noqa: BLE001 - unreadable CIFs are simply not drawn
                continue
            if s.composition.num_atoms <= max_atoms:
                strata.setdefault((g, plan.entries[i].superionic), []).append(i)
    rng = np.random.default_rng(seed)
    queues = [(g, list(np.array(v)[rng.permutation(len(v))])) for (g, _), v in sorted(strata.items())]
    out: list[str] = []
    while len(out) < n and any(q for _, q in queues):
        for g, q in queues:
            while q and len(out) < n:
                i = str(q.pop(0))
                if g != "framework" or ordered_atoms(plan.entries[i].cif, g) <= max_atoms:
                    out.append(i)
                    break
    return out


def _records(db: str, model: str, fw: str, ids: list[str], plan, spacing: float) -> list[dict]:
    """One validation record per subset id: the row of ``model`` with the setting of its group
    (ordered: ``fw``; Li-only disorder: empty; framework disorder: ``fw`` with order=True)."""
    from ionnet.screening import read_results
    from ionnet.settings import framework_name

    group_of = plan.group_of()
    rows = read_results(db, model=model, status=None)
    out = []
    for i in ids:
        g = group_of[i]
        want_fw = "empty" if g == "ion" else fw
        want_order = g == "framework"
        match = [r for r in rows if r["structure_id"] == i and framework_name(r["settings"]["framework"]) == want_fw
                 and bool(r["settings"]["order"]) == want_order and abs(r["settings"]["spacing"] - spacing) < 1e-9]
        row = next((r for r in match if r["status"] == "ok"), match[0] if match else None)
        e = plan.entries[i]
        out.append({"id": i, "group": g, "log10_sigma": e.log10_sigma, "censored": e.censored,
                    "superionic": e.superionic, "row": row or {}, "status": row["status"] if row else "missing",
                    "error": (row or {}).get("error")})
    return out


def _fmt(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.2f}"


def report(a) -> int:
    """Markdown tables of every (model, framework) setting on the subset, BVSE beside them."""
    from ionnet.validation.activation import activation_metrics, find_laskowski, join_activation, load_laskowski_ea, sigma_metrics
    from ionnet.validation.datasets import load_obelix, plan_obelix
    from ionnet.validation.metrics import DESCRIPTORS, control_metrics, descriptor_metrics

    plan = plan_obelix(load_obelix(a.data))
    ids = open(os.path.join(a.out, "subset.txt")).read().split()
    measured = join_activation(os.path.join(a.data, "obelix.csv"), load_laskowski_ea(find_laskowski(a.data)))
    walls: dict = {}
    for f in sorted(glob.glob(os.path.join(a.out, "walltimes*.json"))):
        # runs that resumed a setting add their time (a run that only skipped done rows adds ~0 s)
        for k, v in json.load(open(f)).items():
            walls.setdefault(k, {"wall_s": 0.0})["wall_s"] += v["wall_s"]
    settings = [(m, fw, os.path.join(a.out, "screen.sqlite"), a.spacing) for m in a.models.split(",")
                for fw in a.frameworks.split(",")]
    if a.bvse_db:
        settings.append(("bvse", "empty", a.bvse_db, a.bvse_spacing))
    groups = {g: sum(1 for i in ids if plan.group_of()[i] == g) for g in ("ordered", "ion", "framework")}
    n_sup = sum(plan.entries[i].superionic for i in ids)
    print(f"Subset: {len(ids)} structures ({n_sup} superionic); groups {groups}\n")
    summary = ["| model | framework | scored | wall time (min) | MPE AUC | FV(0.9) AUC | Xi AUC | ea AUC "
               "| is disordered AUC | MPE vs Ea (n, ρ, MAE eV) | ea vs Ea (n, ρ, MAE eV) | log10 σ300 vs σ (n, ρ, MAE dec) |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for model, fw, db, spacing in settings:
        recs = [r for r in _records(db, model, fw, ids, plan, spacing) if r["status"] == "ok"]
        wall = sum(v["wall_s"] for k, v in walls.items() if k.startswith(f"{model}/{fw}/"))
        ms = {d: descriptor_metrics(recs, d, DESCRIPTORS[d], seed=0, n_boot=1000) for d in DESCRIPTOR_ROWS}
        ms.update(control_metrics(recs, seed=0, n_boot=1000))
        print(f"### {model}, {fw} framework ({len(recs)}/{len(ids)} scored, "
              f"{sum(r['superionic'] for r in recs)} superionic)\n")
        print("| descriptor | n | Spearman ρ [95 %] | ROC AUC [95 %] |\n|---|---|---|---|")
        for d, m in ms.items():
            print(f"| {d} | {m['n']} | {_fmt(m['spearman'])} [{_fmt(m['spearman_ci'][0])}, {_fmt(m['spearman_ci'][1])}] "
                  f"| {_fmt(m['auc'])} [{_fmt(m['auc_ci'][0])}, {_fmt(m['auc_ci'][1])}] |")
        act = activation_metrics(recs, measured)
        sig = sigma_metrics(recs)
        print()
        summary.append(
            f"| {model} | {fw} | {len(recs)}/{len(ids)} | {f'{wall / 60:.1f}' if wall else '–'} | "
            + " | ".join(_fmt(ms[d]["auc"]) for d in ("mpe", "fv_0.9", "xi", "ea", "control: is disordered"))
            + "".join(f" | {act[k]['n']}, {_fmt(act[k]['spearman'])}, {_fmt(act[k]['mae_ev'])}" for k in ("mpe", "ea"))
            + f" | {sig['n']}, {_fmt(sig['spearman'])}, {_fmt(sig['mae_decades'])} |")
    print("### Summary\n")
    print("\n".join(summary))
    print()
    for model, fw, db, spacing in settings:
        bad = [r for r in _records(db, model, fw, ids, plan, spacing) if r["status"] != "ok"]
        for r in bad:
            print(f"- {model}/{fw}: {r['id']} {r['status']}: {' '.join(str(r['error']).split())[:120]}")
    return 0


def main(argv=None) -> int:
    from ionnet.screening import screen
    from ionnet.screening.inputs import StructureInput
    from ionnet.validation.datasets import load_obelix, plan_obelix
    from ionnet.validation.runs import GROUP_SETTINGS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default="chgnet,m3gnet")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-atoms", type=float, default=120.0)
    ap.add_argument("--spacing", type=float, default=0.5)
    ap.add_argument("--frameworks", default="empty,occupied", help="'occupied' is spelled 'vacancy' on older code")
    ap.add_argument("--timeout", type=float, default=900.0)
    ap.add_argument("--workers", type=int, default=2, help="worker processes (one torch thread each)")
    ap.add_argument("--groups", default="ordered,ion,framework",
                    help="disorder groups to run (the occupied setting of a framework-disordered CIF's P1 supercell "
                         "has one map per Li: run it with --groups ordered)")
    ap.add_argument("--retry-failed", action="store_true", help="recompute the rows stored as failed")
    ap.add_argument("--walltimes", default="walltimes.json",
                    help="file (in --out) of this run's wall times; --report merges every walltimes*.json there")
    ap.add_argument("--report", action="store_true", help="print the metrics tables of what is stored; run nothing")
    ap.add_argument("--bvse-db", default=None, help="BVSE validation database: its rows on the subset are reported beside")
    ap.add_argument("--bvse-spacing", type=float, default=0.3)
    a = ap.parse_args(argv)
    if a.report:
        return report(a)
    os.makedirs(a.out, exist_ok=True)
    plan = plan_obelix(load_obelix(a.data))
    sub_path = os.path.join(a.out, "subset.txt")
    if os.path.exists(sub_path):
        ids = open(sub_path).read().split()
    else:
        ids = stratified_subset(plan, a.n, a.seed, a.max_atoms)
        with open(sub_path, "w") as f:
            f.write("\n".join(ids) + "\n")
    group_of = plan.group_of()
    wt_path = os.path.join(a.out, a.walltimes)
    walls = json.load(open(wt_path)) if os.path.exists(wt_path) else {}
    for model in a.models.split(","):
        for fw in a.frameworks.split(","):
            for g in a.groups.split(","):
                items = [StructureInput.from_path(i, plan.entries[i].cif) for i in ids if group_of[i] == g]
                if not items:
                    continue
                order = GROUP_SETTINGS[g]["order"]
                framework = "empty" if g == "ion" else fw
                t0 = time.perf_counter()
                try:
                    summ = screen(items, os.path.join(a.out, "screen.sqlite"), model=model, spacing=a.spacing,
                                  framework=framework, order=order, timeout_s=a.timeout,
                                  save_grids=os.path.join(a.out, "grids", model, fw), workers=a.workers,
                                  threads_per_worker=1, retry_failed=a.retry_failed)
                except Exception as e:  # noqa: BLE001 - 'occupied' on code that only knows 'vacancy'
                    if framework == "occupied":
                        summ = screen(items, os.path.join(a.out, "screen.sqlite"), model=model, spacing=a.spacing,
                                      framework="vacancy", order=order, timeout_s=a.timeout,
                                      save_grids=os.path.join(a.out, "grids", model, fw), workers=a.workers,
                                      threads_per_worker=1)
                    else:
                        raise e
                key = f"{model}/{fw}/{g}"
                walls[key] = {"n": len(items), "wall_s": time.perf_counter() - t0, "summary": str(summ)}
                with open(wt_path, "w") as f:
                    json.dump(walls, f, indent=1)
                print(key, walls[key], flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
