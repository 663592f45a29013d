"""Tests of ionnet.potentials: the model back ends and get_potential.

M3GNet tests need the weights (``IONNET_M3GNET_PATH``); CHGNet tests need the
chgnet package (weights ship in its wheel).  Everything uses a handful of
positions on small cells so the file runs in well under a minute on 2 cores.

M3GNet energies are checked against ``tests/data/m3gnet_reference.json``: the
output of matgl 1.1.3's DGL M3GNet (the implementation the published weights
were trained with), written by ``tests/data/make_m3gnet_reference.py`` in a
separate venv.  matgl >= 2's own M3GNet forward disagrees with it for compounds
(see ``ionnet/potentials/_m3gnet_torch.py``), so it is not used as a reference.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from ionnet.errors import BackendUnavailableError, ModelError, StructureError

pytest.importorskip("pymatgen")
from pymatgen.core import Lattice, Structure  # noqa: E402

from ionnet.potentials import (  # noqa: E402
    AnalyticPotential,
    ASEPotential,
    BVSEPotential,
    MatglPotential,
    Potential,
    get_potential,
)

from conftest import SHARED_DATA

DATA = SHARED_DATA / "structures"
M3GNET_PATH = os.environ.get("IONNET_M3GNET_PATH", "")
HAVE_M3GNET = bool(M3GNET_PATH) and Path(M3GNET_PATH, "model.pt").is_file()
needs_m3gnet = pytest.mark.skipif(
    not HAVE_M3GNET,
    reason="M3GNet weights not available: set IONNET_M3GNET_PATH to a folder with model.json/model.pt/state.pt",
)
needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"shared structures folder {DATA} missing")

# ionnet vs matgl 1.1.3: same graphs, same float32 arithmetic up to summation order (seen: <= 1.5e-5 eV)
REF_ATOL_EV = 1e-4
# batched vs one position per pass: identical graphs, only the batch shape differs
BATCH_ATOL_EV = 1e-5
REFERENCE = Path(__file__).parent / "data" / "m3gnet_reference.json"
_REF = json.loads(REFERENCE.read_text())
REF_CASES = {c["name"]: c for c in _REF["cases"]}
REF_MODELS = tuple(_REF["models"])


# --------------------------------------------------------------------------- fixtures
def _load(name: str) -> Structure:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_file(str(DATA / name))


def _without_first(s: Structure, el: str) -> tuple[Structure, np.ndarray]:
    idx = next(i for i, site in enumerate(s) if site.specie.symbol == el)
    fw = s.copy()
    fw.remove_sites([idx])
    return fw, s[idx].frac_coords.copy()


@pytest.fixture(scope="module")
def lifepo4() -> Structure:
    if not DATA.is_dir():
        pytest.skip(f"shared structures folder {DATA} missing")
    return _load("LiFePO4_pymatgen.cif")


@pytest.fixture(scope="module")
def lfp_framework(lifepo4) -> tuple[Structure, np.ndarray]:
    """LiFePO4 with one Li removed, and that Li's fractional position."""
    return _without_first(lifepo4, "Li")


@pytest.fixture(scope="module")
def m3gnet() -> MatglPotential:
    if not HAVE_M3GNET:
        pytest.skip("M3GNet weights not available: set IONNET_M3GNET_PATH")
    pot = get_potential("m3gnet")
    assert isinstance(pot, MatglPotential)
    return pot


@pytest.fixture(scope="module")
def chgnet_pot():
    pytest.importorskip("chgnet")
    pot = get_potential("chgnet")
    from ionnet.potentials import CHGNetPotential

    assert isinstance(pot, CHGNetPotential)
    return pot


def _probe_points(site: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """The vacant site, points around it and random points (some far from equilibrium)."""
    rng = np.random.default_rng(seed)
    near = site + rng.normal(scale=0.05, size=(n // 2, 3))
    far = rng.random((n - n // 2 - 1, 3))
    return np.vstack([site, near, far])


def _model_folder(model: str) -> Path:
    """The weights folder ``model``: IONNET_M3GNET_PATH itself or a sibling of it."""
    if not HAVE_M3GNET:
        pytest.skip("M3GNet weights not available: set IONNET_M3GNET_PATH to a folder with model.json/model.pt/state.pt")
    base = Path(M3GNET_PATH)
    folder = base if base.name == model else base.parent / model
    if not (folder / "model.pt").is_file():
        pytest.skip(f"M3GNet weights {model!r} not found next to IONNET_M3GNET_PATH ({folder})")
    return folder


_POTS: dict[tuple, MatglPotential] = {}


def _pot(model: str, **kw) -> MatglPotential:
    """One MatglPotential per (model, options) for the whole module (loading takes ~1 s)."""
    key = (model, tuple(sorted(kw.items())))
    if key not in _POTS:
        _POTS[key] = MatglPotential(_model_folder(model), **kw)
    return _POTS[key]


def _ref_framework(case: dict) -> Structure:
    return Structure(case["lattice"], case["species"], case["frac_coords"])


# --------------------------------------------------------------------------- package
def test_import_is_light():
    code = (
        "import sys, ionnet, ionnet.potentials as P; P.get_potential('bvse');"
        "print(','.join(m for m in ('torch','matgl','chgnet','ase','pymatgen','pyvista','igraph') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --------------------------------------------------------------------------- M3GNet
@pytest.mark.parametrize("case", list(REF_CASES))
@pytest.mark.parametrize("model", REF_MODELS)
def test_m3gnet_equals_matgl1_reference(model, case):
    """Known answer: matgl 1.1.3 (DGL) PESCalculator energies, for NaCl, LiFePO4, a sulfide, edge cases."""
    c = REF_CASES[case]
    pot = _pot(model)
    e = pot.energies(_ref_framework(c), c["ion"], c["probe_frac"])
    assert pot.method == "fast" and e.dtype == np.float64 and e.shape == (len(c["probe_frac"]),)
    np.testing.assert_allclose(e, c["energies_ev"][model], rtol=0, atol=REF_ATOL_EV)


@pytest.mark.parametrize("model", REF_MODELS)
def test_m3gnet_matgl_own_forward_is_not_the_reference(model):
    """Documents why ionnet carries its own forward: matgl >= 2's M3GNet is off by eV for compounds.

    If this fails, the installed matgl agrees with matgl 1.x again and
    ``ionnet/potentials/_m3gnet_torch.py`` may no longer be needed.
    """
    c = REF_CASES["NaCl"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        plain = MatglPotential(_model_folder(model), method="converter")
    e = plain.energies(_ref_framework(c), c["ion"], c["probe_frac"])
    assert np.all(np.abs(e - c["energies_ev"][model]) > 1.0), e
    # elemental crystals are unaffected by the convention change
    li = REF_CASES["Li-bcc"]
    e_li = plain.energies(_ref_framework(li), li["ion"], li["probe_frac"])
    np.testing.assert_allclose(e_li, li["energies_ev"][model], rtol=0, atol=REF_ATOL_EV)


@needs_m3gnet
def test_m3gnet_batched_equals_unbatched(lfp_framework):
    """Many positions per pass give the energies of one position per pass (ionnet's single-structure evaluation)."""
    fw, site = lfp_framework
    frac = _probe_points(site, 6)
    pot = _pot(Path(M3GNET_PATH).name)
    batched = pot.energies(fw, "Li", frac, batch_size=4)
    single = np.array([pot.energies(fw, "Li", p[None], batch_size=1)[0] for p in frac])
    np.testing.assert_allclose(batched, single, rtol=0, atol=BATCH_ATOL_EV)
    assert pot.name == f"m3gnet:{Path(M3GNET_PATH).name}"


@needs_m3gnet
@pytest.mark.parametrize("chunk", [300, 4096])
def test_m3gnet_dnnl_path_equals_plain_forward(lfp_framework, chunk):
    """The oneDNN path (fused layers, chunks of bonds, last chunk padded) computes the plain forward's function."""
    torch = pytest.importorskip("torch")
    from ionnet.potentials._m3gnet_torch import _linear_pointwise

    if _linear_pointwise() is None:
        pytest.skip("this torch has no oneDNN fused linear operator")
    fw, site = lfp_framework
    pot = _pot(Path(M3GNET_PATH).name)
    net = pot._net
    x = pot._graph_inputs(pot._prepare(fw, "Li"), _probe_points(site, 6, seed=5))
    old_chunk, old_cache = net.chunk, net.__dict__.get("_dnnl_cache")
    try:
        with torch.inference_mode():
            net.chunk = chunk
            fast = net.energy(*x)
            assert net._dnnl(x[1]) is not None
            net.__dict__["_dnnl_cache"] = {"w": None}  # the plain path
            plain = net.energy(*x)
    finally:
        net.chunk = old_chunk
        net.__dict__["_dnnl_cache"] = old_cache if old_cache is not None else {}
    np.testing.assert_allclose(fast.numpy(), plain.numpy(), rtol=0, atol=5e-5)


@needs_m3gnet
def test_m3gnet_batch_size_and_translation_invariance(lfp_framework):
    fw, site = lfp_framework
    frac = _probe_points(site, 5, seed=3)
    pot = _pot(Path(M3GNET_PATH).name)
    e1 = pot.energies(fw, "Li", frac, batch_size=1)
    e5 = pot.energies(fw, "Li", frac + np.array([1, -2, 3]), batch_size=5)
    np.testing.assert_allclose(e1, e5, rtol=0, atol=BATCH_ATOL_EV)


@needs_m3gnet
def test_m3gnet_float64_close_to_float32():
    c = REF_CASES["LiFePO4"]
    e64 = _pot(Path(M3GNET_PATH).name, dtype="float64").energies(_ref_framework(c), c["ion"], c["probe_frac"][:2])
    model = Path(M3GNET_PATH).name
    if model in c["energies_ev"]:
        np.testing.assert_allclose(e64, c["energies_ev"][model][:2], rtol=0, atol=1e-3)
    assert np.all(np.isfinite(e64))


@needs_m3gnet
def test_m3gnet_ase_calculator_energy_forces_stress():
    """The ASE calculator: same energy as the batched path, forces and stress = -dE/dx, dE/de / V."""
    pytest.importorskip("ase")
    from pymatgen.io.ase import AseAtomsAdaptor

    from ionnet.potentials.m3gnet import M3GNetASECalculator

    c = REF_CASES["NaCl+Li"]
    model = Path(M3GNET_PATH).name
    s = _ref_framework(c)
    s.append("Li", c["probe_frac"][1])
    atoms = AseAtomsAdaptor.get_atoms(s)
    pot32 = _pot(model)
    atoms.calc = pot32.ase_calculator()
    assert isinstance(atoms.calc, M3GNetASECalculator)
    ref = pot32.energies(_ref_framework(c), "Li", c["probe_frac"][1:])[0]
    assert atoms.get_potential_energy() == pytest.approx(ref, abs=BATCH_ATOL_EV)
    if model in c["energies_ev"]:
        assert atoms.get_potential_energy() == pytest.approx(c["energies_ev"][model][1], abs=REF_ATOL_EV)
    # derivatives against central differences, in float64, on a cell without special positions:
    # matgl 1.x's three-body term depends on the order of the bonds from pymatgen's cell list, which
    # jumps (by ~1e-5 eV) when an atom crosses a cell-list boundary; atoms on symmetry positions sit on one
    from ase import Atoms

    from ionnet.potentials.m3gnet import _matgl1_edges

    rng = np.random.default_rng(7)
    cell = Lattice.from_parameters(5.1, 5.6, 6.2, 83, 97, 101).matrix
    atoms = Atoms(["Li", "O", "P", "S", "O"], scaled_positions=rng.random((5, 3)), cell=cell, pbc=True)
    calc = M3GNetASECalculator(_pot(model, dtype="float64"))
    atoms.calc = calc
    forces, stress = atoms.get_forces(), atoms.get_stress(voigt=False)
    h = 1e-4

    def energy(a):
        bonds = _matgl1_edges(a.get_positions(), np.array(a.cell), 5.0)
        assert all(np.array_equal(x, y) for x, y in zip(bonds, reference_bonds)), "bond order changed"
        a.calc = calc
        return a.get_potential_energy()

    reference_bonds = _matgl1_edges(atoms.get_positions(), np.array(atoms.cell), 5.0)
    for atom, axis in [(0, 0), (3, 2)]:
        plus, minus = atoms.copy(), atoms.copy()
        plus.positions[atom, axis] += h
        minus.positions[atom, axis] -= h
        assert forces[atom, axis] == pytest.approx(-(energy(plus) - energy(minus)) / (2 * h), abs=1e-5)
    strain = np.diag([h, 0.0, 0.5 * h])  # (shear happens to reorder this cell's bonds)
    plus, minus = atoms.copy(), atoms.copy()
    plus.set_cell(atoms.cell @ (np.eye(3) + strain), scale_atoms=True)
    minus.set_cell(atoms.cell @ (np.eye(3) - strain), scale_atoms=True)
    fd = (energy(plus) - energy(minus)) / (2 * h) / atoms.get_volume()
    assert stress[0, 0] + 0.5 * stress[2, 2] == pytest.approx(fd, abs=1e-6)


@pytest.mark.parametrize("case", list(REF_CASES))
def test_framework_graph_reproduces_pymatgen_bond_order(case):
    """Framework bonds built once + probe bonds per node == pymatgen's list for framework + probe, order included.

    The probes include grid nodes on the cell faces (frac 0), where the probe lies below
    every framework atom and pymatgen's cell list is anchored on the probe.
    """
    pytest.importorskip("numba")
    from ionnet.potentials._m3gnet_graph import FrameworkGraph
    from ionnet.potentials.m3gnet import _matgl1_edges

    c = REF_CASES[case]
    lattice = np.array(c["lattice"], dtype=float)
    cart = np.dot(np.array(c["frac_coords"], dtype=float), lattice)
    rng = np.random.default_rng(11)
    grid = np.stack(np.meshgrid(*[np.arange(6) / 6] * 3, indexing="ij"), -1).reshape(-1, 3)
    probes = np.vstack([np.mod(c["probe_frac"], 1.0), grid, rng.random((40, 3))])
    src, dst, img, fw_bond, first = FrameworkGraph(cart, lattice, 5.0).bonds(probes)
    n1 = len(cart) + 1
    pcs = np.dot(probes, lattice)
    for g in range(len(probes)):
        s_, d_, i_ = _matgl1_edges(np.vstack([cart, pcs[g:g + 1]]), lattice, 5.0)
        sl = slice(first[g], first[g + 1])
        assert np.array_equal(src[sl] - g * n1, s_) and np.array_equal(dst[sl] - g * n1, d_), (case, probes[g])
        assert np.array_equal(img[sl], i_), (case, probes[g])
        assert np.all((fw_bond[sl] >= 0) == ((s_ < n1 - 1) & (d_ < n1 - 1)))


def test_triples_kernel_equals_torch_enumeration():
    """The numba triple enumeration gives the torch one's index lists (matgl 1.x quirks included)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("numba")
    from ionnet.potentials._m3gnet_graph import triples
    from ionnet.potentials._m3gnet_torch import GraphBatch, LegacyM3GNet

    rng = np.random.default_rng(2)
    src, first, n_nodes = [], [0], 0
    for g in range(5):
        n = int(rng.integers(1, 6))
        deg = rng.integers(0, 5, size=n)
        src.append(np.repeat(np.arange(n), deg) + n_nodes)
        first.append(first[-1] + int(deg.sum()))
        n_nodes += n
    src = np.concatenate(src)
    keep = rng.random(len(src)) < 0.7
    e_graph = np.repeat(np.arange(5), np.diff(first))
    batch = GraphBatch(torch.zeros(n_nodes, dtype=torch.long), torch.as_tensor(np.stack([src, src])),
                       torch.zeros(n_nodes, dtype=torch.long), torch.as_tensor(e_graph), 5)
    net = LegacyM3GNet.__new__(LegacyM3GNet)
    net.threebody_cutoff = 0.5
    ref = LegacyM3GNet._triples(net, torch.as_tensor(np.where(keep, 0.0, 1.0)), batch, n_nodes)
    got = triples(src, np.array(first), keep)
    for r, x in zip(ref, got):
        np.testing.assert_array_equal(r.numpy(), x)


@needs_m3gnet
def test_m3gnet_unknown_element(m3gnet, lfp_framework):
    with pytest.raises(ModelError, match="Og"):
        m3gnet.supports(["Li", "Og"])
    with pytest.raises(ModelError, match="Og"):
        m3gnet.energies(lfp_framework[0], "Og", [[0, 0, 0]])


def test_m3gnet_missing_weights(monkeypatch, tmp_path):
    pytest.importorskip("matgl")
    from ionnet.potentials import m3gnet as m3

    with pytest.raises(BackendUnavailableError, match="IONNET_M3GNET_PATH.*chgnet.*bvse"):
        get_potential("m3gnet", path=tmp_path / "nowhere")
    monkeypatch.setenv("IONNET_M3GNET_PATH", str(tmp_path))
    with pytest.raises(BackendUnavailableError, match="not a matgl model folder"):
        get_potential("m3gnet")
    # no env var, nothing cached, offline: fail fast with the alternatives
    monkeypatch.delenv("IONNET_M3GNET_PATH")
    monkeypatch.setattr(m3, "_matgl_cached_dir", lambda name: None)
    monkeypatch.setattr(m3, "_online", lambda *a, **k: False)
    with pytest.raises(BackendUnavailableError, match="no network.*chgnet"):
        get_potential("m3gnet")


def test_load_meter_threads_follow_other_processes(monkeypatch):
    """Known answers: other processes' cores = machine busy time - own CPU time, per second of wall time."""
    from ionnet.potentials import m3gnet as m3

    clock = {"t": 0.0, "busy": 0.0, "own": 0.0}
    hz = 100.0
    from ionnet.potentials import _m3gnet_cpu

    monkeypatch.setattr(_m3gnet_cpu, "_cpu_times", lambda: (clock["busy"] * hz + 1e6, 1e6))  # (total, idle) in ticks
    monkeypatch.setattr(m3.os, "times", lambda: type("T", (), {"user": clock["own"], "system": 0.0})())
    meter = m3._LoadMeter(2, window_s=2.0)
    meter.hz, meter.cores, meter.machine = hz, 2, 2
    meter._clock = lambda: clock["t"]
    meter._start()

    def advance(seconds, own_cores, other_cores):
        clock["t"] += seconds
        clock["own"] += own_cores * seconds
        clock["busy"] += (own_cores + other_cores) * seconds

    advance(1.0, 2.0, 1.0)
    assert meter.threads() == 2  # window not over: unchanged
    advance(1.5, 2.0, 1.0)
    assert meter.threads() == 1  # another process took a core
    advance(3.0, 1.0, 0.05)
    assert meter.threads() == 2  # the machine is free again
    advance(3.0, 2.0, 0.5)
    assert meter.threads() == 1  # half a core taken is enough to fall back to one thread


def test_m3gnet_threads_argument_checked():
    with pytest.raises(ModelError, match="threads"):
        MatglPotential(threads=0)


# --------------------------------------------------------------------------- CHGNet
@needs_data
def test_chgnet_equals_predict_structure(chgnet_pot, lfp_framework):
    fw, site = lfp_framework
    frac = np.mod(_probe_points(site, 3, seed=4), 1.0)
    e = chgnet_pot.energies(fw, "Li", frac, batch_size=2)
    ref = []
    for p in frac:
        s = fw.copy()
        s.append("Li", p)
        ref.append(float(chgnet_pot.model.predict_structure(s, task="e")["e"]) * len(s))
    np.testing.assert_allclose(e, ref, rtol=0, atol=1e-5)
    assert chgnet_pot.name == "chgnet:0.3.0"


_CHGNET_GRAPH_FIELDS = ("atomic_number", "atom_frac_coord", "atom_graph", "neighbor_image", "directed2undirected",
                        "undirected2directed", "bond_graph", "lattice")


@needs_data
@pytest.mark.parametrize("name", ["LiFePO4_pymatgen.cif", "Li7P3S11_obelix_mdp.cif"])
def test_chgnet_cached_graph_equals_converter(chgnet_pot, name):
    """Framework graph built once + probe bonds per node == CHGNet's converter, tensor for tensor.

    Probes: the vacated Li site, points near it, grid nodes on the cell faces (frac 0, where
    the probe lies below every framework atom and pymatgen's cell list is anchored on it)
    and random points.  Same graphs in the same batches give the same energies, bit for bit.
    """
    import torch

    fw, site = _without_first(_load(name), "Li")
    rng = np.random.default_rng(3)
    faces = np.stack(np.meshgrid(*[np.arange(3) / 3] * 3, indexing="ij"), -1).reshape(-1, 3)[::3]
    probes = np.vstack([np.mod(site, 1.0), np.mod(site + rng.normal(scale=0.04, size=(2, 3)), 1.0), faces,
                        rng.random((3, 3))])
    cached = chgnet_pot.graphs(fw, "Li", probes)
    conv = chgnet_pot.model.graph_converter
    ref = []
    for p in probes:
        s = fw.copy()
        s.append("Li", p)
        ref.append(conv(s))
    for k, (g, r) in enumerate(zip(cached, ref)):
        for f in _CHGNET_GRAPH_FIELDS:
            x, y = getattr(g, f), getattr(r, f)
            assert x.dtype == y.dtype and torch.equal(x, y), (name, probes[k], f)
    with torch.inference_mode():
        for sl in (slice(0, 4), slice(4, None)):  # batches of several probes
            e_cached = chgnet_pot.model(cached[sl], task="e")["e"]
            e_ref = chgnet_pot.model(ref[sl], task="e")["e"]
            assert torch.equal(e_cached, e_ref)
    # and the potential's energies (batched) against the converter path, within float32 noise
    conv_pot = type(chgnet_pot)(model=chgnet_pot.model, method="converter")
    np.testing.assert_allclose(chgnet_pot.energies(fw, "Li", probes, batch_size=5),
                               conv_pot.energies(fw, "Li", probes, batch_size=3), rtol=0, atol=1e-5)


def test_chgnet_unknown_element_and_dispatch(chgnet_pot):
    with pytest.raises(ModelError, match="Og"):
        chgnet_pot.supports(["Li", "Og"])
    from ionnet.potentials import CHGNetPotential

    wrapped = get_potential(chgnet_pot.model)  # a loaded chgnet.model.CHGNet
    assert isinstance(wrapped, CHGNetPotential) and wrapped.model is chgnet_pot.model


# --------------------------------------------------------------------------- BVSE
@pytest.fixture(scope="module")
def fepo4_sym(lifepo4):
    """Symmetry-refined LiFePO4 with all Li removed (exact Pnma), and its symmetry operations."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    # the cell is slightly monoclinic (P2_1/c); symmetrise it to exact Pnma
    ref = SpacegroupAnalyzer(lifepo4, symprec=0.1).get_refined_structure()
    fw = ref.copy()
    fw.remove_species(["Li"])
    ops = SpacegroupAnalyzer(ref, symprec=1e-3).get_symmetry_operations()
    li = np.array([s.frac_coords for s in ref if s.specie.symbol == "Li"])
    return fw, ops, li


BV_STATES = {"Li": 1, "Fe": 2, "P": 5, "O": -2}


def test_bvse_symmetry_equivalent_positions(fepo4_sym):
    fw, ops, _ = fepo4_sym
    assert len(ops) == 8  # Pnma
    pot = BVSEPotential(oxidation_states=BV_STATES)
    p = np.random.default_rng(5).random((4, 3))
    images = np.array([[op.operate(x) for op in ops] for x in p])  # (4, 8, 3)
    e = pot.energies(fw, "Li", images.reshape(-1, 3)).reshape(4, 8)
    np.testing.assert_allclose(e, e[:, :1].repeat(8, axis=1), rtol=1e-10, atol=1e-10)


def test_bvse_rises_steeply_near_cation(fepo4_sym):
    fw, _, _ = fepo4_sym
    pot = BVSEPotential(oxidation_states=BV_STATES)
    fe = next(s for s in fw if s.specie.symbol == "Fe")
    # approach the Fe along a direction pointing into the empty Li channel
    away = np.array([0.0, 0.0, 1.0])
    d = np.array([1.6, 1.2, 0.9, 0.6, 0.3])
    cart = fe.coords[None, :] + d[:, None] * away[None, :]
    e = pot.energies(fw, "Li", fw.lattice.get_fractional_coords(cart))
    assert np.all(np.diff(e) > 0), e
    assert e[-1] - e[0] > 10.0
    assert pot.energies(fw, "Li", [fe.frac_coords])[0] == np.inf


def test_bvse_minimum_near_li_site(lfp_framework):
    fw, site = lfp_framework
    pot = get_potential("bvse")
    n = np.ceil(np.array(fw.lattice.abc) / 0.3).astype(int)
    grid = np.stack(np.meshgrid(*[np.arange(k) / k for k in n], indexing="ij"), -1).reshape(-1, 3)
    e = pot.energies(fw, "Li", grid)
    best = grid[np.argmin(e)]
    assert fw.lattice.get_all_distances(best, site)[0, 0] < 0.5
    assert pot.charges(fw, "Li")[1] == 1.0


def test_bvse_translation_invariance_property(lfp_framework):
    hypothesis = pytest.importorskip("hypothesis")
    from hypothesis import given, settings
    from hypothesis import strategies as st

    fw, _ = lfp_framework
    pot = BVSEPotential()
    coord = st.floats(0, 1, allow_nan=False)
    shift = st.integers(-3, 3)

    @settings(max_examples=15, deadline=None)
    @given(st.tuples(coord, coord, coord), st.tuples(shift, shift, shift))
    def check(p, n):
        e = pot.energies(fw, "Li", [p, np.add(p, n)])
        assert e[0] == pytest.approx(e[1], rel=1e-9, abs=1e-9)

    assert hypothesis is not None
    check()


def test_bvse_matches_bvlain(lifepo4):
    lain = pytest.importorskip("bvlain")
    calc = lain.Lain(verbose=False)
    calc.read_structure(lifepo4)
    calc.bvse_distribution(mobile_ion="Li1+", r_cut=10.0, resolution=1.0, k=2000, use_softbv_covalent_radii=True)
    frac = calc.sites @ np.linalg.inv(lifepo4.lattice.matrix)
    fw = lifepo4.copy()
    fw.remove_species(["Li"])
    e = BVSEPotential(oxidation_states=BV_STATES).energies(fw, "Li", frac)
    np.testing.assert_allclose(e, calc.distribution, rtol=1e-9, atol=1e-9)


def test_bvse_oxidation_state_errors():
    # peroxide: Li+ / O- has no softBV parameters
    li2o2 = Structure(Lattice.hexagonal(3.14, 7.65), ["Li", "Li", "O", "O"],
                      [[0, 0, 0], [0, 0, 0.5], [1 / 3, 2 / 3, 0.35], [1 / 3, 2 / 3, 0.65]])
    fw = li2o2.copy()
    fw.remove_sites([0])
    with pytest.raises(ModelError, match="O-1"):
        BVSEPotential(oxidation_states={"Li": 1, "O": -1}).energies(fw, "Li", [[0.5, 0.5, 0.5]])
    # a metal: no charge-balanced oxidation states
    cu = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    with pytest.raises(ModelError, match="oxidation states"):
        BVSEPotential().energies(cu, "Li", [[0.5, 0.5, 0.5]])
    with pytest.raises(ModelError, match="lacks Fe"):
        BVSEPotential(oxidation_states={"Li": 1, "O": -2}).charges(
            Structure(Lattice.cubic(4), ["Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]]), "Li"
        )


def test_bvse_unknown_element_and_bad_args():
    pot = BVSEPotential()
    with pytest.raises(ModelError, match="Pu"):
        pot.supports(["Li", "Pu", "O"])
    with pytest.raises(ModelError, match="r_cut_ang"):
        BVSEPotential(r_cut_ang=-1.0)


# --------------------------------------------------------------------------- ASE / analytic
@pytest.fixture(scope="module")
def cu_fcc() -> Structure:
    return Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])


def test_ase_backend_matches_calculator(cu_fcc):
    pytest.importorskip("ase")
    from ase.calculators.emt import EMT
    from pymatgen.io.ase import AseAtomsAdaptor

    pot = get_potential(EMT())
    assert isinstance(pot, ASEPotential) and pot.name == "ase:EMT"
    frac = np.array([[0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.5, 0.5, 0.5]])
    e = pot.energies(cu_fcc, "Cu", frac)
    s = cu_fcc.copy()
    s.append("Cu", frac[1])
    atoms = AseAtomsAdaptor.get_atoms(s)
    atoms.calc = EMT()
    assert e[1] == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
    assert e[0] == e[2] and e[0] < e[1]  # octahedral site is roomier than tetrahedral


def test_analytic_backend(cu_fcc):
    calls = []

    def harmonic(xyz):
        calls.append(len(xyz))
        return 0.5 * np.sum((xyz - 1.0) ** 2, axis=1)

    pot = get_potential(harmonic)
    assert isinstance(pot, AnalyticPotential) and pot.name == "analytic:harmonic"
    frac = np.random.default_rng(6).random((7, 3))
    e = pot.energies(cu_fcc, "Li", frac)
    np.testing.assert_allclose(e, 0.5 * np.sum((frac * 3.61 - 1.0) ** 2, axis=1))
    assert calls == [7]  # vectorised: one call
    pot.energies(cu_fcc, "Li", frac, batch_size=3)
    assert calls[1:] == [3, 3, 1]
    with pytest.raises(ModelError, match="shape"):
        AnalyticPotential(lambda xyz: np.zeros(2)).energies(cu_fcc, "Li", frac)


# --------------------------------------------------------------------------- get_potential / protocol
def test_get_potential_dispatch(tmp_path):
    bv = get_potential("bvse", r_cut_ang=8.0)
    assert isinstance(bv, BVSEPotential) and bv.r_cut_ang == 8.0 and bv.name == "bvse:softbv"
    assert isinstance(bv, Potential)
    assert get_potential(bv) is bv
    with pytest.raises(ModelError, match="unknown model"):
        get_potential("no-such-model")
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        get_potential(str(tmp_path / "missing" / "folder"))
    with pytest.raises(ModelError, match="cannot build"):
        get_potential(42)


@needs_m3gnet
def test_get_potential_model_folder():
    other = Path(M3GNET_PATH).parent / "M3GNet-MatPES-PBE-v2025.1-PES"
    folder = other if other.is_dir() else Path(M3GNET_PATH)
    pot = get_potential(folder)
    assert isinstance(pot, MatglPotential) and pot.method == "fast"
    assert pot.name == f"m3gnet:{folder.name}"
    c = REF_CASES["NaCl+Li"]
    if folder.name in c["energies_ev"]:
        e = pot.energies(_ref_framework(c), c["ion"], c["probe_frac"])
        np.testing.assert_allclose(e, c["energies_ev"][folder.name], rtol=0, atol=REF_ATOL_EV)


@needs_m3gnet
def test_get_potential_matgl_object():
    import matgl

    raw = matgl.load_model(M3GNET_PATH)
    pot = get_potential(raw)
    assert isinstance(pot, MatglPotential)
    assert raw.calc_forces and raw.calc_stresses  # the caller's model is left alone


def test_input_validation(cu_fcc):
    pot = get_potential(lambda xyz: xyz[:, 0])
    with pytest.raises(ModelError, match=r"shape \(n, 3\)"):
        pot.energies(cu_fcc, "Li", np.zeros((4, 2)))
    with pytest.raises(ModelError, match="finite"):
        pot.energies(cu_fcc, "Li", [[np.nan, 0, 0]])
    with pytest.raises(ModelError, match="batch_size"):
        pot.energies(cu_fcc, "Li", [[0, 0, 0]], batch_size=0)
    with pytest.raises(StructureError, match="pymatgen Structure"):
        pot.energies(np.eye(3), "Li", [[0, 0, 0]])
    assert pot.energies(cu_fcc, "Li", np.zeros((0, 3))).shape == (0,)
    assert pot.energies(cu_fcc, "Li", [0.5, 0.0, 0.0]).shape == (1,)

