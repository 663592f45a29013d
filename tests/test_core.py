"""Known-answer and reference tests of the core sweep (ionnet.analyze)."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ionnet
from ionnet import EnergyGrid, GridError, analyze

from ionnet.data import cosine_field, random_field, two_well_field
from reference import minimax_levels, thresholds


def axis(n):
    return np.arange(n) / n


def cos_range(n):
    """max - min of cos(2π i/n) over the grid nodes i = 0..n-1."""
    v = np.cos(2 * np.pi * np.arange(n) / n)
    return v.max() - v.min()


# ----------------------------------------------------------------- known answers
@pytest.mark.parametrize("shape", [(8, 8, 8), (10, 12, 14), (7, 9, 11), (5, 6, 5)])
@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 2, 0)])
@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_separable_field_thresholds_in_closed_form(shape, perm, connectivity):
    # amplitudes A < B < C assigned to axes in the order given by perm
    amps = np.empty(3)
    amps[list(perm)] = [0.1, 0.3, 0.5]
    E = cosine_field(shape, amps)
    r = analyze(E, lattice=np.diag([4.0, 5.0, 6.0]), connectivity=connectivity)
    # crossing axis k costs amps[k] * (range of cos on that axis's nodes); cheapest axes first
    cost = sorted((amps[k] * cos_range(shape[k]), k) for k in range(3))
    for d in (1, 2, 3):
        assert r.percolation_energy[d] == pytest.approx(cost[d - 1][0], abs=1e-12)
        expected_dirs = {tuple(np.eye(3, dtype=int)[cost[q][1]]) for q in range(d)}
        assert {tuple(v) for v in r.percolation_directions[d]} == expected_dirs
    assert r.mpe == r.percolation_energy[1]
    assert r.e_min == pytest.approx(E.min())


def test_separable_field_free_volume_limits():
    E = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))
    r = analyze(E, lattice=np.eye(3) * 5)
    # everything is reachable at the highest energy (1.8 eV above the minimum), nothing below zero
    assert r.free_volume(1.8 + 1e-12) == 1.0
    assert r.free_volume(1.8 - 1e-6) < 1.0
    assert r.free_volume(-1e-9) == 0.0
    ts, fv = r.fv_curve(np.linspace(0, 2, 41))
    assert np.all(np.diff(fv) >= 0)


def test_barrier_of_a_two_site_cell_and_site_graph():
    # two equal minima per cell along a (cos 4πx), barrier 2A between them
    A, B, C = 0.2, 0.4, 0.7
    E = two_well_field((16, 8, 8), barrier=A, tilt=0.0, amplitudes=(B, C))
    r = analyze(E, lattice=np.diag([8.0, 4.0, 4.0]), connectivity=6)  # face neighbours: edges along a, b, c only
    assert r.mpe == pytest.approx(2 * A)
    assert r.percolation_directions[1] == [[1, 0, 0]]
    assert len(r.sources) == 2  # both equivalent minima are equilibrium positions
    sg = r.sites(min_depth=0.01)
    assert sg.n_sites == 2
    np.testing.assert_allclose(sorted(sg.frac_coords[:, 0]), [0.25, 0.75])
    edges = {(int(i), int(j), tuple(int(v) for v in im)): e
             for (i, j), im, e in zip(sg.edges, sg.images, sg.saddle_energies)}
    # the two sites are joined twice along a (inside the cell and across its face)
    between = {k: v for k, v in edges.items() if k[0] != k[1]}
    assert sorted(k[2] for k in between) == [(-1, 0, 0), (0, 0, 0)] or sorted(k[2] for k in between) == [(0, 0, 0), (1, 0, 0)]
    assert all(v == pytest.approx(2 * A) for v in between.values())
    # each site reaches its own images along b and c over barriers 2B and 2C
    for s in (0, 1):
        assert edges[(s, s, (0, 1, 0))] == pytest.approx(2 * B)
        assert edges[(s, s, (0, 0, 1))] == pytest.approx(2 * C)


def test_diagonal_channel_converges_with_grid_refinement():
    """A valley along [1,1,0]: 26-connectivity follows it exactly, 6-connectivity pays A(1-cos 2π/n)."""
    A, C = 0.5, 1.0
    diffs = []
    for n in (8, 16, 32, 64):
        x, y, z = np.meshgrid(axis(n), axis(n), axis(4), indexing="ij")
        E = -A * np.cos(2 * np.pi * (x - y)) + C * np.cos(2 * np.pi * z)
        r6 = analyze(E, lattice=np.diag([5.0, 5.0, 3.0]), connectivity=6)
        r26 = analyze(E, lattice=np.diag([5.0, 5.0, 3.0]), connectivity=26)
        assert r26.mpe == pytest.approx(0.0, abs=1e-12)
        assert r26.percolation_directions[1] == [[1, 1, 0]]
        assert r6.mpe == pytest.approx(A * (1 - np.cos(2 * np.pi / n)), rel=1e-9)
        diffs.append(r6.mpe - r26.mpe)
    assert all(b < a for a, b in zip(diffs, diffs[1:]))
    assert diffs[-1] < 0.01


# ---------------------------------------------------------- independent reference
@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("connectivity", [6, 26])
def test_thresholds_equal_reference_bisection(seed, connectivity):
    shape = [(5, 6, 7), (6, 6, 6), (4, 7, 5)][seed % 3]
    E = random_field(shape, seed, forbidden=0.1 if seed % 2 else 0.0)
    if not np.isfinite(E).any():
        pytest.skip("degenerate field")
    r = analyze(E, lattice=np.eye(3) * 3, connectivity=connectivity)
    srcs = [tuple(int(v) for v in np.unravel_index(s, E.shape)) for s in r.sources]
    assert all(E[s] <= E[np.isfinite(E)].min() + 1e-6 for s in srcs)
    ref = thresholds(E, sources=srcs, connectivity=connectivity)
    for d in (1, 2, 3):
        assert r.percolation_energy[d] + r.e_min == pytest.approx(ref[d], abs=1e-12) or (
            np.isinf(ref[d]) and np.isinf(r.percolation_energy[d])
        )


@pytest.mark.parametrize("shape", [(1, 4, 5), (2, 3, 6), (3, 2, 2), (2, 2, 2), (3, 3, 3)])
@pytest.mark.parametrize("connectivity", [18, 26])
def test_thin_grids_equal_reference_bisection(shape, connectivity):
    """Axes of 1-3 nodes, where 18/26 neighbours repeat or are the node itself: the sweep's skip of
    edges into an already-joined group of neighbours must not lose a winding."""
    for seed in range(4):
        E = random_field(shape, 300 + seed, forbidden=0.0)
        r = analyze(E, lattice=np.eye(3) * 3, connectivity=connectivity)
        srcs = [tuple(int(v) for v in np.unravel_index(s, E.shape)) for s in r.sources]
        ref = thresholds(E, sources=srcs, connectivity=connectivity)
        for d in (1, 2, 3):
            assert r.percolation_energy[d] + r.e_min == pytest.approx(ref[d], abs=1e-12) or (
                np.isinf(ref[d]) and np.isinf(r.percolation_energy[d])
            )


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("seed", range(4))
def test_basin_and_node_sweeps_equal_reference(seed, connectivity):
    """Both sweep kernels (union-find on descent basins, on nodes in energy order) against the
    plain-Python references: thresholds by bisection and the minimax level map; with forbidden
    nodes, ties and axes of 1-3 nodes where neighbours repeat."""
    from ionnet.core.sweep import sweep

    shape = [(5, 6, 7), (1, 4, 5), (2, 3, 6), (3, 2, 2)][seed]
    E = random_field(shape, 500 + seed, forbidden=0.1 if seed % 2 else 0.0)
    if seed >= 2:
        E = np.round(E * 2) / 2  # plateaus of equal energies
    src = np.zeros(E.shape, dtype=bool)
    src[np.unravel_index(np.nanargmin(np.where(np.isfinite(E), E, np.nan)), E.shape)] = True
    srcs = [tuple(int(v) for v in ix) for ix in zip(*np.nonzero(src))]
    ref_thr = thresholds(E, sources=srcs, connectivity=connectivity)
    ref_level = minimax_levels(E, srcs, connectivity)
    for method in ("basins", "nodes"):
        level, thr, *_ = sweep(E, connectivity=connectivity, source=src, method=method)
        np.testing.assert_array_equal(level, ref_level)
        for d in (1, 2, 3):
            assert thr[d - 1] == ref_thr[d] or (np.isinf(thr[d - 1]) and np.isinf(ref_thr[d]))


def test_basin_and_node_sweeps_identical_on_many_grids():
    """Identical outputs of the two kernels on 300 random grids: smooth, rough, plateaus,
    forbidden nodes, open axes, several sources, every connectivity."""
    from scipy.ndimage import gaussian_filter

    from ionnet.core.sweep import sweep

    rng = np.random.default_rng(7)
    for it in range(300):
        shape = tuple(int(x) for x in rng.integers(1, 9, 3))
        E = rng.normal(size=shape)
        kind = it % 4
        if kind == 1:
            E = np.round(E * 2) / 2
        elif kind == 2:
            E = gaussian_filter(E, 1.5, mode="wrap")
        elif kind == 3:
            E[rng.random(shape) < 0.15] = np.inf
        periodic = (True, True, True) if it % 5 else tuple(bool(x) for x in rng.integers(0, 2, 3))
        src = np.zeros(shape, dtype=bool)
        src.ravel()[rng.integers(0, E.size, 1 + it % 3)] = True
        kw = dict(connectivity=(6, 18, 26)[it % 3], source=src, periodic=periodic)
        a = sweep(E, method="basins", **kw)
        b = sweep(E, method="nodes", **kw)
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        np.testing.assert_array_equal(a[3], b[3])
        # the same winding directions: when the d- and higher-dimensional thresholds coincide, any d
        # of the windings closed at that energy may be reported, all in the span of the highest
        for x, y, thr in ((a[2], b[2], a[1]), (a[4], b[4], a[3])):
            for d in range(3):
                if np.isfinite(thr[d]):
                    top = max(k for k in range(3) if thr[k] == thr[d])
                    for p, q in ((x, y), (y, x)):
                        both = np.vstack([p[top, :top + 1], q[d, :d + 1]]).astype(float)
                        assert np.linalg.matrix_rank(both) == top + 1


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("connectivity", [6, 18, 26])
def test_level_map_is_minimax_distance(seed, connectivity):
    E = random_field((6, 5, 7), 100 + seed, forbidden=0.15)
    r = analyze(E, lattice=np.eye(3) * 3, connectivity=connectivity)
    srcs = [tuple(int(v) for v in np.unravel_index(s, E.shape)) for s in r.sources]
    ref = minimax_levels(E, srcs, connectivity) - r.e_min
    np.testing.assert_array_equal(np.isinf(ref), np.isinf(r.level_map))
    fin = np.isfinite(ref)
    np.testing.assert_allclose(r.level_map[fin], ref[fin], atol=1e-12)


def test_source_any_matches_reference_with_all_nodes_as_sources():
    E = random_field((6, 6, 6), 7, forbidden=0.2)
    r = analyze(E, lattice=np.eye(3) * 3, source="any", connectivity=6)
    everywhere = [tuple(int(v) for v in ix) for ix in zip(*np.nonzero(np.isfinite(E)))]
    ref = thresholds(E, sources=everywhere)
    for d in (1, 2, 3):
        got = r.percolation_energy[d] + r.e_min
        assert got == pytest.approx(ref[d]) or (np.isinf(got) and np.isinf(ref[d]))
        # the global-minimum definition is never below the 'any region' one
        assert r.percolation_energy_any[d] <= analyze(E, lattice=np.eye(3) * 3, connectivity=6).percolation_energy[d]


def test_explicit_source_node():
    E = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))
    r = analyze(E, lattice=np.eye(3) * 5, source=(0, 0, 0))  # the global maximum
    assert r.source_mode == "node"
    assert r.e_min == pytest.approx(E[0, 0, 0])
    assert np.all(r.level_map[np.isfinite(r.level_map)] == 0.0)  # every node is below the start
    assert r.percolation_energy[3] == 0.0


# ------------------------------------------------------------------- invariance
def _fv(r):
    return r.free_volume(np.linspace(-0.1, 3, 200))


@pytest.mark.parametrize("connectivity", [6, 26])
@pytest.mark.parametrize("seed", range(4))
def test_invariance_roll_transpose_tile(seed, connectivity):
    E = random_field((6, 7, 5), 40 + seed)
    lat = np.array([[4.0, 0, 0], [1.0, 5.0, 0], [0.5, 0.3, 6.0]])
    base = analyze(E, lattice=lat, connectivity=connectivity)
    rolled = analyze(np.roll(E, (2, -3, 1), axis=(0, 1, 2)), lattice=lat, connectivity=connectivity)
    perm = (2, 0, 1)
    transposed = analyze(np.transpose(E, perm), lattice=lat[list(perm)], connectivity=connectivity)
    tiled = analyze(np.concatenate([E, E], axis=0), lattice=lat * np.array([[2.0], [1.0], [1.0]]),
                    connectivity=connectivity)
    for other in (rolled, transposed, tiled):
        for d in (1, 2, 3):
            assert other.percolation_energy[d] == pytest.approx(base.percolation_energy[d], abs=1e-12)
        np.testing.assert_allclose(_fv(other), _fv(base), atol=1e-12)
    # directions span the same lattice directions once the axes are permuted back; when the
    # d- and (d+1)-dimensional thresholds coincide, the d windings are any d of those closed at
    # that level, so they must lie in the span of the highest dimension reached at that energy
    for d in (1, 2, 3):
        top = max(k for k in (1, 2, 3) if base.percolation_energy[k] == base.percolation_energy[d])
        mapped = [[v[p] for p in perm] for v in base.percolation_directions[top]]
        got = transposed.percolation_directions[d]
        assert len(got) == d and len(mapped) == top
        assert np.linalg.matrix_rank(np.array(mapped + got, dtype=float)) == top


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    shift=st.tuples(st.integers(-6, 6), st.integers(-6, 6), st.integers(-6, 6)),
    connectivity=st.sampled_from([6, 18, 26]),
)
def test_property_origin_shift(seed, shift, connectivity):
    E = random_field((5, 6, 4), seed, forbidden=0.1)
    if not np.isfinite(E).any():
        return
    a = analyze(E, lattice=np.eye(3) * 4, connectivity=connectivity)
    b = analyze(np.roll(E, shift, axis=(0, 1, 2)), lattice=np.eye(3) * 4, connectivity=connectivity)
    assert a.percolation_energy == pytest.approx(b.percolation_energy)
    np.testing.assert_allclose(np.sort(a.level_map, axis=None), np.sort(b.level_map, axis=None))


@pytest.mark.parametrize("seed", range(5))
def test_supercell_mpe_never_above_exact(seed):
    E = random_field((6, 6, 6), 300 + seed)
    r = analyze(E, lattice=np.eye(3) * 3)
    assert r.mpe_supercell <= r.mpe + 1e-12


def test_supercell_mpe_equals_exact_on_separable_field():
    E = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))
    r = analyze(E, lattice=np.eye(3) * 5)
    assert r.mpe_supercell == pytest.approx(r.mpe)


# -------------------------------------------------------------------- vacancy sets
def test_percolation_set_union_and_minimum():
    E1 = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))
    E2 = cosine_field((8, 8, 8), (0.2, 0.3, 0.5)) + 5.0  # another map, its own reference energy
    g1 = EnergyGrid(E1, np.eye(3) * 5, metadata={"multiplicity": 2})
    g2 = EnergyGrid(E2, np.eye(3) * 5, metadata={"multiplicity": 1})
    s = analyze([g1, g2])
    assert len(s) == 2 and s.multiplicities.tolist() == [2, 1]
    assert s.mpe == pytest.approx(0.2)
    ts = np.linspace(0, 2, 30)
    np.testing.assert_allclose(s.free_volume(ts), np.maximum(s[0].free_volume(ts), s[1].free_volume(ts)))


# --------------------------------------------------------------------- exports
def test_networkx_igraph_graphml_roundtrip(tmp_path):
    nx = pytest.importorskip("networkx")
    ig = pytest.importorskip("igraph")
    E = cosine_field((4, 4, 4), (0.1, 0.3, 0.5))
    r = analyze(E, lattice=np.eye(3) * 4, connectivity=6)
    g = r.to_networkx()
    assert g.number_of_nodes() == 64 and g.number_of_edges() == 3 * 64
    gi = r.to_igraph()
    assert gi.vcount() == 64 and gi.ecount() == 3 * 64
    sub = r.to_networkx(threshold=0.3)
    assert all(d["energy"] <= 0.3 for _, d in sub.nodes(data=True))
    assert all(d["weight"] <= 0.3 for *_, d in sub.edges(data=True))
    assert sub.number_of_nodes() == int((E - E.min() <= 0.3).sum())
    # edge weights are the higher node energy; an edge crossing the cell face carries its image
    for u, v, d in g.edges(data=True):
        assert d["weight"] == pytest.approx(max(g.nodes[u]["energy"], g.nodes[v]["energy"]))
    assert any(d["image_a"] != 0 for *_, d in g.edges(data=True))
    path = tmp_path / "grid.graphml"
    r.write_graphml(path)
    back = nx.read_graphml(path)
    assert back.number_of_nodes() == 64 and back.number_of_edges() == 3 * 64
    n0 = back.nodes[str(r.source)]
    assert n0["energy"] == pytest.approx(0.0) and n0["level"] == pytest.approx(0.0)
    gi2 = ig.Graph.Read_GraphML(str(path))
    assert gi2.vcount() == 64 and gi2.ecount() == 3 * 64
    assert set(gi2.vs.attributes()) >= {"energy", "level", "frac_x", "x"}
    assert set(gi2.es.attributes()) >= {"weight", "image_a", "image_b", "image_c"}
    # site graph too
    spath = tmp_path / "sites.graphml"
    r.write_graphml(spath, graph="sites")
    sg = nx.read_graphml(spath)
    assert sg.number_of_nodes() == 1 and sg.number_of_edges() == 3
    assert sorted(d["barrier"] for *_, d in sg.edges(data=True)) == pytest.approx([0.2, 0.6, 1.0])
    assert ig.Graph.Read_GraphML(str(spath)).ecount() == 3


# ------------------------------------------------------------------ grid object
def test_grid_save_load_roundtrip(tmp_path):
    E = random_field((5, 6, 7), 1, forbidden=0.1)
    g = EnergyGrid(E, np.diag([3.0, 4.0, 5.0]), metadata={"ion": "Li", "model": "analytic", "spacing": 0.5})
    g.save(tmp_path / "g.npz")
    h = EnergyGrid.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(h.energies, g.energies)
    np.testing.assert_array_equal(h.lattice, g.lattice)
    assert h.metadata == g.metadata


def test_nan_is_forbidden():
    E = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))
    E[0, :, :] = np.nan  # a wall across a
    r = analyze(E, lattice=np.eye(3) * 4)
    assert r.percolation_directions[1] in ([[0, 1, 0]], [[0, 0, 1]])
    assert np.isinf(r.percolation_energy[3])
    assert np.all(np.isinf(r.level_map[0]))


@pytest.mark.parametrize(
    "energies, lattice, match",
    [
        (np.zeros((4, 4)), np.eye(3), "3D array"),
        (np.zeros((4, 0, 4)), np.eye(3), "zero-size axis"),
        (np.full((3, 3, 3), np.nan), np.eye(3), "no finite value"),
        (np.zeros((3, 3, 3)), np.eye(2), r"\(3, 3\)"),
        (np.zeros((3, 3, 3)), np.zeros((3, 3)), "singular"),
        (np.full((3, 3, 3), -np.inf), np.eye(3), "-inf"),
    ],
)
def test_bad_input_raises_clear_error(energies, lattice, match):
    with pytest.raises(GridError, match=match):
        analyze(energies, lattice=lattice)


def test_bad_options():
    E = np.zeros((3, 3, 3))
    with pytest.raises(GridError, match="connectivity"):
        analyze(E, lattice=np.eye(3), connectivity=8)
    with pytest.raises(GridError, match="lattice"):
        analyze(E)
    with pytest.raises(GridError, match="source"):
        analyze(E, lattice=np.eye(3), source=(5, 0, 0))
    assert issubclass(GridError, ionnet.IonnetError) and issubclass(GridError, ValueError)


def test_load_missing_file_is_clear(tmp_path):
    with pytest.raises(GridError, match="not found"):
        EnergyGrid.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_text("not a grid")
    with pytest.raises(GridError, match="cannot read"):
        EnergyGrid.load(bad)


def test_import_is_light():
    code = (
        "import sys, ionnet; heavy = [m for m in ('torch', 'matgl', 'pyvista', 'igraph', 'pymatgen', 'chgnet', "
        "'networkx', 'ase', 'matplotlib') if m in sys.modules]; print(heavy); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bench_analyze_runs_and_reports_the_analysis_thresholds():
    """benchmarks/bench_analyze.py on a 16^3 field: it runs as documented and prints the 1D/2D/3D
    thresholds of the node-by-node sweep on the same field (the benchmark times the default kernel)."""
    import pathlib

    from ionnet.core.sweep import sweep

    root = pathlib.Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, str(root / "benchmarks" / "bench_analyze.py"), "--sizes", "16",
                          "--repeat", "1", "--bvlain-max", "0"], capture_output=True, text=True, check=True)
    row = next(line for line in out.stdout.splitlines() if line.strip().startswith("16^3"))
    printed = [float(x) for x in row.split()[-1].split("/")]
    sys.path.insert(0, str(root / "benchmarks"))
    try:
        from bench_analyze import smooth_field
    finally:
        sys.path.pop(0)
    E = smooth_field(16)
    _, _, _, thr_any, _ = sweep(E, connectivity=26, method="nodes", source=np.isclose(E, E.min(), atol=0))
    np.testing.assert_allclose(printed, thr_any - E.min(), atol=1e-3)
