"""Benchmark of ionnet.transport (exact dilute-limit D) against KMC of a given precision.

Two site graphs of ~1,000 sites, 20 temperatures (300..1000 K):

* ``lifepo4-3x3x3``: the bundled LiFePO4 BVSE site graph tiled 3x3x3 (972 sites,
  the topology and energies of a real material);
* ``cubic-10``: a 10x10x10 periodic cubic network (1,000 sites, 3,000 saddles,
  random site energies 0..0.2 eV and barriers 0.2..0.6 eV): every site has six
  neighbours in 3D, the worst case for the elimination's fill-in.

For each it prints the wall time of ``transport()`` (elimination plan, all 20
temperatures, Arrhenius fit), the time of the sparse corrector solve (the
textbook route, 20 solves) and the time KMC needs for the same 20 temperatures
at a relative standard error of ``--precision`` on D_mean (measured at one
temperature with ``--walkers`` walkers and scaled as 1/SE²; an equilibrium
walker makes ``--hops`` hops).  The exact result is exact to round-off
(~1e-13 relative); KMC at 1% is the cheapest useful cross-check, so the ratio is
a lower bound on the real saving.

Run:  python benchmarks/bench_transport.py [--precision 0.01] [--walkers 300] [--hops 5000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np


def tile_sites(s, rep):
    """The SiteGraph of an (na, nb, nc) supercell of ``s``."""
    from ionnet.analysis import SiteGraph

    rep = np.asarray(rep)
    cells = np.stack(np.unravel_index(np.arange(int(np.prod(rep))), rep), axis=1)
    S = s.n_sites
    edges, images, en, fr, sad = [], [], [], [], []
    for ci, c in enumerate(cells):
        tgt = c + s.images
        cj = np.ravel_multi_index(tuple((tgt % rep).T), rep)
        edges.append(np.stack([ci * S + s.edges[:, 0], cj * S + s.edges[:, 1]], axis=1))
        images.append(np.floor_divide(tgt, rep))
        en.append(s.energies)
        fr.append((s.frac_coords + c) / rep)
        sad.append(s.saddle_energies)
    n = len(cells) * S
    m = len(cells) * len(s.edges)
    return SiteGraph(
        energies=np.concatenate(en), frac_coords=np.concatenate(fr), n_nodes=np.ones(n, dtype=np.int64),
        edges=np.concatenate(edges), images=np.concatenate(images), saddle_energies=np.concatenate(sad),
        saddle_frac=np.zeros((m, 3)), lattice=s.lattice * rep[:, None],
    )


def cubic_sites(n=10, a=3.0, seed=0):
    from ionnet.analysis import SiteGraph

    rng = np.random.default_rng(seed)
    idx = np.arange(n ** 3).reshape(n, n, n)
    edges, images = [], []
    for ax in range(3):
        nb = np.roll(idx, -1, axis=ax)
        wrap = np.zeros((n, n, n, 3), dtype=np.int64)
        sl = [slice(None)] * 3
        sl[ax] = n - 1
        wrap[tuple(sl) + (ax,)] = 1
        edges.append(np.stack([idx.ravel(), nb.ravel()], axis=1))
        images.append(wrap.reshape(-1, 3))
    edges = np.concatenate(edges)
    e = rng.uniform(0.0, 0.2, n ** 3)
    sad = np.maximum(e[edges[:, 0]], e[edges[:, 1]]) + rng.uniform(0.2, 0.6, len(edges))
    frac = np.stack(np.unravel_index(np.arange(n ** 3), (n, n, n)), axis=1) / n
    m = len(edges)
    return SiteGraph(energies=e, frac_coords=frac, n_nodes=np.ones(n ** 3, dtype=np.int64), edges=edges,
                     images=np.concatenate(images), saddle_energies=sad, saddle_frac=np.zeros((m, 3)),
                     lattice=np.eye(3) * a * n)


def bench(name, s, temps, args):
    import ionnet
    from ionnet.core.transport import corrector_diffusion
    from ionnet.diffusion import KB_EV, _harmonic_weights

    ionnet.transport(s, temps[:2])  # JIT/cache warm-up (the plan is rebuilt below)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = ionnet.transport(s, temps)
        times.append(time.perf_counter() - t0)
    t_exact = min(times)
    log_pi, log_w = _harmonic_weights(s, KB_EV * np.asarray(temps), 1e13)
    t0 = time.perf_counter()
    ref = np.stack([corrector_diffusion(s.n_sites, s.edges, s.images, lw, s.frac_coords, s.lattice) for lw in log_w])
    t_sparse = time.perf_counter() - t0
    dev = np.max(np.abs(ref * 1e-16 - r.D) / np.abs(r.D).max(axis=(1, 2))[:, None, None])
    # KMC at one temperature, scaled to the target precision and to all temperatures
    tk = float(np.median(temps))
    t0 = time.perf_counter()
    k = ionnet.transport(s, [tk], method="kmc", n_walkers=args.walkers, kmc_hops=args.hops, seed=1)
    t_kmc1 = time.perf_counter() - t0
    se_mean = np.sqrt(np.sum(np.diag(k.D_stderr[0]) ** 2)) / 3
    rel = se_mean / k.D_mean[0]
    t_kmc = t_kmc1 * (rel / args.precision) ** 2 * len(temps)
    print(f"{name:14s} {s.n_sites:5d} sites {len(s.edges):5d} saddles | exact {t_exact:7.3f} s "
          f"(sparse solve {t_sparse:6.3f} s, max deviation {dev:.1e}) | KMC {rel:6.1%} SE in {t_kmc1:6.2f} s "
          f"-> {args.precision:.0%} x {len(temps)} T: {t_kmc:9.1f} s | ratio KMC/exact {t_kmc / t_exact:9.0f}")
    return t_exact


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", type=float, default=0.01, help="KMC relative standard error on D_mean")
    p.add_argument("--walkers", type=int, default=300)
    p.add_argument("--hops", type=int, default=5000)
    args = p.parse_args()
    import ionnet
    from ionnet.io import example_grid

    temps = np.linspace(300, 1000, 20)
    lfp = ionnet.analyze(example_grid("LiFePO4_bvse")).sites()
    print("ionnet.transport, 20 temperatures 300..1000 K (best of 3; shared machine: compare the ratios)")
    bench("lifepo4-3x3x3", tile_sites(lfp, (3, 3, 3)), temps, args)
    bench("cubic-10", cubic_sites(10), temps, args)


if __name__ == "__main__":
    main()
