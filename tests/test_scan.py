"""``ionnet.scan``: known answers with an analytic pair potential, exactness of the
speed levers (symmetry, exclusion, refine), origin-shift invariance, vacancy maps,
checkpoint resume and one-line errors for every bad input."""
from __future__ import annotations

import importlib
import os

import numpy as np
import pytest

pytest.importorskip("pymatgen")
pytest.importorskip("spglib")

import ionnet  # noqa: E402
from ionnet.errors import GridError, IonnetError, ModelError, ResourceError, StructureError  # noqa: E402
from ionnet.io import example_structure  # noqa: E402

scan_mod = importlib.import_module("ionnet.scanning")
scan = scan_mod.scan
ScanError = scan_mod.ScanError

from conftest import SHARED_DATA

DATA = str(SHARED_DATA)
needs_shared = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"shared data folder {SHARED_DATA} missing")


# ----------------------------------------------------------------------------- test potential
class PairPotential:
    """Analytic probe-framework energy: sum over atoms and periodic images of A exp(-r / 0.3 Å).

    A = 300 eV for O/N, 100 eV for every other element; cut off at 6 Å.  It has the
    protocol of ``ionnet.potentials`` and counts the points it evaluates.
    """

    name = "pair"

    def __init__(self, cutoff: float = 6.0, fail_after_calls: int | None = None, unknown=()):
        self.cutoff = cutoff
        self.calls = 0
        self.points = 0
        self.fail_after_calls = fail_after_calls
        self.unknown = set(unknown)

    def supports(self, elements):
        bad = sorted(set(elements) & self.unknown)
        if bad:
            raise ModelError(f"model 'pair' does not support element(s) {', '.join(bad)}")

    def energies(self, framework, ion, frac_coords, *, batch_size=None, progress=False):
        if self.fail_after_calls is not None and self.calls >= self.fail_after_calls:
            raise KeyboardInterrupt("simulated interruption")
        self.calls += 1
        frac = np.asarray(frac_coords, dtype=np.float64)
        self.points += len(frac)
        return pair_energy(framework, frac, self.cutoff)


def pair_energy(framework, frac, cutoff=6.0):
    lat = np.asarray(framework.lattice.matrix)
    m = np.ceil(cutoff * np.linalg.norm(np.linalg.inv(lat).T, axis=1)).astype(int)
    images = np.array(np.meshgrid(*[np.arange(-k, k + 1) for k in m], indexing="ij")).reshape(3, -1).T
    out = np.zeros(len(frac))
    for site in framework:
        a = 300.0 if site.specie.symbol in ("O", "N") else 100.0
        d = (frac - site.frac_coords) % 1.0
        r = np.linalg.norm((d[:, None, :] + images[None]) @ lat, axis=-1)
        out += np.sum(np.where(r < cutoff, a * np.exp(-r / 0.3), 0.0), axis=1)
    return out


def thresholds(grids):
    r = ionnet.analyze(grids)
    return [r.percolation_energy[d] for d in (1, 2, 3)] + [r.free_volume(t) for t in (0.5, 0.9, 1.5)]


@pytest.fixture(scope="module")
def lfp():
    """Olivine LiFePO4 (Pnma, 28 atoms) refined to exact symmetry from the bundled example."""
    import warnings

    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's error-handling notice
        return SpacegroupAnalyzer(example_structure("LiFePO4"), symprec=0.1).get_refined_structure()


SHAPE = (36, 22, 16)  # ~0.29 Å, compatible with Pnma
DENSE = dict(symmetry=False, min_distance=0, ceiling=None)


@pytest.fixture(scope="module")
def dense(lfp):
    out = {}
    for fw in ("empty", "occupied"):
        p = PairPotential()
        out[fw] = (scan(lfp, "Li", p, shape=SHAPE, framework=fw, progress=False, **DENSE), p.points)
    return out


# ----------------------------------------------------------------------------- known answers
@pytest.mark.parametrize("framework", ["empty", "occupied"])
@pytest.mark.parametrize("symmetry", [True, False])
def test_energies_equal_the_analytic_function_at_the_nodes(lfp, framework, symmetry):
    g = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework=framework, symmetry=symmetry, progress=False)
    g = g[0]
    fin = np.isfinite(g.energies).ravel()
    ref = pair_energy(g.structure, g.frac_coords()[fin])
    np.testing.assert_allclose(g.energies.ravel()[fin], ref, rtol=1e-10, atol=1e-9)
    assert g.shape == SHAPE
    assert g.metadata["n_excluded"] > 0  # exclusion was active ...
    # ... and the +inf nodes are excluded nodes the frontier check did not need
    assert (~fin).sum() == g.metadata["n_forbidden"]
    assert 0 < g.metadata["n_forbidden"] < g.metadata["n_excluded"]


@pytest.mark.parametrize("framework", ["empty", "occupied"])
@pytest.mark.parametrize(
    "levers",
    [dict(), dict(min_distance=0), dict(symmetry=False), dict(refine=True), dict(refine=True, min_distance=0)],
    ids=["symmetry+exclusion", "symmetry", "exclusion", "refine+all", "refine+symmetry"],
)
def test_speed_levers_do_not_move_any_threshold(lfp, dense, framework, levers):
    ref_grids, ref_points = dense[framework]
    p = PairPotential()
    grids = scan(lfp, "Li", p, shape=SHAPE, framework=framework, progress=False, **levers)
    np.testing.assert_allclose(thresholds(grids), thresholds(ref_grids), rtol=0, atol=1e-9)
    assert p.points < ref_points  # and they do save work


def test_symmetry_and_exclusion_save_most_of_the_work(lfp, dense):
    p = PairPotential()
    scan(lfp, "Li", p, shape=SHAPE, framework="empty", progress=False)
    assert p.points * 5 < dense["empty"][1]  # Pnma: 8 operations, plus exclusion


def test_symmetric_nodes_share_one_evaluation(lfp):
    g = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False, min_distance=0)
    assert g.metadata["n_symmetry_ops"] == 8 and g.metadata["spacegroup"].startswith("Pnma")
    assert g.metadata["n_orbits"] < g.metadata["n_nodes"] / 6
    e = g.energies  # mirror y -> 1/2 - y of Pnma maps node j to (nb/2 - j) mod nb
    nb = SHAPE[1]
    np.testing.assert_array_equal(e, e[:, (nb // 2 - np.arange(nb)) % nb, :])


def test_frontier_check_repairs_a_too_large_exclusion_radius(lfp, dense):
    """Plain exclusion (ceiling=None, the authors' scheme) with radii far too large cuts
    the channel; the frontier check (default ceiling='auto') restores every threshold."""
    big = scan_mod.default_min_distance("Li", ["Fe", "O", "P"], factor=0.9)  # Li-O 1.94 Å
    ref = thresholds(dense["empty"][0])
    plain = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False,
                 min_distance=big, ceiling=None)
    assert not np.allclose(thresholds(plain), ref)
    p = PairPotential()
    safe = scan(lfp, "Li", p, shape=SHAPE, framework="empty", progress=False, min_distance=big)
    np.testing.assert_allclose(thresholds(safe), ref, atol=1e-9)
    assert safe.metadata["n_excluded_evaluated"] > 0 and safe.metadata["ceiling_ev"] >= ref[0]


def test_auto_ceiling_rises_to_the_mpe(lfp, dense):
    ref_grids, _ = dense["occupied"]
    g = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="occupied", progress=False, ceiling=1.0)
    assert g[0].metadata["ceiling_ev"] == 1.0  # fixed: MPE (1.89 eV) above it is only an upper bound
    g = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="occupied", progress=False)
    mpe = ionnet.analyze(ref_grids).mpe
    assert mpe > scan_mod.DEFAULT_CEILING_EV - 1.2  # (1.89 eV)
    assert g[0].metadata["ceiling_ev"] >= min(mpe, scan_mod.AUTO_CEILING_MAX_EV)
    assert ionnet.analyze(g).mpe == pytest.approx(mpe, abs=1e-9)


def test_spacing_rounds_the_shape_up_to_fit_the_space_group(lfp):
    g = scan(lfp, "Li", PairPotential(), spacing=0.5, framework="empty", progress=False)
    na, nb, nc = g.shape
    assert g.metadata["requested_shape"] == [21, 13, 10]
    assert (na, nb, nc) == (22, 14, 10)  # Pnma: translations 1/2 along every axis -> even
    assert g.metadata["spacing"] == 0.5
    assert max(g.spacing_ang) <= 0.5


def test_explicit_shape_is_kept_with_the_compatible_operations(lfp):
    g = scan(lfp, "Li", PairPotential(), shape=(21, 13, 9), framework="empty", progress=False, min_distance=0)
    assert g.shape == (21, 13, 9)
    assert g.metadata["n_symmetry_ops"] < 8  # only operations that map the odd grid onto itself
    ref = pair_energy(g.structure, g.frac_coords())
    np.testing.assert_allclose(g.energies.ravel(), ref, rtol=1e-10, atol=1e-9)


# ----------------------------------------------------------------------------- invariance
def _shifted(structure, shift):
    s = structure.copy()
    s.translate_sites(list(range(len(s))), shift, frac_coords=True, to_unit_cell=True)
    return s


@pytest.mark.parametrize("framework", ["empty", "occupied"])
def test_mpe_invariant_under_commensurate_origin_shift(lfp, framework):
    shift = (5 / SHAPE[0], 3 / SHAPE[1], 7 / SHAPE[2])  # whole grid steps: same nodes, exact
    a = thresholds(scan(lfp, "Li", PairPotential(), shape=SHAPE, framework=framework, progress=False))
    b = thresholds(scan(_shifted(lfp, shift), "Li", PairPotential(), shape=SHAPE, framework=framework,
                        symmetry=False, progress=False))
    np.testing.assert_allclose(a, b, atol=1e-9)


def test_mpe_invariant_under_arbitrary_origin_shift(lfp):
    shift = (0.13, 0.37, 0.71)
    ref = ionnet.analyze(scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False))
    # symmetry=True moves the origin back to a standard one: the same grid, exactly
    g = scan(_shifted(lfp, shift), "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False)
    assert not np.allclose(g.metadata["origin_shift_frac"], 0)
    assert ionnet.analyze(g).mpe == pytest.approx(ref.mpe, abs=1e-9)
    # symmetry=False keeps the user's origin: other nodes, same MPE within grid tolerance.
    # Tolerance: this potential is steep (rho = 0.3 Å); at h = 0.2 Å the MPE of shifted
    # grids spreads by < 0.02 eV (0.2 eV at h = 0.29 Å, 0.01 eV at 0.1 Å).
    kw = dict(spacing=0.2, framework="empty", symmetry=False, progress=False)
    a = scan(lfp, "Li", PairPotential(), **kw)
    b = scan(_shifted(lfp, shift), "Li", PairPotential(), **kw)
    assert b.metadata["origin_shift_frac"] == [0.0, 0.0, 0.0]
    assert ionnet.analyze(b).mpe == pytest.approx(ionnet.analyze(a).mpe, abs=0.03)


# ----------------------------------------------------------------------------- frameworks
@needs_shared
def test_occupied_mode_gives_one_map_per_distinct_ion():
    from pymatgen.core import Structure

    s = Structure.from_file(f"{DATA}/structures/Li3N_obelix_fft.cif")
    n_li = sum(site.specie.symbol == "Li" for site in s)
    grids = scan(s, "Li", PairPotential(), spacing=0.5, framework="occupied", progress=False)
    assert isinstance(grids, ionnet.ScanResult) and len(grids) == 2
    assert sum(g.metadata["multiplicity"] for g in grids) == n_li
    assert len({g.shape for g in grids}) == 1  # one shape for the whole set (PercolationSet)
    for g in grids:
        m = g.metadata
        k = m["site_index"]
        assert m["framework"] == "occupied" and m["ion"] == "Li" and m["model"] == "pair"
        np.testing.assert_allclose(m["start_frac"], s[k].frac_coords)
        assert len(g.structure) == len(s) - 1  # only the probe's own site is removed
        assert sum(site.specie.symbol == "Li" for site in g.structure) == n_li - 1
        for key in ("spacing", "shape", "relax", "order", "min_distance", "symmetry", "timings",
                    "ionnet_version", "n_evaluated"):
            assert key in m
    assert isinstance(ionnet.analyze(grids), ionnet.PercolationSet)


def test_empty_mode_removes_every_mobile_ion(lfp):
    g = scan(lfp, "Li", PairPotential(), spacing=0.6, framework="empty", progress=False)
    assert isinstance(g, ionnet.ScanResult) and len(g) == 1 and isinstance(g[0], ionnet.EnergyGrid)
    assert "Li" not in {site.specie.symbol for site in g.structure}
    assert g.metadata["framework"] == "empty" and g.metadata["n_removed"] == 4
    assert g.metadata["ionnet_version"] == ionnet.__version__


def test_grid_round_trips_through_save(lfp, tmp_path):
    g = scan(lfp, "Li", PairPotential(), spacing=0.6, framework="empty", progress=False)
    g.save(tmp_path / "g.npz")
    h = ionnet.EnergyGrid.load(tmp_path / "g.npz")
    np.testing.assert_array_equal(g.energies, h.energies)
    assert h.metadata["shape"] == list(g.shape) and len(h.structure) == len(g.structure)


@needs_shared
def test_mobile_ion_disorder_is_fine_with_an_empty_framework():
    g = scan(f"{DATA}/obelix/cifs/2t8.cif", "Li", PairPotential(), spacing=0.6, framework="empty", progress=False)
    assert g.structure.is_ordered and "Li" not in g.structure.composition


@needs_shared
def test_order_true_orders_mixed_sites_in_the_occupied_framework():
    # (Li0.5 Ce0.25 Sm0.25)MoO4: mixed Li/Ce/Sm sites, integral in the unit cell
    grids = scan(f"{DATA}/obelix/cifs/3nb.cif", "Li", PairPotential(), spacing=0.7, order=True, framework="occupied",
                 progress=False)
    m = grids[0].metadata
    assert m["order"]["n_atoms"] == len(grids[0].structure) + 1 and m["order"]["max_site_error"] == 0
    assert m["order"]["charge"] == pytest.approx(0.0, abs=1e-9)
    assert {r["element"] for r in m["order"]["rounding"]} >= {"Li", "Ce", "Sm"}
    assert grids[0].structure.is_ordered
    cells = abs(np.linalg.det(m["order"]["input_matrix"]))   # input cells per ordered cell
    n_li = ionnet.io.read_structure(f"{DATA}/obelix/cifs/3nb.cif").composition["Li"] * cells
    assert sum(g.metadata["multiplicity"] for g in grids) == round(n_li) == round(m["n_mobile"])
    assert {g.metadata["configuration"] for g in grids} == {0} and m["n_configurations"] == 1


class _HookPotential(PairPotential):
    """The pair potential with a ``for_structure`` hook that records what scan() passed."""

    seen: dict = {}

    def for_structure(self, structure, *, ion, framework, oxidation_states=None):
        _HookPotential.seen = {"framework": framework, "oxidation_states": oxidation_states,
                               "has_ion": ion in structure.composition}
        return self


@needs_shared
def test_order_true_on_a_framework_disordered_cif_empty_mode():
    """La(Li0.76 Mg0.08)O2 needs > 200 sites for integral occupancies: rounded, reported, 2 configurations."""
    cif = f"{DATA}/obelix/cifs/zs0.cif"
    grids = scan(cif, "Li", _HookPotential(), spacing=0.7, framework="empty", order=True, n_configurations=2,
                 progress=False)
    configs = scan_mod.split_configurations(grids)
    assert len(configs) == 2 and [c[0].metadata["configuration"] for c in configs] == [0, 1]
    a, b = (c[0].structure for c in configs)
    assert a.is_ordered and "Li" not in a.composition and a.composition == b.composition
    assert {tuple(np.round(x.frac_coords, 3)) for x in a if x.specie.symbol == "Mg"} != \
        {tuple(np.round(x.frac_coords, 3)) for x in b if x.specie.symbol == "Mg"}
    order = grids[0].metadata["order"]
    assert order["framework"] == "empty" and len(a) <= 200
    mg = [r for r in order["rounding"] if r["element"] == "Mg"]
    assert mg and all(r["count"] == round(r["realised"] * r["n_sites"]) for r in mg)
    assert all(abs(r["error"]) <= 0.5 / r["n_sites"] * 2 + 1e-9 for r in mg)   # at most one atom off per orbit
    s_in = ionnet.io.read_structure(cif)
    cells = abs(np.linalg.det(order["input_matrix"]))
    assert grids[0].metadata["n_mobile"] == pytest.approx(s_in.composition["Li"] * cells, rel=1e-5)
    # the hook saw the input (with its Li) and the ordering's oxidation states
    assert _HookPotential.seen["has_ion"] and _HookPotential.seen["oxidation_states"] == order["oxidation_states"]


@needs_shared
def test_order_true_refuses_a_cell_above_max_sites():
    with pytest.raises(StructureError, match="raise max_sites"):
        scan(f"{DATA}/obelix/cifs/zs0.cif", "Li", PairPotential(), spacing=0.7, order=True, max_sites=3,
             framework="empty", progress=False)


# ----------------------------------------------------------------------------- relax
class _CalcPotential(PairPotential):
    """The pair potential plus an ASE calculator (Lennard-Jones) for relax=True."""

    def ase_calculator(self):
        from ase.calculators.lj import LennardJones

        return LennardJones(sigma=1.6, epsilon=0.01, rc=5.0)


@needs_shared
def test_relax_uses_the_potentials_calculator():
    s = ionnet.io.read_structure(f"{DATA}/structures/Li2O_pymatgen.cif")
    g = scan(s, "Li", _CalcPotential(), spacing=0.6, framework="empty", relax=True, progress=False)
    info = g.metadata["relax"]
    assert info["method"].startswith("ase-bfgs") and info["steps"] >= 1 and "energy_ev" in info
    assert not np.allclose(g.structure.lattice.abc, s.lattice.abc)  # the cell moved


def test_relax_without_calculator_is_a_clear_error(lfp):
    with pytest.raises(ModelError, match="relax=True needs an ASE calculator"):
        scan(lfp, "Li", PairPotential(), spacing=0.6, relax=True, progress=False)


# ----------------------------------------------------------------------------- checkpoint
def test_checkpoint_resumes_without_recomputing(lfp, tmp_path, monkeypatch):
    monkeypatch.setattr(importlib.import_module("ionnet.scanning.evaluation"), "CHUNK_POINTS", 100)
    kw = dict(shape=SHAPE, framework="empty", progress=False, min_distance=0)
    ref = PairPotential()
    full = scan(lfp, "Li", ref, **kw)
    total = ref.points
    path = tmp_path / "scan.ckpt.npz"
    p1 = PairPotential(fail_after_calls=4)
    with pytest.raises(KeyboardInterrupt):
        scan(lfp, "Li", p1, checkpoint=path, **kw)
    assert p1.points == 400 and path.exists()
    p2 = PairPotential()
    g = scan(lfp, "Li", p2, checkpoint=path, **kw)
    assert p2.points == total - 400  # only the unfinished nodes
    np.testing.assert_array_equal(g.energies, full.energies)
    assert g.metadata["n_resumed"] == 400
    p3 = PairPotential()  # a finished checkpoint is a cache
    scan(lfp, "Li", p3, checkpoint=path, **kw)
    assert p3.points == 0
    assert not [f for f in os.listdir(tmp_path) if "tmp" in f]  # atomic writes leave no debris


def test_checkpoint_of_another_scan_is_refused(lfp, tmp_path):
    path = tmp_path / "c.npz"
    scan(lfp, "Li", PairPotential(), spacing=0.8, framework="empty", progress=False, checkpoint=path)
    with pytest.raises(ScanError, match="belongs to a different scan"):
        scan(lfp, "Li", PairPotential(), spacing=0.7, framework="empty", progress=False, checkpoint=path)


# ----------------------------------------------------------------------------- errors
def _no_li():
    s = example_structure()
    s.remove_species(["Li"])
    return s


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(structure="missing.cif"), StructureError, "structure file not found"),
        (dict(structure="__no_li__"), StructureError, "contains no Li"),
        (dict(ion="Xx"), StructureError, "`ion` must be an element symbol"),
        (dict(model=PairPotential(unknown={"Fe"})), ModelError, "does not support element"),
        (dict(spacing=0), GridError, "`spacing` must be > 0"),
        (dict(spacing=-0.2), GridError, "`spacing` must be > 0"),
        (dict(spacing=float("nan")), GridError, "`spacing` must be > 0"),
        (dict(spacing="fine"), GridError, "`spacing` must be a positive number"),
        (dict(shape=(0, 4, 4)), GridError, "`shape` must be three integers"),
        (dict(shape=(4, 4)), GridError, "`shape` must be three integers"),
        (dict(shape=(4.5, 4, 4)), GridError, "`shape` must be three integers"),
        (dict(min_distance=-1.0), GridError, "`min_distance` must be >= 0"),
        (dict(min_distance=5.0), GridError, "every node of map 1 is closer than `min_distance`"),
        (dict(ceiling=0), GridError, "`ceiling` must be .auto., a number > 0"),
        (dict(ceiling="high"), GridError, "`ceiling` must be .auto., a number > 0"),
        (dict(framework="full"), ScanError, "`framework` must be 'empty' or 'occupied'"),
        (dict(batch_size=0), ScanError, "`batch_size` must be a positive integer"),
        (dict(structure=f"{DATA}/obelix/cifs/3nb.cif"), StructureError, "pass order=True to build an ordered approximant"),
        (dict(structure=f"{DATA}/obelix/cifs/2t8.cif", framework="occupied"), StructureError,
         "use framework='empty'.*or order=True"),
        (dict(model="no-such-model"), IonnetError, "no-such-model"),
    ],
)
def test_bad_input_raises_one_line_error_and_writes_nothing(lfp, tmp_path, kwargs, error, match):
    kw = dict(structure=lfp, ion="Li", model=PairPotential(), spacing=0.8, progress=False,
              checkpoint=tmp_path / "c.npz")
    kw.update(kwargs)
    if kw["structure"] == "__no_li__":
        kw["structure"] = _no_li()
    structure = kw.pop("structure")
    if isinstance(structure, str) and structure.startswith(DATA) and not SHARED_DATA.is_dir():
        pytest.skip(f"shared data folder {SHARED_DATA} missing")
    with pytest.raises(error, match=match) as info:
        scan(structure, **kw)
    assert isinstance(info.value, IonnetError)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "c.npz").exists()


def test_grid_too_big_for_memory(lfp, monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.import_module("ionnet.memory"), "available_memory", lambda: 50_000_000)
    with pytest.raises(ResourceError, match=r"increase `spacing` \(got 0.05 Å\)"):
        scan(lfp, "Li", PairPotential(), spacing=0.05, progress=False, checkpoint=tmp_path / "c.npz")
    assert not (tmp_path / "c.npz").exists()


# ----------------------------------------------------------------------------- module
def test_ionnet_scan_is_callable_every_time(lfp):
    assert callable(ionnet.scan)
    g1 = ionnet.scan(lfp, "Li", PairPotential(), spacing=1.0, framework="empty", progress=False)
    g2 = ionnet.scan(lfp, "Li", PairPotential(), spacing=1.0, framework="empty", progress=False)
    np.testing.assert_array_equal(g1.energies, g2.energies)


# ----------------------------------------------------------------------------- real back ends
def _get_potential():
    try:
        from ionnet.potentials import get_potential
    except ImportError:
        pytest.skip("ionnet.potentials.get_potential has not landed yet")
    return get_potential


@pytest.mark.slow
def test_end_to_end_bvse():
    get_potential = _get_potential()
    pot = get_potential("bvse")
    grids = scan(example_structure(), "Li", pot, spacing=0.6, progress=False)
    r = ionnet.analyze(grids)
    assert grids[0].metadata["model"] == pot.name
    assert np.isfinite(r.mpe) and r.mpe > 0
    fw = scan(example_structure(), "Li", pot, spacing=0.6, framework="empty", progress=False)
    r = ionnet.analyze(fw)
    assert r.percolation_directions[1] == [[0, 1, 0]]  # olivine: the b channel (a=4.7, b=6.1, c=10.4 Å)


@needs_shared
@pytest.mark.slow
def test_end_to_end_chgnet():
    get_potential = _get_potential()
    pytest.importorskip("chgnet")
    try:
        pot = get_potential("chgnet")
    except ionnet.BackendUnavailableError as e:
        pytest.skip(f"chgnet back end unavailable: {e}")
    # Li2O (3 atoms, R-3m at 1e-3 Å once Li is removed): ~40 CHGNet evaluations
    g = scan(f"{DATA}/structures/Li2O_pymatgen.cif", "Li", pot, spacing=0.5, framework="empty", progress=False)
    r = ionnet.analyze(g)
    assert g.metadata["model"].startswith("chgnet")
    assert g.metadata["n_evaluated"] < g.metadata["n_nodes"] / 4
    assert 0 < r.mpe < 2


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("IONNET_M3GNET_PATH"),
                    reason="set IONNET_M3GNET_PATH to the M3GNet-MP-2021.2.8-PES model folder to run")
def test_end_to_end_m3gnet():
    get_potential = _get_potential()
    pytest.importorskip("matgl")
    pot = get_potential(os.environ["IONNET_M3GNET_PATH"])
    g = scan(example_structure(), "Li", pot, spacing=0.6, framework="empty", progress=False)
    r = ionnet.analyze(g)
    assert g.metadata["model"].startswith("m3gnet")
    # M3GNet puts the lowest Li site of the empty FePO4 framework 1.66 Å from Fe (an artefact
    # of the model, also in a dense scan), so only the channel direction is checked
    assert r.percolation_directions[1] == [[0, 1, 0]] and 0 < r.mpe < 10


def test_missing_ion_framework_scans_a_structure_without_the_ion_as_its_empty_framework(lfp):
    from ionnet.errors import ScanError

    fepo4 = lfp.copy()
    fepo4.remove_species(["Li"])
    with pytest.raises(StructureError, match="contains no Li.*missing_ion='framework'"):
        scan(fepo4, "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False)
    with pytest.raises(StructureError, match="contains no Li"):  # occupied: there is no ion to move
        scan(fepo4, "Li", PairPotential(), shape=SHAPE, framework="occupied", missing_ion="framework", progress=False)
    a = scan(lfp, "Li", PairPotential(), shape=SHAPE, framework="empty", progress=False)
    b = scan(fepo4, "Li", PairPotential(), shape=SHAPE, framework="empty", missing_ion="framework", progress=False)
    assert np.array_equal(a.energies, b.energies)  # the empty framework of LiFePO4 is FePO4
    assert b.metadata["mobile_sites_frac"] == [] and len(a.metadata["mobile_sites_frac"]) == 4
    assert "missing_ion" not in ionnet.ScanSettings().key()  # old checkpoints and databases keep their keys
    assert ionnet.ScanSettings(missing_ion="framework").key()["missing_ion"] == "framework"
    with pytest.raises(ScanError, match="missing_ion"):
        ionnet.ScanSettings(missing_ion="yes")


class _PocketAndChannel:
    """Analytic field on the unit cell: a sealed pocket at -2 eV around (1/4, 1/4, 1/4), a channel along a
    through the Li site (1/2, 1/2, 1/2) with a 0.5 eV barrier at x = 0 (where the Cl atom sits), 10 eV elsewhere."""

    name = "pocket-channel"

    def energies(self, framework, ion, frac_coords, *, batch_size=None, progress=False):
        f = np.asarray(frac_coords, dtype=np.float64) % 1.0
        e = np.full(len(f), 10.0)
        chan = (f[:, 1] - 0.5) ** 2 + (f[:, 2] - 0.5) ** 2 < 0.12 ** 2
        e[chan] = 0.25 * (1 + np.cos(2 * np.pi * f[chan, 0]))
        e[np.sum((f - 0.25) ** 2, axis=1) < 0.1 ** 2] = -2.0
        return e


def test_frontier_grows_from_the_sites_behind_a_sealed_deeper_pocket():
    """The global minimum is a sealed pocket; the Li site's channel passes through the exclusion sphere of
    the Cl atom.  The frontier check must grow from the site too, so the site's MPE equals the dense scan's."""
    from pymatgen.core import Lattice, Structure

    s = Structure(Lattice.cubic(6.0), ["Li", "Cl"], [[0.5, 0.5, 0.5], [0.0, 0.5, 0.5]])
    kw = dict(shape=(20, 20, 20), framework="empty", symmetry=False, progress=False)
    dense = scan(s, "Li", _PocketAndChannel(), min_distance=0, ceiling=None, **kw)
    fast = scan(s, "Li", _PocketAndChannel(), min_distance=1.5, **kw)
    assert np.isinf(fast.energies).any()  # the exclusion sphere left nodes out
    rd, rf = ionnet.analyze(dense), ionnet.analyze(fast)
    assert rd.mpe == pytest.approx(0.5, abs=1e-6)  # the 0.5 eV barrier above the site (the pocket is sealed)
    assert rf.mpe == pytest.approx(rd.mpe, abs=1e-9)
    assert rf.free_volume(2.6) == pytest.approx(rd.free_volume(2.6), abs=1e-12)


class _NaNNearAtoms(_PocketAndChannel):
    """The pocket-and-channel field, but NaN within 1.2 Å of the Cl atom (a model that fails there)."""

    def energies(self, framework, ion, frac_coords, *, batch_size=None, progress=False):
        e = super().energies(framework, ion, frac_coords)
        d = (np.asarray(frac_coords, dtype=np.float64) - [0.0, 0.5, 0.5] + 0.5) % 1.0 - 0.5
        e[np.linalg.norm(d * 6.0, axis=1) < 1.2] = np.nan
        return e


def test_frontier_check_ends_when_the_model_returns_nan():
    """NaN energies are forbidden nodes: the frontier loop used to take NaN for the map's MPE and never end."""
    import signal

    from pymatgen.core import Lattice, Structure

    def _hang(signum, frame):
        raise TimeoutError("the frontier check did not end")

    s = Structure(Lattice.cubic(6.0), ["Li", "Cl"], [[0.5, 0.5, 0.5], [0.0, 0.5, 0.5]])
    old = signal.signal(signal.SIGALRM, _hang)
    signal.alarm(120)
    try:
        g = scan(s, "Li", _NaNNearAtoms(), shape=(20, 20, 20), framework="empty", symmetry=False, min_distance=1.5,
                 progress=False)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    r = ionnet.analyze(g)
    assert np.isnan(g.energies).any() or np.isinf(g.energies).any()
    assert np.isfinite(r.mpe) and r.mpe > 0
