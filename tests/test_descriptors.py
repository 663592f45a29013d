"""ionnet.descriptors: Xi and the free volumes against hand-computed answers and the authors' recipe."""
from __future__ import annotations

import numpy as np
import pytest

import ionnet
from ionnet import EnergyGrid
from ionnet.settings import DEFAULT_CONNECTIVITY
from ionnet.descriptors import (
    XI_THRESHOLDS,
    descriptor_row,
    fv_connected,
    fv_disconnected,
    logistic,
    xi,
    xi_components,
    xi_from_fv,
)
from ionnet.data import cosine_field, random_field
from reference import minimax_levels

LAT = np.eye(3) * 5.0


# ------------------------------------------------------------------ formula
@pytest.mark.parametrize(
    "fvc, fvd, expected",
    [
        (0.01, 10 ** -1.15, 0.25),  # both logistic arguments are 0: s(0)^2 = 1/4
        (1.0, 1.0, logistic(20.0) * logistic(11.5)),
        (0.1, 10 ** -1.15, 0.5 * logistic(10.0)),
        (0.0, 0.3, 0.0),  # log10(0) = -inf: s = 0
        (0.3, 0.0, 0.0),
    ],
)
def test_xi_formula(fvc, fvd, expected):
    assert xi_from_fv(fvc, fvd) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_xi_formula_rejects_negative_volume():
    with pytest.raises(ValueError, match="must be >= 0"):
        xi_from_fv(-0.1, 0.5)


def test_thresholds_are_the_authors_smearing():
    # pes_fingerprint process_structure: fvl_smearing = [-0.04, -0.02, 0.0, 0.02, 0.04] around 0.5 eV
    assert sorted(XI_THRESHOLDS) == pytest.approx([0.46, 0.48, 0.5, 0.52, 0.54])


# ------------------------------------------------------------ free volumes
def _pocket_grid(n=6, nodes=((2, 2, 2), (3, 2, 2)), low=0.0, high=5.0):
    E = np.full((n, n, n), high)
    for k, ijk in enumerate(nodes):
        E[ijk] = low + 0.01 * k
    return E


def test_strict_threshold():
    E = np.full((4, 4, 4), 2.0)
    E[0, 0, 0] = 0.0
    E[1, 0, 0] = 0.5  # exactly at the threshold: not counted (strict <, as the authors)
    r = ionnet.analyze(E, lattice=LAT)
    assert fv_disconnected(r, 0.5) == pytest.approx(1 / 64)
    assert fv_disconnected(r, 0.5000001) == pytest.approx(2 / 64)
    assert fv_connected(r, 0.5, method="cell") == pytest.approx(1 / 64)


@pytest.mark.parametrize("n", [4, 6])
def test_supercell_weights_pocket_channel_sheet_network(n):
    """Open 2x2x2 supercell centred on the minimum: a region counts once per supercell."""
    hi = 5.0
    # 0D pocket of 2 nodes: 2 / (8 n^3)
    r = ionnet.analyze(_pocket_grid(n), lattice=LAT)
    assert fv_connected(r, 0.5) == pytest.approx(2 / (8 * n**3))
    assert fv_connected(r, 0.5, method="cell") == pytest.approx(2 / n**3)
    # 1D channel along a through the minimum: 2n nodes of the supercell
    E = np.full((n, n, n), hi)
    E[:, 1, 2] = 0.1
    E[3, 1, 2] = 0.0
    r = ionnet.analyze(E, lattice=LAT)
    assert fv_connected(r, 0.5) == pytest.approx(2 * n / (8 * n**3))
    assert fv_connected(r, 0.5, method="cell") == pytest.approx(n / n**3)
    # 2D sheet (a, b): (2n)^2 nodes
    E = np.full((n, n, n), hi)
    E[:, :, 1] = 0.1
    E[0, 2, 1] = 0.0
    r = ionnet.analyze(E, lattice=LAT)
    assert fv_connected(r, 0.5) == pytest.approx(4 * n**2 / (8 * n**3))
    # 3D: everything below the threshold
    r = ionnet.analyze(0.1 * random_field((n, n, n), seed=1) / 10, lattice=LAT)
    assert fv_connected(r, 0.5) == 1.0 and fv_disconnected(r, 0.5) == 1.0


def test_disconnected_counts_unreachable_low_nodes():
    E = _pocket_grid(6, nodes=((0, 0, 0), (3, 3, 3)))  # two separate pockets, 0.0 and 0.01 eV
    r = ionnet.analyze(E, lattice=LAT)
    assert fv_disconnected(r, 0.5) == pytest.approx(2 / 216)
    assert fv_connected(r, 0.5, method="cell") == pytest.approx(1 / 216)
    assert fv_connected(r, 0.5) == pytest.approx(1 / (8 * 216))


def test_union_over_maps_each_from_its_own_minimum():
    a = _pocket_grid(6, nodes=((1, 1, 1),))
    b = _pocket_grid(6, nodes=((4, 4, 4),)) + 7.0  # another ion, another absolute energy
    ra = ionnet.analyze([EnergyGrid(a, LAT)])
    rab = ionnet.analyze([EnergyGrid(a, LAT), EnergyGrid(b, LAT)])
    raa = ionnet.analyze([EnergyGrid(a, LAT), EnergyGrid(a + 3.0, LAT)])
    assert fv_disconnected(rab, 0.5) == pytest.approx(2 * fv_disconnected(ra, 0.5))  # disjoint: sum
    assert fv_connected(rab, 0.5) == pytest.approx(2 * fv_connected(ra, 0.5))
    assert fv_disconnected(raa, 0.5) == fv_disconnected(ra, 0.5)  # identical regions: counted once
    assert fv_connected(raa, 0.5) == fv_connected(ra, 0.5)


def test_maps_of_different_shapes_are_refused():
    s = ionnet.analyze([EnergyGrid(np.zeros((4, 4, 4)), LAT), EnergyGrid(np.zeros((4, 4, 5)), LAT)])
    with pytest.raises(ionnet.GridError, match="different grid shapes"):
        xi(s)


def _authors_fvc(maps, t, connectivity):
    """The authors' connected free volume, rebuilt independently (Dijkstra levels, explicit wrap).

    pes_fingerprint: BarrierCalculator._wrap_pes (tile 3x3x3, slice 2n+1 from the minimum), levels on the
    open supercell, face fix over periodic copies, shift_map to a common frame, union, ``< t`` over (2n)^3.
    """
    union = None
    for E in maps:
        n = np.array(E.shape)
        imin = np.unravel_index(np.argmin(E), E.shape)
        W = np.tile(E, (3, 3, 3))[tuple(slice(i, i + 2 * k + 1) for i, k in zip(imin, n))]
        P = np.pad(W, 1, constant_values=np.inf)  # open boundaries for a periodic search
        L = minimax_levels(P, [tuple(int(k) + 1 for k in n)], connectivity)[1:-1, 1:-1, 1:-1] - E.min()
        for ax in range(3):
            first = [slice(None)] * 3
            last = [slice(None)] * 3
            first[ax], last[ax] = 0, -1
            L[tuple(first)] = np.minimum(L[tuple(first)], L[tuple(last)])
        L = L[: 2 * n[0], : 2 * n[1], : 2 * n[2]]
        L = np.roll(L, tuple(int(i) - int(k) for i, k in zip(imin, n)), axis=(0, 1, 2))
        union = L if union is None else np.minimum(union, L)
    return float(np.mean(union < t))


@pytest.mark.parametrize("seed, shape, n_maps, connectivity",
                         [(0, (5, 6, 4), 1, 26), (1, (4, 5, 5), 2, 26), (2, (6, 4, 5), 2, 6), (3, (5, 5, 5), 3, 18)])
def test_supercell_fvc_matches_independent_authors_recipe(seed, shape, n_maps, connectivity):
    rng = np.random.default_rng(seed)
    maps = [0.6 * random_field(shape, seed=seed * 10 + k) + rng.normal() for k in range(n_maps)]
    res = ionnet.analyze([EnergyGrid(m, LAT) for m in maps], connectivity=connectivity)
    for t in (0.3, 0.5, 0.8):
        assert fv_connected(res, t) == pytest.approx(_authors_fvc(maps, t, connectivity), abs=1e-12)


@pytest.mark.parametrize("shift", [(1, 0, 0), (0, 2, 1), (3, 1, 2)])
def test_descriptors_invariant_under_periodic_translation(shift):
    E = 0.8 * random_field((6, 5, 7), seed=4)
    r0 = ionnet.analyze(E, lattice=LAT)
    r1 = ionnet.analyze(np.roll(E, shift, axis=(0, 1, 2)), lattice=LAT)
    for method in ("supercell", "cell"):
        assert xi_components(r0, method=method) == pytest.approx(xi_components(r1, method=method))


# ---------------------------------------------------------------------- Xi
def test_xi_averages_free_volumes_before_the_logistic():
    """Authors: Xi(mean FVc, mean FVd) over the 5 thresholds, not the mean of 5 Xi values."""
    n = 10
    E = np.full((n, n, n), 3.0)
    levels = [0.0, 0.45, 0.47, 0.49, 0.51, 0.53, 0.55]  # one node crosses between each pair of thresholds
    for k, v in enumerate(levels):
        E[k, 0, 0] = v
    r = ionnet.analyze(E, lattice=LAT)
    ts = np.array(XI_THRESHOLDS)
    fvc = fv_connected(r, ts)
    fvd = fv_disconnected(r, ts)
    assert len(set(fvc.tolist())) == 5  # the volumes really differ across thresholds
    expected = xi_from_fv(fvc.mean(), fvd.mean())
    assert xi(r) == pytest.approx(expected, rel=1e-12)
    assert xi(r) != pytest.approx(np.mean(xi_from_fv(fvc, fvd)), rel=1e-6)
    c = xi_components(r)
    assert c["fvc"] == pytest.approx(fvc.mean()) and c["fvd"] == pytest.approx(fvd.mean())
    # the chain: k + 1 nodes below threshold 0.46 + 0.02 k, 1 + k for k = 0..4 -> mean of 2..6 = 4 nodes
    assert c["fvd"] == pytest.approx(4 / n**3)
    assert c["fvc"] == pytest.approx(4 / (8 * n**3))


def test_descriptor_row_keys_and_values():
    r = ionnet.analyze(cosine_field((8, 8, 8), (0.1, 0.3, 0.5)), lattice=LAT)
    row = descriptor_row(r, thresholds=(0.5, 0.9))
    assert row["mpe"] == pytest.approx(0.2) and row["e2d"] == pytest.approx(0.6) and row["e3d"] == pytest.approx(1.0)
    assert row["fv_0.5"] == r.free_volume(0.5) and row["fv_0.9"] == r.free_volume(0.9)
    assert row["xi"] == pytest.approx(xi(r)) and row["xi_cell"] == pytest.approx(xi(r, method="cell"))
    assert row["e_min"] == pytest.approx(-0.9)
    assert row["grid_shape"] == [8, 8, 8] and row["n_maps"] == 1 and row["connectivity"] == DEFAULT_CONNECTIVITY
    assert row["n_sites"] == r.sites().n_sites
    # never percolating: None, JSON-ready
    row = descriptor_row(ionnet.analyze(_pocket_grid(high=np.inf), lattice=LAT))
    assert row["mpe"] is None and row["e3d"] is None
    import json

    json.dumps(row)


def test_fv_connected_bad_method():
    r = ionnet.analyze(_pocket_grid(), lattice=LAT)
    with pytest.raises(ValueError, match="`method` must be"):
        fv_connected(r, 0.5, method="torus")
