"""Benchmark of ionnet.transport (exact dilute-limit D) against the sparse solve and KMC of a given precision.

Site graphs of ~1,000 sites, 20 temperatures (300..1000 K):

* ``lifepo4-5x5x5``: the bundled LiFePO4 BVSE site graph (8 sites per cell at the
  default connectivity 26) tiled 5x5x5 (1,000 sites, the topology and energies of a
  real material); ``lifepo4-3x3x3`` (216 sites) is kept for comparison;
* ``cubic-10``: a 10x10x10 periodic cubic network (1,000 sites, 3,000 saddles,
  random site energies 0..0.2 eV and barriers 0.2..0.6 eV): every site has six
  neighbours in 3D, so the end of the elimination is a dense block of ~250 sites;
* ``random-8``, ``random-12``, ``random-16``: 1,000 random sites in a periodic
  30 Å box joined to every site within the cutoff that gives a mean degree of 8,
  12 or 16 (site energies 0..0.3 eV, barriers 0.1..0.6 eV above the higher site);
  ``random-16`` is denser than real site graphs.

For each it prints the wall time of ``transport()`` (elimination plan, all 20
temperatures, Arrhenius fit; best of 3), the length of the dense tail of the
elimination, and in the same run:

* ``sparse loop``: the same exact elimination with every site in the sparse
  loop (``n_dense=0``, the algorithm before the dense tail), and the largest
  deviation between the two (round-off);
* ``sparse solve``: 20 sparse LU solves of the corrector equation (the textbook
  route) and its largest deviation from the exact D, relative to the largest
  element at each temperature (round-off where the rates allow, wrong by up to
  64 orders of magnitude on LiFePO4 at 300 K);
* ``KMC``: the time KMC needs for the same 20 temperatures at a relative
  standard error of ``--precision`` on D_mean (measured at one temperature with
  ``--walkers`` walkers and scaled as 1/SE²; an equilibrium walker makes
  ``--hops`` hops).  KMC at 1% is the cheapest useful cross-check, so the
  ratio KMC/exact is a lower bound on the real saving.

Times depend on the machine and its load: compare the ratios of one run.

Run:  python benchmarks/bench_transport.py [--precision 0.01] [--walkers 300] [--hops 5000] [--cases cubic-10,...]
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


def random_sites(n=1000, degree=8, a=30.0, seed=0):
    """``n`` random sites in a periodic cube of side ``a`` Å, joined within the cutoff of the given mean degree."""
    from scipy.spatial import cKDTree

    from ionnet.analysis import SiteGraph

    rng = np.random.default_rng(seed)
    frac = rng.random((n, 3))
    cutoff = (3 * degree / (4 * np.pi * n)) ** (1 / 3)
    edges = cKDTree(frac, boxsize=1.0).query_pairs(cutoff, output_type="ndarray").astype(np.int64)
    i, j = edges[:, 0], edges[:, 1]
    images = -np.round(frac[j] - frac[i]).astype(np.int64)  # the nearest image of j
    e = rng.uniform(0.0, 0.3, n)
    sad = np.maximum(e[i], e[j]) + rng.uniform(0.1, 0.6, len(edges))
    m = len(edges)
    return SiteGraph(energies=e, frac_coords=frac, n_nodes=np.ones(n, dtype=np.int64), edges=edges, images=images,
                     saddle_energies=sad, saddle_frac=np.zeros((m, 3)), lattice=np.eye(3) * a)


def _best(f, repeat=3):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def _deviation(d, ref):
    """Largest |d - ref| relative to the largest element of ref, over temperatures."""
    scale = np.abs(ref).max(axis=(1, 2))[:, None, None]
    return float(np.max(np.abs(d - ref) / np.where(scale > 0, scale, 1.0)))


def bench(name, s, temps, args):
    import ionnet
    from ionnet.core.transport import corrector_diffusion, exact_diffusion, prepare_network
    from ionnet.diffusion import KB_EV, _harmonic_weights

    ionnet.transport(s, temps[:2])  # JIT/cache warm-up (the plan is rebuilt below)
    t_exact, r = _best(lambda: ionnet.transport(s, temps))
    n_dense = prepare_network(s.n_sites, s.edges, s.images).n_dense
    log_pi, log_w = _harmonic_weights(s, KB_EV * np.asarray(temps), 1e13)

    def sparse_loop():
        return exact_diffusion(prepare_network(s.n_sites, s.edges, s.images, n_dense=0), log_w, s.lattice)

    t_loop, d_loop = _best(sparse_loop, repeat=1)
    t0 = time.perf_counter()
    ref = np.stack([corrector_diffusion(s.n_sites, s.edges, s.images, lw, s.frac_coords, s.lattice) for lw in log_w])
    t_sparse = time.perf_counter() - t0
    d = r.D * 1e16
    dev_loop = _deviation(d, 0.5 * (d_loop + d_loop.transpose(0, 2, 1)))
    dev_solve = _deviation(ref, d)
    # KMC at one temperature, scaled to the target precision and to all temperatures
    tk = float(np.median(temps))
    t0 = time.perf_counter()
    k = ionnet.transport(s, [tk], method="kmc", n_walkers=args.walkers, kmc_hops=args.hops, seed=1)
    t_kmc1 = time.perf_counter() - t0
    se_mean = np.sqrt(np.sum(np.diag(k.D_stderr[0]) ** 2)) / 3
    rel = se_mean / k.D_mean[0]
    t_kmc = t_kmc1 * (rel / args.precision) ** 2 * len(temps)
    print(f"{name:14s} {s.n_sites:5d} sites {len(s.edges):5d} saddles, dense tail {n_dense:4d} | exact {t_exact:6.3f} s"
          f" | sparse loop {t_loop:6.3f} s (x{t_loop / t_exact:4.1f}, dev {dev_loop:.0e})"
          f" | sparse solve {t_sparse:6.3f} s (x{t_sparse / t_exact:4.1f}, dev {dev_solve:.0e})"
          f" | KMC {rel:5.1%} SE in {t_kmc1:5.2f} s -> {args.precision:.0%} x {len(temps)} T {t_kmc:8.1f} s"
          f" (x{t_kmc / t_exact:.0f})")
    return t_exact


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--precision", type=float, default=0.01, help="KMC relative standard error on D_mean")
    p.add_argument("--walkers", type=int, default=300)
    p.add_argument("--hops", type=int, default=5000)
    p.add_argument("--cases", default="lifepo4-5x5x5,cubic-10,random-8,random-12,random-16",
                   help="comma-separated subset of the cases")
    args = p.parse_args()
    import ionnet
    from ionnet.io import example_grid

    temps = np.linspace(300, 1000, 20)
    cases = {
        "lifepo4-5x5x5": lambda: tile_sites(ionnet.analyze(example_grid("LiFePO4_bvse")).sites(), (5, 5, 5)),
        "lifepo4-3x3x3": lambda: tile_sites(ionnet.analyze(example_grid("LiFePO4_bvse")).sites(), (3, 3, 3)),
        "cubic-10": lambda: cubic_sites(10),
        "random-8": lambda: random_sites(1000, 8),
        "random-12": lambda: random_sites(1000, 12),
        "random-16": lambda: random_sites(1000, 16),
    }
    print("ionnet.transport, 20 temperatures 300..1000 K (best of 3); x = time / exact time, dev = largest deviation"
          " from the exact D relative to its largest element")
    for name in args.cases.split(","):
        bench(name, cases[name](), temps, args)


if __name__ == "__main__":
    main()
