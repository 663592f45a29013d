"""Per-position timing of the M3GNet back end: naive ASE loop vs batched energy-only path.

Run::

    python benchmarks/bench_m3gnet.py CIF [--ion Li] [--points 64] [--naive-points 16]
        [--path MODEL_FOLDER] [--device cpu] [--batch-size N] [--repeat 3] [--threads N]

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
    a = ap.parse_args(argv)

    import torch
    from pymatgen.core import Structure

    from ionnet.potentials import MatglPotential

    if a.threads:
        torch.set_num_threads(a.threads)
    s = Structure.from_file(a.cif)
    idx = next(i for i, site in enumerate(s) if site.specie.symbol == a.ion)
    fw = s.copy()
    fw.remove_sites([idx])
    rng = np.random.default_rng(0)
    frac = rng.random((max(a.points, a.naive_points), 3))

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
