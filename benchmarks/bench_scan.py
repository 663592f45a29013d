"""Benchmark ``ionnet.scan`` on LiFePO4 with M3GNet.

Compares the full scan (symmetry + exclusion + frontier check, batched) with

* the bare batched forward of the same nodes: the model's forward pass alone
  (graphs built beforehand, not timed; same batch size and threads), timed on
  up to ``--bare-sample`` of the nodes of each potential call right after that
  call (so both see the same machine load; that time is not counted in the
  scan's): the ratio of the scan's cost per evaluated node to it is everything
  that is not the model (graph building, batching, the scan's bookkeeping);
* the naive loop: one ``Atoms`` per node through matgl's ASE calculator
  (energy + forces + stress, same torch threads), timed on a random sample of
  nodes before and after the scan and on 2 nodes of each potential call in turn
  with the scan (not counted in the scan's time), extrapolated to the whole grid;
* a dense batched scan (``symmetry=False, min_distance=0, ceiling=None``):
  run in full with ``--dense-full``, otherwise timed on a random sample of
  nodes and extrapolated;

and reports how far the MPE and FV(0.9 eV) of the fast scan are from the dense
scan's, at ``--compare-spacing`` (the spacing itself with ``--dense-full``).

Targets: >= 50x vs naive, per evaluated node <= 1.5x the bare forward, >= 5x vs dense batched,
|dMPE| <= 0.02 eV, |dFV(0.9)| <= 0.01.

Run::

    python benchmarks/bench_scan.py --framework empty     # 0.2 Å, the issue's case
    python benchmarks/bench_scan.py --framework empty --refine   # coarse grid first
    python benchmarks/bench_scan.py --spacing 0.4 --compare-spacing 0.5
    python benchmarks/bench_scan.py --spacing 0.3 --dense-full --device cuda

The model is ``$IONNET_M3GNET_PATH`` if set, else
``../shared/models/M3GNet-MP-2021.2.8-PES`` if present, else ``m3gnet``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
import json
import os
import sys
import time
import warnings

import numpy as np

DEFAULT_MODEL_DIR = str(Path(__file__).resolve().parents[2] / "shared" / "models" / "M3GNet-MP-2021.2.8-PES")
DENSE = dict(symmetry=False, min_distance=0, ceiling=None)


def default_model() -> str:
    env = os.environ.get("IONNET_M3GNET_PATH")
    if env:
        return env
    return DEFAULT_MODEL_DIR if os.path.isdir(DEFAULT_MODEL_DIR) else "m3gnet"


def load_potential(model: str, device: str):
    try:
        from ionnet.potentials import get_potential
    except ImportError:  # potentials package without its registry yet
        from ionnet.potentials.m3gnet import MatglPotential

        return MatglPotential(None if model == "m3gnet" else model, device=device)
    return get_potential(model, device=device)


def as_list(g):
    return g if isinstance(g, list) else [g]


_NAIVE_CALC = {}


def naive_seconds_on(model: str, framework, ion: str, frac, device: str) -> float:
    """matgl's ASE calculator on the given nodes (energy + forces + stress), seconds per node."""
    import matgl
    from matgl.ext.ase import PESCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    path = model if os.path.isdir(model) else "M3GNet-MP-2021.2.8-PES"
    if path not in _NAIVE_CALC:
        _NAIVE_CALC[path] = PESCalculator(matgl.load_model(path).to(device) if device != "cpu" else matgl.load_model(path))
    calc = _NAIVE_CALC[path]
    t = time.perf_counter()
    for p in frac:
        s = framework.copy()
        s.append(ion, p)
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = calc
        atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()
    return (time.perf_counter() - t) / max(len(frac), 1)


def naive_seconds_per_point(model: str, grids, ion: str, n: int, rng, device: str) -> float:
    """matgl's ASE calculator, one structure per node, energy + forces + stress."""
    import matgl
    from matgl.ext.ase import PESCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    path = model if os.path.isdir(model) else "M3GNet-MP-2021.2.8-PES"
    if path not in _NAIVE_CALC:
        _NAIVE_CALC[path] = PESCalculator(matgl.load_model(path).to(device) if device != "cpu" else matgl.load_model(path))
    calc = _NAIVE_CALC[path]
    times = []
    for k in range(n + 1):  # first point warms up
        g = grids[k % len(grids)]
        node = int(rng.integers(g.energies.size))
        s = g.structure.copy()
        s.append(ion, g.frac_coords(node))
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = calc
        t = time.perf_counter()
        atoms.get_potential_energy()
        atoms.get_forces()
        atoms.get_stress()
        if k:
            times.append(time.perf_counter() - t)
    return float(np.mean(times))


def dense_seconds_per_point(pot, grids, ion: str, n: int, rng, batch_size) -> float:
    """The back end's batched energies on random nodes (no symmetry, no exclusion)."""
    total_t, total_n = 0.0, 0
    for g in grids:
        nodes = rng.choice(g.energies.size, size=min(n, g.energies.size), replace=False)
        frac = g.frac_coords(nodes)
        pot.energies(g.structure, ion, frac[:2], batch_size=batch_size)  # warm caches
        t = time.perf_counter()
        pot.energies(g.structure, ion, frac, batch_size=batch_size)
        total_t += time.perf_counter() - t
        total_n += len(nodes)
    return total_t / total_n


def bare_forward_seconds_per_point(pot, framework, ion: str, frac, batch_size) -> float:
    """The model's forward pass alone on ``frac`` (graphs built first, not timed)."""
    import torch

    from ionnet.potentials.m3gnet import _torch_threads

    fw = pot._prepare(framework, ion)
    bs = pot._pick_batch_size(fw, batch_size)
    inputs = [pot._graph_inputs(fw, frac[i:i + bs]) for i in range(0, len(frac), bs)]
    with _torch_threads(pot._thread_count()), torch.inference_mode():
        t = time.perf_counter()
        for x in inputs:
            pot._net.energy(*x)
        return (time.perf_counter() - t) / len(frac)


class Recorder:
    """Wraps a potential; after each of its calls, times the bare forward on (a sample of) the same nodes.

    The bare timings interleave with the scan, so both see the same machine load; their
    time is subtracted from the scan's wall time.
    """

    def __init__(self, pot, sample: int, naive=None):
        self.pot, self.name, self.sample = pot, pot.name, sample
        self.n_bare, self.t_bare, self.t_spent = 0, 0.0, 0.0
        self.naive, self.t_naive, self.n_naive = naive, 0.0, 0  # naive(framework, frac) -> seconds per node
        self.frac = []

    def energies(self, framework, ion, frac_coords, *, batch_size=None, progress=False):
        e = self.pot.energies(framework, ion, frac_coords, batch_size=batch_size, progress=progress)
        frac = np.asarray(frac_coords, dtype=float)
        self.frac.append(frac)
        if self.sample and hasattr(self.pot, "_graph_inputs"):
            t = time.perf_counter()
            pick = frac[:: max(1, len(frac) // self.sample)][: self.sample]
            self.t_bare += bare_forward_seconds_per_point(self.pot, framework, ion, pick, batch_size) * len(pick)
            self.n_bare += len(pick)
            self.t_spent += time.perf_counter() - t
        if self.naive is not None:
            t = time.perf_counter()
            k = min(2, len(frac))
            sp = self.naive(framework, frac[:k])
            if np.isfinite(sp):
                self.t_naive += sp * k
                self.n_naive += k
            self.t_spent += time.perf_counter() - t
        return e


#: Minima within this of the lowest count as sources in the comparison: symmetry-equivalent
#: sites are exact ties in the fast scan but differ by float32 and structure noise in the dense one.
SOURCE_TOL_EV = 0.01


def descriptors(grids):
    import ionnet

    r = ionnet.analyze(grids, source_tol=SOURCE_TOL_EV)
    return r.mpe, r.free_volume(0.9), r.percolation_energy


def symmetry_spread(fast, dense, window_ev: float = 3.5) -> float:
    """Largest spread (eV) of the dense scan's energies over nodes that are one symmetry orbit in the
    fast scan (nodes with exactly equal fast energies), within ``window_ev`` of the minimum.

    The dense scan does not symmetrise: the CIF's atoms are symmetric only to within the
    symmetry tolerance, and float32 sums depend on the batch.  Fast and dense thresholds
    cannot be told apart below this scale."""
    out = 0.0
    for f, d in zip(fast, dense):
        ef, ed = f.energies.ravel(), d.energies.ravel()
        ok = np.isfinite(ef) & np.isfinite(ed)
        ok &= ef <= ef[ok].min() + window_ev
        vals, inv = np.unique(ef[ok], return_inverse=True)
        hi = np.full(len(vals), -np.inf)
        lo = np.full(len(vals), np.inf)
        np.maximum.at(hi, inv, ed[ok])
        np.minimum.at(lo, inv, ed[ok])
        out = max(out, float(np.max(hi - lo)))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spacing", type=float, default=0.2, help="grid spacing in Å (default 0.2)")
    ap.add_argument("--model", default=None, help="m3gnet model folder (default: see module docstring)")
    ap.add_argument("--framework", choices=["vacancy", "empty"], default="vacancy")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    ap.add_argument("--naive-sample", type=int, default=20, help="nodes timed with the ASE calculator")
    ap.add_argument("--dense-sample", type=int, default=256, help="nodes timed for the dense estimate")
    ap.add_argument("--bare-sample", type=int, default=64,
                    help="nodes of each potential call timed again with the bare forward (0: off)")
    ap.add_argument("--dense-full", action="store_true", help="run the dense scan in full at --spacing")
    ap.add_argument("--naive-during", type=int, default=1,
                    help="also time 2 nodes of each potential call with the naive loop, in turn with the scan (0: off)")
    ap.add_argument("--compare-spacing", type=float, default=None,
                    help="spacing (Å) of the fast-vs-dense threshold comparison (default: --spacing with "
                         "--dense-full, else max(--spacing, 0.4))")
    ap.add_argument("--refine", action="store_true", help="fast scan with refine=True (coarse grid first)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")

    import ionnet
    from ionnet.io import example_structure

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    model = args.model or default_model()
    structure = example_structure("LiFePO4")
    t = time.perf_counter()
    pot = load_potential(model, args.device)
    t_load = time.perf_counter() - t
    kw = dict(framework=args.framework, batch_size=args.batch_size, progress=False)
    warm = structure.copy()
    warm.remove_species(["Li"])
    if args.threads and hasattr(pot, "threads"):
        pot.threads = args.threads
    pot.energies(warm, "Li", [[0.1, 0.2, 0.3]])  # warm-up (imports, first graph)

    # the yardsticks are sampled before and after the scan (machine load drifts; the mean is used)
    naive_ok = True

    def naive_sample():
        nonlocal naive_ok
        if not naive_ok:
            return float("nan")
        try:
            import torch

            if hasattr(pot, "_thread_count") and pot._thread_count():
                torch.set_num_threads(pot._thread_count())  # the same threads as the batched path
            return naive_seconds_per_point(model, [probe_grid], "Li", args.naive_sample // 2, rng, args.device)
        except Exception as e:  # e.g. not a matgl model
            naive_ok = False
            print(f"naive loop not run ({type(e).__name__}: {e})")
            return float("nan")

    shape_probe = as_list(ionnet.scan(structure, "Li", "bvse", spacing=args.spacing, framework=args.framework,
                                      progress=False, **DENSE))
    probe_grid = shape_probe[0]
    naive_before = naive_sample()
    dense_before = dense_seconds_per_point(pot, shape_probe, "Li", args.dense_sample // 2, rng, args.batch_size)

    # ---- the full scan
    naive_during = None
    if naive_ok and args.naive_during:
        naive_during = lambda fw_, frac_: naive_seconds_on(model, fw_, "Li", frac_, args.device)  # noqa: E731
    rec = Recorder(pot, args.bare_sample, naive_during)
    t = time.perf_counter()
    fast = as_list(ionnet.scan(structure, "Li", rec, spacing=args.spacing, refine=args.refine, **kw))
    t_fast = time.perf_counter() - t - rec.t_spent  # without the interleaved bare-forward timings
    n_total = sum(g.energies.size for g in fast)
    n_eval = sum(g.metadata["n_evaluated"] for g in fast)
    n_excl_eval = sum(g.metadata["n_excluded_evaluated"] for g in fast)
    t_potential = sum(g.metadata.get("timings", {}).get("potential_s", float("nan")) for g in fast) - rec.t_spent
    t_bare = rec.t_bare / max(rec.n_bare, 1) if rec.n_bare else float("nan")

    # ---- yardsticks after the scan
    naive_after = naive_sample()
    dense_after = dense_seconds_per_point(pot, fast, "Li", args.dense_sample - args.dense_sample // 2, rng, args.batch_size)

    # ---- dense batched
    if args.dense_full:
        t = time.perf_counter()
        dense = as_list(ionnet.scan(structure, "Li", pot, spacing=args.spacing, **kw, **DENSE))
        t_dense = time.perf_counter() - t
        dense_note = "measured (full dense scan)"
    else:
        t_dense = 0.5 * (dense_before + dense_after) * n_total
        dense = None
        dense_note = f"extrapolated from {args.dense_sample} random nodes, before and after"

    n_ba = 2 * (args.naive_sample // 2)
    sp_naive = (0.5 * (naive_before + naive_after) * n_ba + rec.t_naive) / (n_ba + rec.n_naive)
    t_naive = sp_naive * n_total
    naive_note = (f"extrapolated from {n_ba} random nodes before and after the scan and "
                  f"{rec.n_naive} of its nodes timed in turn with it")

    # ---- thresholds vs dense
    cmp_sp = args.compare_spacing or (args.spacing if args.dense_full else max(args.spacing, 0.4))
    if dense is not None and cmp_sp == args.spacing:
        fast_c, dense_c, t_cmp = fast, dense, None
    else:
        t = time.perf_counter()
        fast_c = fast if cmp_sp == args.spacing else as_list(ionnet.scan(structure, "Li", pot, spacing=cmp_sp,
                                                                          refine=args.refine, **kw))
        dense_c = as_list(ionnet.scan(structure, "Li", pot, spacing=cmp_sp, **kw, **DENSE))
        t_cmp = time.perf_counter() - t
    if fast_c[0].shape != dense_c[0].shape:  # symmetry rounding: compare on the same nodes
        dense_c = as_list(ionnet.scan(structure, "Li", pot, shape=fast_c[0].shape, **kw, **DENSE))
    mpe_f, fv_f, pe_f = descriptors(fast_c)
    mpe_d, fv_d, pe_d = descriptors(dense_c)
    spread = symmetry_spread(fast_c, dense_c) if fast_c[0].shape == dense_c[0].shape else float("nan")

    res = {
        "device": args.device, "model": getattr(pot, "name", model), "framework": args.framework, "refine": args.refine,
        "spacing_ang": args.spacing, "shape": list(fast[0].shape), "n_maps": len(fast),
        "nodes_total": n_total, "evaluated": n_eval, "excluded_but_evaluated": n_excl_eval,
        "t_load_s": t_load, "t_fast_s": t_fast, "t_dense_s": t_dense, "t_naive_s": t_naive,
        "t_potential_s": t_potential, "s_per_evaluated_node": t_fast / n_eval, "s_per_node_bare_forward": t_bare, "bare_nodes_timed": rec.n_bare,
        "per_node_vs_bare": t_fast / n_eval / t_bare, "batch_size": getattr(pot, "_fw", None) and pot._fw.tuned,
        "speedup_vs_naive": t_naive / t_fast, "speedup_vs_dense": t_dense / t_fast,
        "compare_spacing_ang": cmp_sp, "compare_shape": list(fast_c[0].shape),
        "mpe_fast_ev": mpe_f, "mpe_dense_ev": mpe_d, "fv09_fast": fv_f, "fv09_dense": fv_d,
        "pe_fast_ev": pe_f, "pe_dense_ev": pe_d, "dense_symmetry_spread_ev": spread, "dense_note": dense_note, "naive_note": naive_note,
    }
    w = 34
    print(f"ionnet.scan benchmark: LiFePO4 (bundled), {res['model']}, framework={args.framework}, "
          f"device={args.device}, refine={args.refine}, torch threads={args.threads or 'auto (idle cores)'}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("-" * 78)
    print(f"{'grid':<{w}}{'x'.join(map(str, fast[0].shape))} x {len(fast)} map(s) = {n_total:,} nodes "
          f"(spacing {args.spacing} Å)")
    print(f"{'nodes evaluated (fast)':<{w}}{n_eval:,} ({n_total / max(n_eval, 1):.1f}x fewer; "
          f"{n_excl_eval:,} by the frontier check)")
    print(f"{'full scan (symmetry+exclusion)':<{w}}{t_fast:10.1f} s   ({1e3 * t_fast / n_eval:.2f} ms per evaluated node)")
    print(f"{'bare batched forward':<{w}}{1e3 * t_bare:10.2f} ms/node   scan per evaluated node / bare = "
          f"{t_fast / n_eval / t_bare:.2f}x   (target <= 1.5; {rec.n_bare:,} of the same nodes, timed in turn)")
    print(f"{'dense batched':<{w}}{t_dense:10.1f} s   {t_dense / t_fast:6.1f}x   [{dense_note}]")
    print(f"{'naive ASE loop (E+F+S)':<{w}}{t_naive:10.1f} s   {t_naive / t_fast:6.1f}x   [{naive_note}]")
    print("-" * 78)
    where = "same grid" if cmp_sp == args.spacing else f"at {cmp_sp} Å, where the dense scan is affordable"
    print(f"thresholds, fast vs dense ({where}; shape {'x'.join(map(str, fast_c[0].shape))}; "
          f"source_tol {SOURCE_TOL_EV} eV)")
    print(f"{'MPE (eV)':<{w}}{mpe_f:10.4f} vs {mpe_d:10.4f}   |d| = {abs(mpe_f - mpe_d):.2e}  (target <= 0.02)")
    print(f"{'FV(0.9 eV)':<{w}}{fv_f:10.4f} vs {fv_d:10.4f}   |d| = {abs(fv_f - fv_d):.2e}  (target <= 0.01)")
    for d in (2, 3):
        print(f"{f'{d}D percolation energy (eV)':<{w}}{pe_f[d]:10.4f} vs {pe_d[d]:10.4f}   |d| = {abs(pe_f[d] - pe_d[d]):.2e}")
    print(f"{'dense: spread over one orbit':<{w}}{spread:10.2e} eV  (largest difference between dense-scan energies of "
          f"nodes the space group makes equivalent, within 3.5 eV of the minimum)")
    if t_cmp is not None:
        print(f"(comparison scans took {t_cmp:.1f} s)")
    print("-" * 78)
    ok = (t_naive / t_fast >= 50 or np.isnan(t_naive)) and t_dense / t_fast >= 5 and t_fast / n_eval / t_bare <= 1.5 \
        and abs(mpe_f - mpe_d) <= 0.02 and abs(fv_f - fv_d) <= 0.01
    print("targets met" if ok else "targets NOT all met")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
