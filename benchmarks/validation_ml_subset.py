"""CHGNet and M3GNet on a fixed, seed-defined stratified OBELiX subset (resumable).

Run (long; outside git)::

    IONNET_M3GNET_PATH=/work/shared/models/M3GNet-MP-2021.2.8-PES nice -n 15 \
        python benchmarks/validation_ml_subset.py --data /work/shared/data/obelix --out /work/valruns/ml

The subset: entries with a CIF and a conductivity, whose CIF has <= ``--max-atoms`` atoms
(sum of occupancies, a proxy for the ordered cell), stratified by (disorder group, superionic
class); ``numpy.random.default_rng(seed).permutation`` of the sorted ids in each stratum, taken
round-robin until ``--n`` ids.  The ids are written to ``<out>/subset.txt`` first.
Each (model, framework) setting is one ``ionnet.screen`` call into ``<out>/screen.sqlite``
(done rows are skipped on rerun) with every energy grid kept under ``<out>/grids/`` so the
analysis can be recomputed without model evaluations.  Wall times go to ``<out>/walltimes.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def stratified_subset(plan, n: int, seed: int, max_atoms: float) -> list[str]:
    """``n`` ids drawn round-robin over (group, superionic) strata, each stratum seed-permuted."""
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
    queues = [list(np.array(v)[rng.permutation(len(v))]) for _, v in sorted(strata.items())]
    out: list[str] = []
    while len(out) < n and any(queues):
        for q in queues:
            if q and len(out) < n:
                out.append(str(q.pop(0)))
    return out


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
    a = ap.parse_args(argv)
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
    wt_path = os.path.join(a.out, "walltimes.json")
    walls = json.load(open(wt_path)) if os.path.exists(wt_path) else {}
    for model in a.models.split(","):
        for fw in a.frameworks.split(","):
            for g in ("ordered", "ion", "framework"):
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
                                  threads_per_worker=1)
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
