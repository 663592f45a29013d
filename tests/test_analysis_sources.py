"""Sources of ``analyze`` (docs/conventions.md, "Sources"): known answers on constructed fields."""
from __future__ import annotations

import numpy as np
import pytest

import ionnet
from ionnet import EnergyGrid
from ionnet.core.sources import descend, float_tolerance, min_sources, nearest_nodes
from ionnet.data import cosine_field
from ionnet.errors import GridError

N = 12


def sealed_pocket(depth: float = 1e-5) -> EnergyGrid:
    """Walls at 1 eV; a channel along a (j = k = 0) with barrier 0.05 eV; a sealed pocket ``depth`` below it.

    The mobile ion's two sites are the channel minimum (0, 0, 0) and the pocket (1/2, 1/2, 1/2).
    """
    e = np.full((N, 6, 6), 1.0)
    i = np.arange(N)
    e[:, 0, 0] = 0.05 * (1 - np.cos(2 * np.pi * i / N)) / 2
    e[N // 2, 3, 3] = -depth
    return EnergyGrid(e, np.diag([6.0, 3.0, 3.0]),
                      metadata={"mobile_sites_frac": [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]], "n_mobile": 2})


def test_sealed_pocket_sites():
    """Both equilibrium sites are sources: the channel percolates at 0.05 eV above the (pocket's) minimum."""
    r = ionnet.analyze(sealed_pocket())
    assert r.source_mode == "sites" and r.sources.size == 2
    assert r.e_min == pytest.approx(-1e-5)
    assert r.mpe == pytest.approx(0.05 + 1e-5, abs=1e-12)
    assert r.percolation_directions[1] == [[1, 0, 0]]
    assert r.percolation_energy[2] == pytest.approx(1.0 + 1e-5, abs=1e-12)  # through the walls


def test_sealed_pocket_mpe_supercell_not_above_mpe():
    """mpe_supercell seeds every source: from the channel it reaches the tile's surface at 0.05 eV."""
    r = ionnet.analyze(sealed_pocket())
    assert r.mpe_supercell <= r.mpe
    assert r.mpe_supercell == pytest.approx(0.05 + 1e-5, abs=1e-12)


def test_sealed_pocket_bare_grid_min():
    """Without sites, the deeper pocket alone is the source (1e-5 eV is far above the float tolerance at 1 eV)."""
    g = sealed_pocket()
    bare = EnergyGrid(g.energies, g.lattice)
    r = ionnet.analyze(bare)
    assert r.source_mode == "min" and r.sources.tolist() == [int(np.ravel_multi_index((N // 2, 3, 3), g.shape))]
    assert r.mpe == pytest.approx(1.0 + 1e-5)
    assert ionnet.analyze(g, source="min").mpe == pytest.approx(r.mpe)


@pytest.mark.parametrize("offset", [0.0, -174.0])
def test_bare_grid_float_noise(offset):
    """Two equivalent minima per cell (the 2x1x1 tile of a cosine field, plus an M3GNet-like total-energy
    offset) stay sources under noise of a few float32 ulps; thresholds and FV are the cell's."""
    cell = cosine_field((8, 8, 8), (0.1, 0.3, 0.5)) + offset
    tol = float_tolerance(cell)
    rng = np.random.default_rng(0)
    tiled = np.tile(cell, (2, 1, 1)) + rng.uniform(-0.4, 0.4, size=(16, 8, 8)) * tol
    a = ionnet.analyze(cell, lattice=np.eye(3) * 5.0)
    b = ionnet.analyze(tiled, lattice=np.diag([10.0, 5.0, 5.0]))
    assert b.source_mode == "min" and b.sources.size == 2
    for d in (1, 2, 3):
        assert b.percolation_energy[d] == pytest.approx(a.percolation_energy[d], abs=2 * tol + 1e-12)
    ts = [0.15, 0.45, 0.85, 1.25]  # away from the field's node levels (sums of a (1 - cos(2 pi i / 8)))
    np.testing.assert_allclose(b.free_volume(ts), a.free_volume(ts))


def test_source_tol_absolute():
    e = np.full((4, 4, 4), 1.0)
    e[0, 0, 0] = 0.0
    e[2, 2, 2] = 1e-3
    assert min_sources(e).sum() == 1
    assert min_sources(e, tol=2e-3).sum() == 2
    assert ionnet.analyze(e, lattice=np.eye(3), source_tol=2e-3).sources.size == 2


def test_descend_periodic_and_forbidden():
    e = np.full((6, 1, 1), 5.0)
    e[:, 0, 0] = [0.0, 1.0, 2.0, np.inf, 3.0, 0.5]
    # from 4 (3.0): neighbours 3 (inf) and 5 (0.5) -> 5 -> wraps to 0 (0.0)
    assert descend(e, [4, 3, 2]).tolist() == [0, 0, 0]
    assert nearest_nodes((6, 1, 1), [[0.99, 0.0, 0.0], [0.41, 0.2, 0.9]]).tolist() == [0, 2]


def test_source_errors():
    e = cosine_field((4, 4, 4), (0.1, 0.1, 0.1))
    with pytest.raises(GridError, match="mobile_sites_frac"):
        ionnet.analyze(e, lattice=np.eye(3), source="sites")
    with pytest.raises(GridError, match="`source` must be"):
        ionnet.analyze(e, lattice=np.eye(3), source="nowhere")
