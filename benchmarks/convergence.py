"""Grid convergence of the percolation thresholds for connectivity 6 and 26 (LiFePO4, empty framework).

Scans the bundled LiFePO4 (every Li removed: ``framework='empty'``) with BVSE
and M3GNet at 0.4, 0.3, 0.2 and 0.1 Å, analyses every grid with 6- and
26-connectivity, and prints the 1D/2D/3D thresholds and FV(0.9 eV).  For each
connectivity it then reports how far the 0.2 and 0.3 Å values lie from the
0.1 Å ones (mean absolute difference over the three thresholds and both models;
FV(0.9) separately) and which connectivity converges faster: that one is the
default (``ionnet.settings.DEFAULT_CONNECTIVITY``); a tie (within 0.005 eV)
goes to 26, the connectivity of the authors' code and of the bond-valence tools.

Grids are cached as ``.npz`` under ``--cache`` (default
``/work/valruns/convergence``, outside git), so a rerun only analyses.

Run::

    nice -n 10 python benchmarks/convergence.py                 # BVSE + M3GNet
    python benchmarks/convergence.py --models bvse              # seconds
    python benchmarks/convergence.py --json out.json

The M3GNet model is ``$IONNET_M3GNET_PATH`` if set, else
``../shared/models/M3GNet-MP-2021.2.8-PES`` if present, else ``m3gnet``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MODEL_DIR = str(ROOT.parent / "shared" / "models" / "M3GNet-MP-2021.2.8-PES")
SPACINGS = (0.4, 0.3, 0.2, 0.1)
CONNECTIVITIES = (6, 26)
TIE_EV = 0.005


def m3gnet_model() -> str:
    env = os.environ.get("IONNET_M3GNET_PATH")
    if env:
        return env
    return DEFAULT_MODEL_DIR if os.path.isdir(DEFAULT_MODEL_DIR) else "m3gnet"


def grid_for(model: str, spacing: float, cache: Path):
    """The empty-framework grid of LiFePO4 at ``spacing``, from the cache or scanned (and cached)."""
    import ionnet
    from ionnet.grid import load_grids, save_grids

    tag = "bvse" if model == "bvse" else "m3gnet"
    path = cache / f"LiFePO4-{tag}-empty-{spacing:g}.npz"
    if path.exists():
        return load_grids(path), 0.0
    t0 = time.perf_counter()
    grids = ionnet.scan(ROOT / "ionnet" / "data" / "LiFePO4.cif", model=model if model == "bvse" else m3gnet_model(),
                        spacing=spacing, framework="empty", symmetry=True, progress=False)
    dt = time.perf_counter() - t0
    cache.mkdir(parents=True, exist_ok=True)
    save_grids(grids, path)
    return grids, dt


def row(grids, connectivity: int) -> dict:
    import ionnet

    r = ionnet.analyze(grids, connectivity=connectivity)
    pe = r.percolation_energy
    fin = lambda v: float(v) if np.isfinite(v) else None  # noqa: E731
    return {"e1d": fin(pe[1]), "e2d": fin(pe[2]), "e3d": fin(pe[3]), "fv_0.9": float(r.free_volume(0.9)),
            "dir_1d": r.percolation_directions[1]}


def deviation(table: dict, models: list[str], connectivity: int) -> tuple[float, float]:
    """Mean |value(0.2 or 0.3 Å) - value(0.1 Å)| over models and thresholds (eV), and the same for FV(0.9)."""
    de, dfv = [], []
    for m in models:
        ref = table[m][0.1][connectivity]
        for h in (0.2, 0.3):
            v = table[m][h][connectivity]
            for k in ("e1d", "e2d", "e3d"):
                if v[k] is not None and ref[k] is not None:
                    de.append(abs(v[k] - ref[k]))
            dfv.append(abs(v["fv_0.9"] - ref["fv_0.9"]))
    return float(np.mean(de)) if de else float("inf"), float(np.mean(dfv))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["bvse", "m3gnet"], choices=["bvse", "m3gnet"])
    p.add_argument("--spacings", nargs="+", type=float, default=list(SPACINGS))
    p.add_argument("--cache", default="/work/valruns/convergence", help="folder of cached grids")
    p.add_argument("--json", help="also write the table as JSON here")
    args = p.parse_args(argv)
    cache = Path(args.cache)
    table: dict = {}
    print(f"{'model':<7} {'h/Å':>4} {'conn':>4} {'shape':>14} {'1D':>7} {'2D':>7} {'3D':>7} {'FV(0.9)':>8}  1D along")
    for m in args.models:
        table[m] = {}
        for h in args.spacings:
            grids, dt = grid_for(m, h, cache)
            if dt:
                print(f"# scanned {m} {h} Å in {dt:.0f} s", file=sys.stderr)
            table[m][h] = {}
            for c in CONNECTIVITIES:
                v = row(grids, c)
                table[m][h][c] = v
                f = lambda x: "never" if x is None else f"{x:.3f}"  # noqa: E731
                print(f"{m:<7} {h:>4.1f} {c:>4} {str(tuple(grids[0].shape)):>14} {f(v['e1d']):>7} {f(v['e2d']):>7} "
                      f"{f(v['e3d']):>7} {v['fv_0.9']:>8.4f}  {v['dir_1d']}", flush=True)
    if 0.1 in args.spacings and {0.2, 0.3} <= set(args.spacings):
        devs = {c: deviation(table, args.models, c) for c in CONNECTIVITIES}
        for c, (de, dfv) in devs.items():
            print(f"connectivity {c:>2}: mean |thresholds(0.2, 0.3 Å) - 0.1 Å| = {de:.4f} eV, |FV(0.9)| = {dfv:.4f}")
        best = 26 if devs[6][0] >= devs[26][0] - TIE_EV else 6
        print(f"choice: connectivity {best}" + (" (tie or better: 26)" if best == 26 else ""))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({m: {str(h): {str(c): v for c, v in t.items()} for h, t in mt.items()} for m, mt in table.items()},
                      fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
