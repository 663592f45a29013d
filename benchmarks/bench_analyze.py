"""Benchmark of ionnet.analyze against the unit of work of tiled-supercell tools.

For smooth random periodic fields of 64^3, 128^3 and 200^3 nodes it prints the
wall time of a complete analysis (level map, 1D/2D/3D thresholds, FV curve) and
its ratio against, measured in the same run:

(a) one ``scipy.ndimage.label`` pass on the 2x2x2-tiled grid at one threshold
    (tiled-supercell tools repeat this dozens of times in a bisection);
(b) the ``bvlain`` package's percolation search (``percolation_barriers``) on the
    same grid, when bvlain is installed (it is skipped for grids where one run
    would take longer than ``--bvlain-max`` nodes allow).

Peak resident memory of the analysis is reported too (one process per size).

Run:  python benchmarks/bench_analyze.py [--sizes 64 128 200] [--bvlain-max 128] [--repeat 5] [--connectivity 6]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np


def smooth_field(n: int, seed: int = 0) -> np.ndarray:
    """Random smooth periodic field in eV (Gaussian-filtered noise, ~1 eV spread)."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    e = gaussian_filter(rng.normal(size=(n, n, n)), sigma=n / 16, mode="wrap")
    return (e - e.mean()) / e.std() * 0.5


def _peak_mb() -> float:
    """Peak resident memory of this process in MB.

    VmHWM belongs to this process image only; ``ru_maxrss`` would carry over the
    parent's peak across fork + exec on Linux.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CONNECTIVITY = None  # None: ionnet's default (--connectivity)


def _analysis(e: np.ndarray, lattice: np.ndarray):
    import ionnet

    t0 = time.perf_counter()
    r = ionnet.analyze(e, lattice=lattice) if CONNECTIVITY is None else ionnet.analyze(
        e, lattice=lattice, connectivity=CONNECTIVITY)
    r.fv_curve()
    return time.perf_counter() - t0, r


def _child(n: int, repeat: int) -> None:
    """Time complete analyses in a fresh process, each paired with a tiled label pass.

    The first analysis gives the peak memory (before any label pass allocates the
    tiled grid); then analysis and label pass alternate ``repeat`` times and the
    ratio is taken pair by pair (the machine's load drifts; pairs see the same).
    """
    import ionnet

    e = smooth_field(n)
    lattice = np.eye(3) * n * 0.1
    ionnet.analyze(np.random.default_rng(1).normal(size=(8, 8, 8)), lattice=np.eye(3))  # JIT warm-up
    dt, r = _analysis(e, lattice)
    peak_mb = _peak_mb()
    times, labels = [dt], []
    for _ in range(repeat):
        labels.append(label_pass(e, repeat=1))
        times.append(_analysis(e, lattice)[0])
    ratios = [a / b for a, b in zip(times[1:], labels)]
    print(json.dumps({"time": float(np.median(times)), "label": float(np.median(labels)),
                      "passes": float(np.median(ratios)), "passes_all": ratios, "peak_mb": peak_mb,
                      "thr": [r.percolation_energy[d] for d in (1, 2, 3)],
                      "thr_any": [r.percolation_energy_any[d] for d in (1, 2, 3)]}))


def label_pass(e: np.ndarray, repeat: int = 3) -> float:
    from scipy.ndimage import generate_binary_structure, label

    tiled = np.tile(e, (2, 2, 2))
    t = np.median(e)
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        label(tiled < t, structure=generate_binary_structure(3, 1))
        best = min(best, time.perf_counter() - t0)
    return best


def bvlain_time(e: np.ndarray):
    try:
        from bvlain import Lain
    except ImportError:
        return None, None
    calc = Lain(verbose=False)
    calc.data = e.copy()
    calc.size = e.shape
    t0 = time.perf_counter()
    res = calc.percolation_barriers(encut=10.0)
    return time.perf_counter() - t0, res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 200])
    ap.add_argument("--bvlain-max", type=int, default=128, help="largest n for which bvlain is timed")
    ap.add_argument("--repeat", type=int, default=5, help="analysis / label-pass pairs per size")
    ap.add_argument("--connectivity", type=int, choices=[6, 18, 26], default=None,
                    help="grid connectivity of the analysis (default: ionnet's, 26)")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    a = ap.parse_args()
    global CONNECTIVITY
    CONNECTIVITY = a.connectivity
    if a.child:
        _child(a.child, a.repeat)
        return
    print(f"{'grid':>6} {'analyze s':>10} {'peak MB':>8} {'label s':>8} {'x label':>8} {'bvlain s':>9} {'speed-up':>9}  thresholds (1D/2D/3D, any region) vs bvlain")
    for n in a.sizes:
        extra = [] if a.connectivity is None else ["--connectivity", str(a.connectivity)]
        out = subprocess.run([sys.executable, __file__, "--child", str(n), "--repeat", str(a.repeat), *extra],
                             capture_output=True, text=True, check=True)
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        e = smooth_field(n)
        tl = rec["label"]
        tb, res = (None, None)
        if n <= a.bvlain_max:
            tb, res = bvlain_time(e)
        ratio_b = f"{tb / rec['time']:9.1f}" if tb else f"{'-':>9}"
        tb_s = f"{tb:9.2f}" if tb else f"{'-':>9}"
        thr = "/".join(f"{x:.3f}" for x in rec["thr_any"])
        bv = "" if res is None else " | bvlain " + "/".join(f"{res[k]:.3f}" for k in ("E_1D", "E_2D", "E_3D"))
        print(f"{n:>5}^3 {rec['time']:10.3f} {rec['peak_mb']:8.0f} {tl:8.3f} {rec['passes']:8.2f} {tb_s} {ratio_b}  {thr}{bv}")
    print("x label: analyze + FV curve time / one 2x2x2-tiled label pass, median of pairs timed in turn in one process")
    print("(a bisection needs ~10-30 passes per dimension)")
    print("speed-up: bvlain percolation_barriers time / analyze time (same grid, same run)")


if __name__ == "__main__":
    main()
