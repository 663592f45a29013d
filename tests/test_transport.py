"""Transport: exact dilute-limit D on the periodic site graph, KMC, conductivity, NEB paths.

Known answers (simple cubic lattice, a chain with two barriers, a dead-end
pocket, classical TST on a separable cosine grid), invariances (supercell,
origin shift), the exact solver against KMC and against the sparse corrector
solve, the LiFePO4 physics, the CLI and NEB output read back by pymatgen and ASE.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import ionnet
from ionnet.analysis import SiteGraph
from ionnet.core.transport import corrector_diffusion, exact_diffusion, kmc_diffusion, prepare_network
from ionnet.diffusion import KB_EV, TransportResult, site_percolation, transport
from ionnet.errors import ExportError, TransportError
from ionnet.io import example_grid
from ionnet.settings import DEFAULT_CONNECTIVITY

NU = 1e13
E_CHARGE = 1.602176634e-19
KB_J = 1.380649e-23


def graph(energies, frac, edges, images, saddles, lattice):
    """A hand-built SiteGraph."""
    energies = np.asarray(energies, float)
    return SiteGraph(
        energies=energies, frac_coords=np.asarray(frac, float).reshape(-1, 3),
        n_nodes=np.ones(len(energies), dtype=np.int64), edges=np.asarray(edges, dtype=np.int64).reshape(-1, 2),
        images=np.asarray(images, dtype=np.int64).reshape(-1, 3), saddle_energies=np.asarray(saddles, float),
        saddle_frac=np.zeros((len(saddles), 3)), lattice=np.asarray(lattice, float),
    )


def rate(barrier, T):
    return NU * math.exp(-barrier / (KB_EV * T))


@pytest.fixture(scope="module")
def lfp():
    return ionnet.analyze(example_grid("LiFePO4_bvse"))


@pytest.fixture(scope="module")
def lfp_T(lfp):
    return transport(lfp, [300, 400, 500, 600, 700, 800, 900, 1000])


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("lattice", [np.eye(3) * 3.0, np.diag([3.0, 4.0, 5.0]),
                                     np.array([[3.0, 0, 0], [1.0, 4.0, 0], [0.5, -0.7, 5.0]])])
@pytest.mark.parametrize("T", [300.0, 1000.0])
def test_simple_lattice_one_site_per_cell(lattice, T):
    # one site per cell, six hops of one rate k (the three lattice vectors, both signs):
    # D = k Σ_i a_i a_iᵀ; for the cubic lattice D = k a² exactly
    eb = 0.3
    s = graph([0.0], [[0, 0, 0]], [[0, 0]] * 3, np.eye(3, dtype=int), [eb] * 3, lattice)
    r = transport(s, [T])
    expect = rate(eb, T) * lattice.T @ lattice * 1e-16
    np.testing.assert_allclose(r.D[0], expect, rtol=1e-12, atol=1e-30 * rate(eb, T))
    assert r.dimensionality(T) == 3


def test_cubic_lattice_as_a_supercell_gives_the_same_d():
    # the same cubic lattice described by a 2x2x2 cell with 8 sites
    a, eb, T, n = 2.5, 0.25, 500.0, 2
    idx = np.arange(n ** 3).reshape(n, n, n)
    edges, images = [], []
    for ax in range(3):
        nb = np.roll(idx, -1, axis=ax)
        wrap = np.zeros((n, n, n, 3), dtype=int)
        sl = [slice(None)] * 3
        sl[ax] = n - 1
        wrap[tuple(sl) + (ax,)] = 1
        edges.append(np.stack([idx.ravel(), nb.ravel()], 1))
        images.append(wrap.reshape(-1, 3))
    frac = np.stack(np.unravel_index(np.arange(n ** 3), (n, n, n)), 1) / n
    s = graph(np.zeros(n ** 3), frac, np.concatenate(edges), np.concatenate(images), [eb] * (3 * n ** 3),
              np.eye(3) * a * n)
    r = transport(s, [T])
    np.testing.assert_allclose(r.D[0], np.eye(3) * rate(eb, T) * a * a * 1e-16, rtol=1e-12)


def chain(e_a, e_b, s1, s2, a=4.0):
    """Two sites per cell along x, hops A-B over s1 (inside the cell) and B-A' over s2 (to the next cell)."""
    return graph([e_a, e_b], [[0, 0.1, 0.2], [0.5, 0.3, 0.25]], [[0, 1], [0, 1]], [[0, 0, 0], [-1, 0, 0]],
                 [s1, s2], np.diag([a, 6.0, 7.0]))


def series_d(e_sites, saddles, T, period):
    """Periodic 1D chain: D = L² / Σ_k 1/w_k with w_k = ν exp(-E_s,k/kT)/Z (in log space)."""
    kt = KB_EV * T
    log_z = np.logaddexp.reduce(-np.asarray(e_sites) / kt)
    log_w = math.log(NU) - np.asarray(saddles) / kt - log_z
    return period ** 2 / np.exp(np.logaddexp.reduce(-log_w))


@pytest.mark.parametrize("T", [50.0, 300.0, 1000.0])
@pytest.mark.parametrize("e_b, s1, s2", [(0.0, 0.3, 0.3), (0.0, 0.2, 0.6), (0.15, 0.4, 0.25), (0.0, 0.05, 1.2)])
def test_chain_with_two_alternating_barriers(T, e_b, s1, s2):
    r = transport(chain(0.0, e_b, s1, s2), [T])
    expect = series_d([0.0, e_b], [s1, s2], T, 4.0) * 1e-16
    assert r.D[0, 0, 0] == pytest.approx(expect, rel=1e-12)
    assert np.all(r.D[0][1:, :] == 0) and np.all(r.D[0][:, 1:] == 0)  # exactly one-dimensional
    if e_b == 0.0:  # equal sites: D = 2 h² k1 k2 / (k1 + k2) with the hop length h = a/2
        k1, k2 = rate(s1, T), rate(s2, T)
        assert r.D[0, 0, 0] == pytest.approx(2 * 2.0 ** 2 * k1 * k2 / (k1 + k2) * 1e-16, rel=1e-12)


def test_extreme_rate_ratios_stay_exact():
    # a fast rattling pair joined by slow hops: rates 1e-130 apart at 100 K; the exact
    # elimination keeps full precision (a plain sparse solve of the corrector equation cannot)
    s = graph([0.0, 0.0, 0.0, 0.0], [[0, 0, 0], [0.25, 0.1, 0], [0.5, 0, 0], [0.75, 0.1, 0]],
              [[0, 1], [1, 2], [2, 3], [0, 3]], [[0, 0, 0], [0, 0, 0], [0, 0, 0], [-1, 0, 0]],
              [0.02, 2.6, 0.02, 2.6], np.diag([8.0, 5.0, 5.0]))
    r = transport(s, [100.0])
    expect = series_d([0.0] * 4, [0.02, 2.6, 0.02, 2.6], 100.0, 8.0) * 1e-16
    assert expect < 1e-120
    assert r.D[0, 0, 0] == pytest.approx(expect, rel=1e-12)
    assert np.count_nonzero(r.D[0]) == 1


def test_dead_end_pocket_lowers_the_channel_occupation_only():
    # channel along x (one site per cell, barrier 0.3) plus a pocket site P off the channel
    # (along y) joined to it by one saddle: P takes part of π, adds nothing along y or z
    eb, ep, sp, T, a = 0.3, 0.05, 0.2, 400.0, 3.0
    s = graph([0.0, ep], [[0, 0, 0], [0, 0.4, 0]], [[0, 0], [0, 1]], [[1, 0, 0], [0, 0, 0]], [eb, sp],
              np.diag([a, 5.0, 5.0]))
    r = transport(s, [T])
    kt = KB_EV * T
    pi_channel = 1.0 / (1.0 + math.exp(-ep / kt))
    assert r.occupation[0, 0] == pytest.approx(pi_channel, rel=1e-12)
    assert r.D[0, 0, 0] == pytest.approx(pi_channel * rate(eb, T) * a * a * 1e-16, rel=1e-12)
    assert np.count_nonzero(r.D[0]) == 1
    assert r.dimensionality(T) == 1


def test_non_percolating_network_gives_zero_not_an_error():
    s = graph([0.0, 0.1], [[0, 0, 0], [0.5, 0.5, 0.5]], [[0, 1], [0, 1]], [[0, 0, 0], [0, 0, 0]], [0.3, 0.5],
              np.eye(3) * 4)
    r = transport(s, [300, 600])
    assert np.all(r.D == 0) and r.ea == math.inf and list(r.dimensionality()) == [0, 0]
    assert r.percolation_energy == {1: math.inf, 2: math.inf, 3: math.inf}
    with pytest.raises(TransportError, match="does not percolate"):
        r.percolation_path()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_elimination_equals_the_sparse_corrector_solve(seed):
    # random periodic multigraphs (self-loops, parallel edges, several components)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 60))
    m = 3 * n
    edges = rng.integers(0, n, (m, 2))
    images = rng.integers(-1, 2, (m, 3))
    frac = rng.random((n, 3))
    lattice = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0.5, 0.3, 7.0]])
    log_w = rng.normal(size=(3, m))
    d = exact_diffusion(prepare_network(n, edges, images), log_w, lattice)
    ref = np.stack([corrector_diffusion(n, edges, images, lw, frac, lattice) for lw in log_w])
    np.testing.assert_allclose(d, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


# ----------------------------------------------------------------------------- the dense tail of the elimination
def cubic_network(n=10, seed=0):
    """n x n x n periodic cubic network, random site energies 0..0.2 eV, barriers 0.2..0.6 eV above the higher site."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n ** 3).reshape(n, n, n)
    edges, images = [], []
    for ax in range(3):
        wrap = np.zeros((n, n, n, 3), dtype=int)
        sl = [slice(None)] * 3
        sl[ax] = n - 1
        wrap[tuple(sl) + (ax,)] = 1
        edges.append(np.stack([idx.ravel(), np.roll(idx, -1, axis=ax).ravel()], 1))
        images.append(wrap.reshape(-1, 3))
    edges = np.concatenate(edges)
    e = rng.uniform(0.0, 0.2, n ** 3)
    sad = np.maximum(e[edges[:, 0]], e[edges[:, 1]]) + rng.uniform(0.2, 0.6, len(edges))
    frac = np.stack(np.unravel_index(np.arange(n ** 3), (n, n, n)), 1) / n
    return graph(e, frac, edges, np.concatenate(images), sad, np.eye(3) * 3.0 * n)


def random_network(n=1000, degree=10, seed=0):
    """n random sites in a periodic 30 Å box joined within the cutoff of the given mean degree."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    frac = rng.random((n, 3))
    pairs = cKDTree(frac, boxsize=1.0).query_pairs((3 * degree / (4 * np.pi * n)) ** (1 / 3), output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    images = -np.round(frac[j] - frac[i]).astype(int)
    e = rng.uniform(0.0, 0.3, n)
    sad = np.maximum(e[i], e[j]) + rng.uniform(0.1, 0.6, len(i))
    return graph(e, frac, pairs, images, sad, np.eye(3) * 30.0)


@pytest.mark.parametrize("make", [cubic_network, random_network])
def test_dense_networks_equal_the_sparse_corrector_solve(make):
    # 1,000-site 3D networks, where the end of the elimination is a dense block of
    # hundreds of sites: the default plan eliminates it as a block, and D equals the
    # sparse corrector solve (well conditioned at these temperatures) to 1e-10
    from ionnet.diffusion import _harmonic_weights

    s = make()
    net = prepare_network(s.n_sites, s.edges, s.images)
    assert net.n_comp == 1 and 100 < net.n_dense < s.n_sites
    _, log_w = _harmonic_weights(s, KB_EV * np.array([600.0, 1000.0]), NU)
    d = exact_diffusion(net, log_w, s.lattice)
    ref = np.stack([corrector_diffusion(s.n_sites, s.edges, s.images, lw, s.frac_coords, s.lattice) for lw in log_w])
    for a, b in zip(d, ref):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-10 * np.abs(b).max())
        np.testing.assert_allclose(np.diag(a), np.diag(b), rtol=1e-10)
    r = transport(s, [600.0, 1000.0])  # the public entry point takes the same plan
    np.testing.assert_allclose(r.D, 0.5 * (d + d.transpose(0, 2, 1)) * 1e-16, rtol=1e-13)


@pytest.mark.parametrize("seed", range(6))
def test_dense_tail_equals_the_sparse_elimination(seed):
    # the same merges in another order: every split of the plan into sparse steps and a
    # dense tail gives the same D to round-off, also when the weights span e^650 (1e282)
    # and on multigraphs with self-loops, parallel edges and several components
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 80))
    m = int(rng.integers(n, 5 * n))
    edges = rng.integers(0, n, (m, 2))
    images = rng.integers(-1, 2, (m, 3))
    lattice = np.array([[5.0, 0, 0], [1.0, 6.0, 0], [0.5, 0.3, 7.0]])
    spread = [1.0, 300.0, 650.0][seed % 3]
    log_w = -np.abs(rng.normal(size=(3, m))) * spread
    sparse = exact_diffusion(prepare_network(n, edges, images, n_dense=0), log_w, lattice)
    big = np.bincount(prepare_network(n, edges, images).comp).max()
    for nd in [None, n // 2, n]:
        net = prepare_network(n, edges, images, n_dense=nd)
        assert net.n_dense == (min(nd, big) if nd is not None else net.n_dense)
        d = exact_diffusion(net, log_w, lattice)
        assert np.all(np.isfinite(d))
        for a, b in zip(d, sparse):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * np.abs(b).max())
            np.testing.assert_allclose(np.diag(a), np.diag(b), rtol=1e-12)


def test_dense_tail_keeps_extreme_rate_ratios_exact():
    # a 40-site ring (one period along x) of fast rattling pairs joined by slow hops,
    # rates 1e-130 apart at 100 K, eliminated entirely as a dense block: the series formula to 1e-12
    n, T, period = 40, 100.0, 40.0
    rng = np.random.default_rng(5)
    sites = rng.uniform(0.0, 0.01, n)
    saddles = np.where(np.arange(n) % 2 == 0, 0.02, 2.6) + np.maximum(sites, np.roll(sites, -1))
    edges = np.stack([np.arange(n), (np.arange(n) + 1) % n], 1)
    images = np.zeros((n, 3), dtype=int)
    images[-1, 0] = 1
    kt = KB_EV * T
    log_w = math.log(NU) - saddles / kt - np.logaddexp.reduce(-sites / kt)
    expect = series_d(sites, saddles, T, period)
    assert expect < 1e-110
    for nd in [0, n]:
        net = prepare_network(n, edges, images, n_dense=nd)
        assert net.n_dense == nd
        d = exact_diffusion(net, log_w, np.diag([period, 5.0, 5.0]))
        assert d[0, 0] == pytest.approx(expect, rel=1e-12)
        assert np.count_nonzero(d) == 1


def test_n_dense_is_checked_and_small_networks_plan():
    with pytest.raises(ValueError, match="n_dense"):
        prepare_network(3, [[0, 1], [1, 2]], np.zeros((2, 3), dtype=int), n_dense=4)
    assert prepare_network(0, np.zeros((0, 2), dtype=int), np.zeros((0, 3), dtype=int)).n_dense == 0
    # a ring of three unit weights winding once along a unit period, all in the dense tail: D = 1² / Σ 1/w = 1/3
    net = prepare_network(3, [[0, 1], [1, 2], [2, 0]], [[0, 0, 0], [0, 0, 0], [1, 0, 0]], n_dense=3)
    assert net.n_dense == 3
    np.testing.assert_allclose(exact_diffusion(net, np.zeros(3), np.eye(3)), np.diag([1 / 3, 0, 0]), rtol=1e-15)


def test_kmc_matches_the_series_formula():
    s = chain(0.0, 0.05, 0.3, 0.4)
    T = 600.0
    k = transport(s, [T], method="kmc", n_walkers=2000, kmc_hops=4000, seed=3)
    expect = series_d([0.0, 0.05], [0.3, 0.4], T, 4.0) * 1e-16
    assert abs(k.D[0, 0, 0] - expect) < 3 * k.D_stderr[0, 0, 0]
    assert k.D_stderr[0, 0, 0] < 0.1 * expect


def test_kmc_is_seeded():
    s = chain(0.0, 0.05, 0.3, 0.4)
    a = transport(s, [600.0], method="kmc", n_walkers=50, kmc_hops=200, seed=7)
    b = transport(s, [600.0], method="kmc", n_walkers=50, kmc_hops=200, seed=7)
    assert np.array_equal(a.D, b.D)


# ----------------------------------------------------------------------------- grid rates
def cosine_grid(amps=(0.15, 0.25, 0.35), n=16, a=4.0):
    x = np.arange(n) / n
    e = (amps[0] * np.cos(2 * np.pi * x)[:, None, None] + amps[1] * np.cos(2 * np.pi * x)[None, :, None]
         + amps[2] * np.cos(2 * np.pi * x)[None, None, :])
    return ionnet.EnergyGrid(e, np.eye(3) * a, metadata={"ion": "Li"})


@pytest.mark.parametrize("T", [300.0, 600.0])
def test_grid_rates_are_classical_tst_on_a_separable_cosine(T):
    # E = Σ A_i cos(2π x_i): one basin per cell; classical TST through the plane of the
    # maximum gives k = v̄ e^{-βA}/(a I0(βA)) per axis, so D_ii = v̄ a e^{-βA_i}/I0(βA_i)
    # with v̄ = sqrt(kT/2πm) (the y, z integrals cancel); the grid sums are trapezoidal
    # rules of periodic integrands, accurate to the aliasing term I_n(βA)/I0(βA)
    from scipy.special import i0e

    amps, a = (0.15, 0.25, 0.35), 4.0
    r = transport(cosine_grid(amps, a=a), [T], rates="grid")
    b = 1.0 / (KB_EV * T)
    v = math.sqrt(KB_EV * T * E_CHARGE / (2 * math.pi * 6.94 * 1.66053906660e-27)) * 1e10
    expect = [v * a * math.exp(-2 * b * A) / i0e(b * A) * 1e-16 for A in amps]  # i0e(x) = e^{-x} I0(x)
    np.testing.assert_allclose(np.diag(r.D[0]), expect, rtol=1e-3)
    # harmonic: barrier 2A, one site per cell, hops through the six faces only (connectivity 6);
    # 26-connected grids add diagonal hops over the cell's edges and corners, which only add to D
    face = [rate(2 * A, T) * a * a * 1e-16 for A in amps]
    h = transport(cosine_grid(amps, a=a), [T], connectivity=6)
    np.testing.assert_allclose(np.diag(h.D[0]), face, rtol=1e-12)
    h26 = transport(cosine_grid(amps, a=a), [T])
    assert h26.analysis.connectivity == DEFAULT_CONNECTIVITY
    s = h26.sites
    for axis, A in enumerate(amps):
        unit = np.all(s.images == np.eye(3, dtype=int)[axis], axis=1)
        assert s.saddle_energies[unit] - s.energies[0] == pytest.approx([2 * A], abs=1e-12)
    assert np.all(np.diag(h26.D[0]) >= np.array(face) * (1 - 1e-12))


def test_grid_rates_need_the_grid_and_the_mass():
    s = graph([0.0], [[0, 0, 0]], [[0, 0]], [[1, 0, 0]], [0.3], np.eye(3))
    with pytest.raises(TransportError, match="needs the energy grid"):
        transport(s, [300], rates="grid")
    with pytest.raises(TransportError, match="mass"):
        transport(ionnet.EnergyGrid(cosine_grid().energies, np.eye(3) * 4), [300], rates="grid")


# ----------------------------------------------------------------------------- invariances
@pytest.mark.parametrize("rates", ["harmonic", "grid"])
def test_d_is_invariant_under_supercell_and_origin_shift(lfp, rates):
    g = lfp.grid
    T = [400.0, 1000.0]
    ref = transport(lfp, T, rates=rates).D
    sup = ionnet.EnergyGrid(np.tile(g.energies, (2, 1, 1)), g.lattice * np.array([[2.0], [1.0], [1.0]]),
                            metadata=dict(g.metadata))
    r2 = transport(sup, T, rates=rates, connectivity=lfp.connectivity)
    assert r2.sites.n_sites == 2 * lfp.sites().n_sites
    np.testing.assert_allclose(r2.D, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())
    for shift in [(1, 2, 3), (5, -7, 11)]:
        rolled = ionnet.EnergyGrid(np.roll(g.energies, shift, axis=(0, 1, 2)), g.lattice, metadata=dict(g.metadata))
        np.testing.assert_allclose(transport(rolled, T, rates=rates, connectivity=lfp.connectivity).D, ref, rtol=1e-9,
                                   atol=1e-12 * np.abs(ref).max())


# ----------------------------------------------------------------------------- LiFePO4 physics
def test_site_graph_percolation_equals_the_grid_sweep(lfp):
    # the site graph's winding thresholds are the grid's 'any region' thresholds
    p = site_percolation(lfp.sites())
    for d in (1, 2, 3):
        assert p["energy"][d] == pytest.approx(lfp.percolation_energy_any[d], abs=1e-12)
    assert [abs(x) for x in p["winding"]] == [0, 1, 0]


def test_lifepo4_diffuses_along_b(lfp_T, lfp):
    r = lfp_T
    b = lfp.grid.lattice[1] / np.linalg.norm(lfp.grid.lattice[1])
    for k in range(len(r.temperatures)):
        w, v = np.linalg.eigh(r.D[k])
        assert abs(v[:, -1] @ b) > 0.9999  # the fast axis is b
    assert r.dimensionality(300) == 1 and list(r.dimensionality()) == [1] * len(r.temperatures)
    assert abs(r.ea - lfp.mpe) < 0.1
    assert abs(r.ea - lfp.mpe) < 0.01  # in fact much closer
    # carriers: 4 Li per cell removed from the empty framework
    assert r.carrier_density == pytest.approx(4 / (lfp.grid.volume_ang3 * 1e-24), rel=1e-12)
    # Nernst–Einstein by hand at 300 K
    k = 0
    assert r.sigma[k] == pytest.approx(r.carrier_density * E_CHARGE ** 2 * r.D_mean[k] / (KB_J * 300.0), rel=1e-12)
    assert 1e-8 < r.sigma[0] < 1e-4  # dilute frozen-framework BVSE estimate: above the measured 1e-9..1e-8


def test_low_temperature_ea_tends_to_the_percolation_threshold(lfp):
    # As T -> 0 the slope of ln D is the site graph's 1D threshold (minimax saddle) minus the
    # lowest site, approached to within δ/10 at 10-20 K (δ: the smallest energy change over one
    # grid step at the bottleneck saddle node, the grid's energy resolution there).  At finite T
    # nearly degenerate levels lower it (Boltzmann-weighted mean site energy above the lowest,
    # mean bottleneck saddle below the highest): by less than the spread of the sites within
    # 0.02 eV of the lowest plus that of the saddles within 0.02 eV below the threshold
    # (symmetry-equivalent Li sites and hops that the grid separates by a few meV).
    s = lfp.sites()
    ec = site_percolation(s)["energy"][1]
    e0 = s.energies.min()
    near_sites = s.energies[s.energies < e0 + 0.02]
    near_saddles = s.saddle_energies[np.abs(s.saddle_energies - (e0 + ec - 0.01)) <= 0.01 + 1e-9]
    spread = (near_sites.max() - e0) + (e0 + ec - near_saddles.min())
    e = lfp.grid.energies - lfp.e_min
    shape = np.array(e.shape)
    node = np.round(s.saddle_frac[np.argmin(np.abs(s.saddle_energies - ec))] * shape).astype(int) % shape
    steps = np.vstack([np.eye(3, dtype=int), -np.eye(3, dtype=int)])
    delta = min(abs(e[tuple((node + d) % shape)] - e[tuple(node)]) for d in steps
                if np.isfinite(e[tuple((node + d) % shape)]))
    assert 0 < delta < 0.05
    warm = transport(lfp, np.linspace(100, 200, 6))
    cold = transport(lfp, np.linspace(10, 20, 6))
    assert 0 < ec - warm.ea < spread < 0.05
    assert abs(cold.ea - ec) < delta / 10
    assert abs(cold.ea - ec) < abs(warm.ea - ec)


@pytest.mark.parametrize("T", [600.0, 1000.0])
def test_exact_equals_kmc_on_lifepo4(lfp, T):
    exact = transport(lfp, [T])
    kmc = transport(lfp, [T], method="kmc", n_walkers=500, kmc_hops=10000, seed=int(T))
    se = kmc.D_stderr[0]
    assert np.all(np.abs(kmc.D[0] - exact.D[0]) <= 3 * se + 1e-6 * np.abs(exact.D[0]).max())
    assert se[1, 1] < 0.2 * exact.D[0, 1, 1]  # the check has teeth along b


@pytest.mark.slow
@pytest.mark.parametrize("T", [600.0, 1000.0])
def test_exact_equals_kmc_on_lifepo4_precise(lfp, T):
    exact = transport(lfp, [T])
    kmc = transport(lfp, [T], method="kmc", n_walkers=10000, kmc_hops=20000, seed=11)
    assert np.all(np.abs(kmc.D[0] - exact.D[0]) <= 3 * kmc.D_stderr[0] + 1e-6 * np.abs(exact.D[0]).max())
    assert kmc.D_stderr[0, 1, 1] < 0.03 * exact.D[0, 1, 1]


def test_grid_and_harmonic_rates_agree_on_lifepo4(lfp):
    # both tend to the percolation threshold; the grid rates' prefactor varies with T through
    # anharmonic basins (the interstitial basin on the b path is ~0.05 eV deep), which moves the
    # Arrhenius slope by about k_B T: within k_B T at the lowest fitted temperature
    h = transport(lfp, [300, 600, 1000])
    g = transport(lfp, [300, 600, 1000], rates="grid")
    assert abs(h.ea - lfp.mpe) < 0.05 and abs(g.ea - lfp.mpe) < 0.05
    assert abs(g.ea - h.ea) < KB_EV * 300
    assert np.all(np.abs(np.log10(g.D_mean / h.D_mean)) < 1.0)  # same order: an effective ν of ~5e12 Hz
    assert g.attempt_frequency is None and g.dimensionality(300) == 1


# ----------------------------------------------------------------------------- carriers, options, output
def test_carrier_density_sources(lfp):
    v = lfp.grid.volume_ang3 * 1e-24
    r = transport(lfp, [300], structure=ionnet.io.example_path("LiFePO4"))
    assert r.carrier_density == pytest.approx(4 / v, rel=1e-9) and "structure" in r.carrier_source
    r = transport(lfp, [300], carrier_density=1e21, haven_ratio=0.5)
    assert r.carrier_density == 1e21
    assert r.sigma[0] == pytest.approx(1e21 * E_CHARGE ** 2 * r.D_mean[0] / (0.5 * KB_J * 300), rel=1e-12)
    s = graph([0.0], [[0, 0, 0]], [[0, 0]], [[1, 0, 0]], [0.3], np.eye(3))
    r = transport(s, [300])
    assert math.isnan(r.carrier_density) and math.isnan(r.sigma[0]) and "unknown" in r.carrier_source


@pytest.mark.parametrize("kw, match", [
    (dict(temperatures=[300, -5]), "temperatures"),
    (dict(temperatures=[]), "temperatures"),
    (dict(rates="quantum"), "rates"),
    (dict(method="md"), "method"),
    (dict(attempt_frequency=0), "attempt_frequency"),
    (dict(haven_ratio=-1), "haven_ratio"),
    (dict(carrier_density=-1.0), "carrier_density"),
])
def test_bad_options_raise(lfp, kw, match):
    kw.setdefault("temperatures", [300])
    with pytest.raises(TransportError, match=match):
        transport(lfp, **kw)
    assert issubclass(TransportError, ValueError)


def test_bad_input_type_raises():
    with pytest.raises(TransportError, match="EnergyGrid"):
        transport(np.zeros((4, 4, 4)), [300])


def test_to_dict_is_json_and_has_the_documented_keys(lfp_T):
    d = json.loads(json.dumps(lfp_T.to_dict()))
    assert set(d) >= {"temperatures_K", "D_cm2_s", "D_mean_cm2_s", "ea_eV", "sigma_S_cm", "carrier_density_cm3",
                      "dimensionality"}
    assert np.array(d["D_cm2_s"]).shape == (8, 3, 3) and d["dimensionality"][0] == 1
    assert isinstance(lfp_T, TransportResult) and "Ea" in lfp_T.summary()
    with pytest.raises(TransportError, match="not computed"):
        lfp_T.dimensionality(123.0)


def test_ea_range_selects_the_fit(lfp_T, lfp):
    r = transport(lfp, lfp_T.temperatures, ea_range=(300, 500))
    kt = KB_EV * np.array([300.0, 400.0, 500.0])
    slope = np.polyfit(1 / kt, np.log(lfp_T.D_mean[:3]), 1)[0]
    assert r.ea == pytest.approx(-slope, rel=1e-9) and r.ea_range == (300.0, 500.0)
    assert r.D0 * np.exp(-r.ea / kt[0]) == pytest.approx(lfp_T.D_mean[0], rel=0.05)


# ----------------------------------------------------------------------------- NEB paths
def test_percolation_path_is_neb_ready(lfp_T, lfp, tmp_path):
    s = lfp.sites()
    p = lfp_T.percolation_path(n_images=7)
    assert len(p.energies) == 9 and p.n_images == 7
    # end points at site minima, one period apart along b
    site0 = p.sites[0]
    assert p.sites[-1] == site0 and [abs(x) for x in p.image] == [0, 1, 0]
    np.testing.assert_allclose(p.frac_coords[0], s.frac_coords[site0], atol=1e-12)
    np.testing.assert_allclose(p.frac_coords[-1], s.frac_coords[site0] + p.image, atol=1e-12)
    assert p.energies[0] == pytest.approx(s.energies[site0]) and p.energies[-1] == pytest.approx(s.energies[site0])
    # the highest image is the bottleneck saddle, within one grid step of its energy
    ec = lfp_T.percolation_energy[1]
    e = lfp.grid.energies - lfp.e_min
    step = np.max(np.abs(np.diff(p.path_energies)))  # largest energy change over one grid step on the path
    assert abs(p.energies.max() - ec) <= step
    assert max(p.saddle_energies) == pytest.approx(ec)
    # a continuous path: consecutive grid nodes are neighbours (one grid step)
    assert np.all(np.abs(np.diff(p.path_frac, axis=0)) <= 1.0 / np.array(e.shape) + 1e-9)
    # VASP folders and the ASE trajectory read back
    files = p.write_neb(tmp_path / "neb")
    from ase.io import read
    from pymatgen.io.vasp import Poscar

    assert sorted(os.listdir(tmp_path / "neb")) == [f"{k:02d}" for k in range(9)] + ["neb.traj", "path.json"]
    for k in range(9):
        st = Poscar.from_file(tmp_path / "neb" / f"{k:02d}" / "POSCAR").structure
        assert st.composition.formula.split() == ["Li1", "Fe4", "P4", "O16"] or dict(st.composition.as_dict()) == {"Li": 1, "Fe": 4, "P": 4, "O": 16}
        np.testing.assert_allclose(st[-1].frac_coords, p.frac_coords[k], atol=1e-6)
    traj = read(str(tmp_path / "neb" / "neb.traj"), ":")
    assert len(traj) == 9
    np.testing.assert_allclose(traj[4].get_scaled_positions(wrap=False)[-1], p.frac_coords[4], atol=1e-6)
    assert traj[0].get_potential_energy() == pytest.approx(lfp.e_min + p.energies[0])
    assert len(files) == 11
    with pytest.raises(ExportError, match="not empty"):
        p.write_neb(tmp_path / "neb")
    p.write_neb(tmp_path / "neb", force=True)


def test_site_to_site_path(lfp_T, lfp):
    s = lfp.sites()
    p = lfp_T.path(0, 2, n_images=5)
    assert p.sites[0] == 0 and p.sites[-1] == 2 and len(p.energies) == 7
    np.testing.assert_allclose(p.frac_coords[-1], s.frac_coords[2] + p.image, atol=1e-12)
    assert p.energies[-1] == pytest.approx(s.energies[2])
    # the minimax path between two sites of one channel crosses at most the percolation barrier
    assert max(p.saddle_energies) <= lfp_T.percolation_energy[1] + 1e-12
    with pytest.raises(TransportError, match="same site"):
        lfp_T.path(1, 1)
    with pytest.raises(TransportError, match="site number"):
        lfp_T.path(0, 999)


def test_paths_need_a_grid():
    s = graph([0.0], [[0, 0, 0]], [[0, 0]], [[1, 0, 0]], [0.3], np.eye(3))
    with pytest.raises(TransportError, match="need the grid"):
        transport(s, [300]).percolation_path()


# ----------------------------------------------------------------------------- CLI
def cli(capsys, *args):
    """Run the command line in this process: (exit code, stdout, stderr)."""
    from ionnet.cli import main

    try:
        rc = main([str(a) for a in args])
    except SystemExit as e:  # argparse usage errors
        rc = e.code
    out = capsys.readouterr()
    return rc, out.out, out.err


def cli_subprocess(*args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "ionnet.cli", *map(str, args)], capture_output=True, text=True,
                          env=env)


@pytest.fixture(scope="module")
def lfp_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("tr") / "lfp.npz"
    example_grid("LiFePO4_bvse").save(p)
    return p


def test_temperature_list_parser():
    from ionnet.commands.transport import temperature_list

    assert temperature_list("300,400,...,1000") == [300.0 + 100 * k for k in range(8)]
    assert temperature_list("300,350,...,400") == [300.0, 350.0, 400.0]
    assert temperature_list("300, 600,1000") == [300.0, 600.0, 1000.0]
    for bad in ("300,...,1000", "a,b", "300,-1", "300,400,...,200"):
        with pytest.raises(Exception, match="temperatures"):
            temperature_list(bad)


def test_cli_transport_json(lfp_file, capsys):
    rc, out, err = cli(capsys, "transport", lfp_file, "--temperatures", "300,400,...,1000", "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["temperatures_K"] == [300.0 + 100 * k for k in range(8)]
    assert set(d) >= {"temperatures_K", "D_cm2_s", "D_mean_cm2_s", "ea_eV", "sigma_S_cm", "carrier_density_cm3",
                      "dimensionality"}
    assert d["dimensionality"][0] == 1 and abs(d["ea_eV"] - ionnet.analyze(example_grid("LiFePO4_bvse")).mpe) < 0.1
    D = np.array(d["D_cm2_s"][0])
    assert np.argmax(np.diag(D)) == 1  # along b
    rc, out, _ = cli(capsys, "transport", lfp_file, "--temperatures", "300,600", "--rates", "grid")
    assert rc == 0 and "Ea =" in out and "grid rates" in out
    rc, _, err = cli(capsys, "transport", lfp_file, "--temperatures", "hot")
    assert rc == 2 and "temperatures" in err


def test_cli_transport_scans_a_cif(lfp):
    # as a user runs it (a real process), scanning the bundled CIF with BVSE; the bundled grid is
    # that scan with the default settings, so Ea lies near its MPE
    r = cli_subprocess("transport", ionnet.io.example_path("LiFePO4"), "--model", "bvse", "--framework", "empty",
                       "--temperatures", "300,600,1000", "--json", "--no-progress")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["dimensionality"][0] == 1 and abs(d["ea_eV"] - lfp.mpe) < 0.1
    D = np.array(d["D_cm2_s"][0])
    assert np.argmax(np.diag(D)) == 1  # along b
    assert d["carrier_density_cm3"] == pytest.approx(4 / (ionnet.io.example_structure("LiFePO4").volume * 1e-24))


def test_cli_path_writes_and_refuses_to_overwrite(lfp_file, tmp_path, capsys):
    out = tmp_path / "neb"
    rc, _, err = cli(capsys, "path", lfp_file, "--images", "7", "-o", out)
    assert rc == 0, err
    assert (out / "00" / "POSCAR").exists() and (out / "08" / "POSCAR").exists() and (out / "neb.traj").exists()
    rc, _, err = cli(capsys, "path", lfp_file, "-o", out)
    assert rc == 1 and "--force" in err
    rc, stdout, err = cli(capsys, "path", lfp_file, "-o", out, "--force", "--sites", "0", "2", "--images", "3", "--json")
    assert rc == 0, err
    assert json.loads(stdout)["sites"][0] == 0


def test_import_ionnet_stays_light():
    code = "import sys, ionnet.diffusion, ionnet.core.transport; " \
           "print(any(m in sys.modules for m in ('pymatgen', 'torch', 'ase', 'pyvista')))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=os.getcwd()))
    assert r.stdout.strip() == "False", r.stderr


@pytest.mark.parametrize("name", ["ionnet.core.transport", "ionnet.diffusion"])
def test_packages_export_their_public_names(name):
    # the split packages keep the old module's API (their examples run in tests/test_doctests.py)
    mod = importlib.import_module(name)
    assert all(callable(getattr(mod, n)) or isinstance(getattr(mod, n), float) for n in mod.__all__)
    assert ionnet.transport is ionnet.diffusion.transport
    assert callable(ionnet.diffusion.IonPath.write_neb) and ionnet.diffusion.TransportResult.__module__.startswith(
        "ionnet.diffusion")


def test_connectivity_26_site_graph(tmp_path):
    # 26-neighbour site graph: lower MPE, smoother path; grid rates fall back to one face for
    # saddles crossed only diagonally
    a = ionnet.analyze(example_grid("LiFePO4_bvse"), connectivity=26)
    r = transport(a, [300, 600, 1000])
    g = transport(a, [300, 600, 1000], rates="grid")
    assert list(r.dimensionality()) == [1, 1, 1] and list(g.dimensionality()) == [1, 1, 1]
    assert r.percolation_energy[1] == pytest.approx(a.percolation_energy_any[1])
    assert abs(r.ea - a.mpe) < 0.01 and abs(g.ea - r.ea) < 0.03
    p = r.percolation_path(n_images=5)
    assert p.energies.max() == pytest.approx(r.percolation_energy[1]) and [abs(x) for x in p.image] == [0, 1, 0]
