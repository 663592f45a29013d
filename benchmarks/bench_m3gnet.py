"""Per-position timing of the M3GNet back end: naive ASE loop vs batched energy-only path.

Run::

    python benchmarks/bench_m3gnet.py CIF [--ion Li] [--points 64] [--naive-points 16]
        [--path MODEL_FOLDER] [--device cpu] [--batch-size N] [--repeat 3] [--threads N]
    python benchmarks/bench_m3gnet.py CIF --profile [--batch-sizes 4 16 64] [--thread-counts 1 2] [--chgnet | --chgnet-only]

``--profile`` prints where the time of the batched path goes instead: graph
building (framework-cached bonds, triples, tensors) against the forward, and the
forward by stage (bases, embedding, three-body, bond and atom updates of each
block, readout; torch.profiler ``record_function`` labels), for each batch size
and thread count, every setting timed in turn on the same positions.  With
``--chgnet`` it also times CHGNet, in turn on the same positions: the graphs
built from the cached framework graph against CHGNet's converter, the forward,
and ``energies()`` against the previous code (the converter) and against CHGNet's
own batched ``predict_structure``.  ``--empty`` removes every ``--ion`` site (the empty framework).

The framework is the structure with its first ``--ion`` site removed.  The naive
loop is what a straightforward scan does: one ``Structure`` + ASE ``Atoms`` per
position and an ASE calculator of the same model (energy, forces and stress;
``MatglPotential.ase_calculator()``, which has the corrected M3GNet energies).  Both are
timed after one warm-up call; the best of ``--repeat`` runs is reported, with
the largest energy difference between the two paths on the naive positions.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np


def _naive(framework: Any, ion: str, frac: np.ndarray, calc: Any) -> np.ndarray:
    from pymatgen.io.ase import AseAtomsAdaptor

    out = []
    for p in frac:
        s = framework.copy()
        s.append(ion, p, coords_are_cartesian=False)
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = calc
        out.append(atoms.get_potential_energy())
        atoms.get_forces()
        atoms.get_stress()
    return np.array(out)


class _plain_forward:
    """Context: ``LegacyM3GNet.energy`` takes its plain torch path (no oneDNN fused layers)."""

    def __init__(self, net) -> None:
        self.net = net

    def __enter__(self):
        self.old = self.net.__dict__.get("_dnnl_cache")
        self.net.__dict__["_dnnl_cache"] = {"w": None}
        return self

    def __exit__(self, *exc) -> None:
        self.net.__dict__["_dnnl_cache"] = self.old if self.old is not None else {}


def _profile(a, fw, frac) -> None:
    import time

    import torch
    from torch.profiler import ProfilerActivity, profile

    from ionnet.potentials import MatglPotential

    pot = MatglPotential(a.path, device=a.device)
    fwk = pot._prepare(fw, a.ion)
    pot._graph_inputs(fwk, frac[:2])  # framework graph, basis table, JIT
    rows = {}
    for _ in range(a.repeat):
        for th in a.thread_counts:
            torch.set_num_threads(th)
            for bs in a.batch_sizes:
                tg = tf = tp = 0.0
                for i in range(0, len(frac), bs):
                    t = time.perf_counter()
                    x = pot._graph_inputs(fwk, frac[i:i + bs])
                    t1 = time.perf_counter()
                    with torch.inference_mode():
                        pot._net.energy(*x)
                    t2 = time.perf_counter()
                    with torch.inference_mode(), _plain_forward(pot._net):
                        pot._net.energy(*x)
                    tg += t1 - t
                    tf += t2 - t1
                    tp += time.perf_counter() - t2
                rows.setdefault((th, bs), []).append((tg / len(frac), tf / len(frac), tp / len(frac)))
    print(f"M3GNet, {len(fw) + 1} atoms with the probe, {len(frac)} positions, median of {a.repeat} rounds; "
          f"forward = the oneDNN path, plain = the torch forward (the previous code's), timed in turn")
    print(f"{'threads':>7} {'batch':>5} {'graph ms/pos':>12} {'forward ms/pos':>14} {'graph share':>11} "
          f"{'plain ms/pos':>12} {'plain/forward':>13}")
    for (th, bs), v in rows.items():
        g, f, pl = (np.median([x[k] for x in v]) for k in range(3))
        print(f"{th:>7} {bs:>5} {1e3 * g:12.2f} {1e3 * f:14.2f} {g / (g + f):11.3f} {1e3 * pl:12.2f} {pl / f:13.2f}")
    # forward by stage, one thread, the middle batch size
    torch.set_num_threads(a.thread_counts[0])
    bs = a.batch_sizes[len(a.batch_sizes) // 2]
    x = pot._graph_inputs(fwk, frac[:bs])
    with profile(activities=[ProfilerActivity.CPU]) as prof, torch.inference_mode():
        pot._net.energy(*x)
    stages = {e.key: e.cpu_time_total for e in prof.key_averages() if e.key.startswith("m3gnet.")}
    total = sum(stages.values())
    print(f"forward by stage ({a.thread_counts[0]} thread(s), batch {bs}; % of the staged time):")
    for k, v in stages.items():
        print(f"  {k:<28} {100 * v / total:5.1f} %")
    ops = sorted(((e.self_cpu_time_total, e.key) for e in prof.key_averages()
                  if e.key.startswith(("aten::", "mkldnn::"))), reverse=True)
    tot = sum(t for t, _ in ops)
    print("  top operators (self time; numba kernels are not operators): "
          + ", ".join(f"{k.split('::')[1]} {100 * t / tot:.0f} %" for t, k in ops[:8]))
    if a.chgnet:
        _profile_chgnet(a, fw, frac)


def _profile_chgnet(a, fw, frac) -> None:
    """CHGNet per position: cached framework graph vs CHGNet's converter vs predict_structure, in turn."""
    import time

    import torch

    from ionnet.potentials import CHGNetPotential, get_potential

    torch.set_num_threads(a.thread_counts[0])
    th = a.thread_counts[0]  # the same threads for every variant
    cached = get_potential("chgnet", device=a.device, threads=th)
    conv = CHGNetPotential(model=cached.model, device=a.device, method="converter", threads=th)
    bs = a.batch_sizes[len(a.batch_sizes) // 2]
    structures = []
    for p in frac:
        st = fw.copy()
        st.append(a.ion, p)
        structures.append(st)
    for pot in (cached, conv):
        pot.energies(fw, a.ion, frac[:2], batch_size=2)  # warm-up (framework graph, JIT)
    cached.model.predict_structure(structures[:2], task="e", batch_size=2)
    rows: dict[str, list] = {k: [] for k in ("graph_cached", "graph_converter", "forward", "cached", "converter", "own")}
    for _ in range(a.repeat):  # every variant timed in turn on the same positions
        t = time.perf_counter()
        e_cached = cached.energies(fw, a.ion, frac, batch_size=bs)
        rows["cached"].append(time.perf_counter() - t)
        t = time.perf_counter()
        e_conv = conv.energies(fw, a.ion, frac, batch_size=bs)
        rows["converter"].append(time.perf_counter() - t)
        t = time.perf_counter()
        own = cached.model.predict_structure(structures, task="e", batch_size=bs)
        rows["own"].append(time.perf_counter() - t)
        tg = tc = tf = 0.0
        for i in range(0, len(frac), bs):
            t = time.perf_counter()
            g = cached.graphs(fw, a.ion, frac[i:i + bs])
            t1 = time.perf_counter()
            conv.graphs(fw, a.ion, frac[i:i + bs])
            t2 = time.perf_counter()
            with torch.inference_mode():
                cached.model(g, task="e")
            tf += time.perf_counter() - t2
            tg += t1 - t
            tc += t2 - t1
        rows["graph_cached"].append(tg)
        rows["graph_converter"].append(tc)
        rows["forward"].append(tf)
    e_own = np.array([float(o["e"]) for o in own]) * (len(fw) + 1)
    ms = {k: 1e3 * float(np.median(v)) / len(frac) for k, v in rows.items()}
    print(f"CHGNet ({a.thread_counts[0]} thread(s), batch {bs}, {len(frac)} positions, median of {a.repeat} rounds "
          f"timed in turn; load average {os.getloadavg()[0]:.1f}), ms per position:")
    print(f"  graph: cached framework graph {ms['graph_cached']:.2f}, CHGNet's converter {ms['graph_converter']:.2f} "
          f"({ms['graph_converter'] / ms['graph_cached']:.0f}x); forward {ms['forward']:.2f}")
    print(f"  energies(): cached {ms['cached']:.2f}, converter (previous code) {ms['converter']:.2f} "
          f"-> {ms['converter'] / ms['cached']:.2f}x; CHGNet predict_structure (structures given) {ms['own']:.2f} "
          f"-> {ms['own'] / ms['cached']:.2f}x")
    print(f"  max |E cached - E converter| = {np.abs(e_cached - e_conv).max():.1e} eV, "
          f"max |E cached - E predict_structure| = {np.abs(e_cached - e_own).max():.1e} eV")


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(prog="python benchmarks/bench_m3gnet.py", description=__doc__.splitlines()[0])
    ap.add_argument("cif")
    ap.add_argument("--ion", default="Li")
    ap.add_argument("--points", type=int, default=64)
    ap.add_argument("--naive-points", type=int, default=16)
    ap.add_argument("--path", default=None, help="matgl model folder (default: IONNET_M3GNET_PATH)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--profile", action="store_true", help="time graph building and forward stages instead")
    ap.add_argument("--batch-sizes", type=int, nargs="+", default=[4, 16, 64])
    ap.add_argument("--thread-counts", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--chgnet", action="store_true", help="with --profile: CHGNet's graphs, forward and energies too")
    ap.add_argument("--chgnet-only", action="store_true", help="with --profile: CHGNet only")
    ap.add_argument("--empty", action="store_true", help="remove every --ion site (empty framework)")
    a = ap.parse_args(argv)

    import torch
    from pymatgen.core import Structure

    from ionnet.potentials import MatglPotential

    if a.threads:
        torch.set_num_threads(a.threads)
    s = Structure.from_file(a.cif)
    idx = next(i for i, site in enumerate(s) if site.specie.symbol == a.ion)
    fw = s.copy()
    if a.empty:
        fw.remove_species([a.ion])
    else:
        fw.remove_sites([idx])
    rng = np.random.default_rng(0)
    frac = rng.random((max(a.points, a.naive_points), 3))
    if a.profile and a.chgnet_only:
        _profile_chgnet(a, fw, frac[: a.points])
        return 0
    if a.profile:
        _profile(a, fw, frac[: a.points])
        return 0

    pot = MatglPotential(a.path, device=a.device, batch_size=a.batch_size)
    base = pot.ase_calculator()

    _naive(fw, a.ion, frac[:1], base)  # warm-ups
    pot.energies(fw, a.ion, frac[:2])
    t_naive, t_fast = [], []
    for _ in range(a.repeat):  # interleaved, so both see the same machine load
        t = time.perf_counter()
        e_naive = _naive(fw, a.ion, frac[: a.naive_points], base)
        t_naive.append((time.perf_counter() - t) / a.naive_points)
        t = time.perf_counter()
        pot.energies(fw, a.ion, frac[: a.points])
        t_fast.append((time.perf_counter() - t) / a.points)
    fwk = pot._prepare(fw, a.ion)
    res = {
        "structure": a.cif,
        "atoms_with_probe": len(fw) + 1,
        "model": pot.name,
        "device": a.device,
        "torch_threads": torch.get_num_threads(),
        "batch_size": pot._pick_batch_size(fwk, a.batch_size),
        "naive_ase_ms_per_point": round(1000 * min(t_naive), 2),
        "batched_ms_per_point": round(1000 * min(t_fast), 2),
        "speedup": round(min(t_naive) / min(t_fast), 2),
        "load_average_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "max_abs_diff_ev": float(np.abs(pot.energies(fw, a.ion, frac[: a.naive_points]) - e_naive).max()),
    }
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
