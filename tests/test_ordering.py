"""Ordered supercells of partially occupied structures (ionnet.scanning.ordering): known answers."""
import doctest
import itertools
import math
import warnings

import numpy as np
import pytest

pytest.importorskip("pymatgen")

from pymatgen.core import Lattice, Structure  # noqa: E402

import ionnet.scanning.ordering as ordering  # noqa: E402
from ionnet.scanning.ordering import _common, configurations  # noqa: E402
from conftest import SHARED_DATA  # noqa: E402
from ionnet.errors import StructureError  # noqa: E402
from ionnet.scanning.ordering import (  # noqa: E402
    guess_oxidation_states,
    largest_remainder,
    order_structure,
    round_counts,
)

OBELIX = SHARED_DATA / "obelix" / "cifs"
needs_shared = pytest.mark.skipif(not OBELIX.is_dir(), reason=f"shared OBELiX CIFs {OBELIX} missing")

OXI_LLTO = {"Li": 1, "La": 3, "Ti": 4, "O": -2}


def rocksalt(cation, a=4.2):
    """Conventional rock salt (4 cation + 4 anion sites) with the given cation species."""
    fcc = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    return Structure(Lattice.cubic(a), [cation] * 4 + ["O"] * 4, np.vstack([fcc, (fcc + 0.5) % 1]))


def perovskite(a_site, a=3.9):
    """Cubic ABO3 (1 A, 1 Ti, 3 O) with the given A-site species."""
    return Structure(Lattice.cubic(a), [a_site, "Ti", "O", "O", "O"],
                     [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])


def counts(s):
    return {k: int(round(v)) for k, v in s.composition.get_el_amt_dict().items()}


def min_distance(s, element):
    idx = [i for i, site in enumerate(s) if site.specie.symbol == element]
    d = s.distance_matrix[np.ix_(idx, idx)]
    np.fill_diagonal(d, np.inf)
    return d.min()


# ----------------------------------------------------------------------------- rounding kernels
@pytest.mark.parametrize("module", ["api", "oxidation", "rounding"])
def test_doctests(module):
    import importlib

    mod = importlib.import_module(f"ionnet.scanning.ordering.{module}")
    failures, tried = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and tried > 0


@pytest.mark.parametrize("values, total, expected", [
    ([2.4, 1.35, 3.25], None, [3, 1, 3]),          # remainders .4 .35 .25: one round-up, to the largest
    ([0.5, 0.5], 1, [1, 0]),                        # a tie goes to the first
    ([1 / 3] * 3, 1, [1, 0, 0]),
    ([19.944, 1.316, 0.683], 22, [20, 1, 1]),
    ([3.0, 2.0], None, [3, 2]),                    # integers stay
])
def test_largest_remainder_known_answers(values, total, expected):
    out = largest_remainder(values, total)
    assert out.tolist() == expected
    assert out.sum() == (round(sum(values)) if total is None else total)


@pytest.mark.parametrize("seed", range(5))
def test_largest_remainder_stays_within_floor_and_ceiling(seed):
    v = np.random.default_rng(seed).random(7) * 10
    for total in range(int(np.floor(v).sum()), int(np.ceil(v).sum()) + 1):
        out = largest_remainder(v, total)
        assert out.sum() == total
        assert np.all(out >= np.floor(v)) and np.all(out <= np.ceil(v))


def test_largest_remainder_rejects_unreachable_total():
    with pytest.raises(ValueError, match="cannot be reached"):
        largest_remainder([0.5, 0.5], 3)


def test_round_counts_keeps_row_and_column_totals():
    # three orbits of 2 sites, each 1/3 Ge + 2/3 P: rounding each orbit alone gives 3 Ge (target 2)
    t = np.array([[2 / 3, 4 / 3]] * 3)
    out = round_counts(t, [2, 2, 2])
    assert out.sum(axis=1).tolist() == [2, 2, 2]
    assert out.sum(axis=0).tolist() == [2, 4]
    assert np.all(out >= np.floor(t)) and np.all(out <= np.ceil(t))


@pytest.mark.parametrize("seed", range(6))
def test_round_counts_random_tables(seed):
    rng = np.random.default_rng(seed)
    rows = rng.integers(2, 12, size=5)
    w = rng.random((5, 4))
    t = w / w.sum(axis=1, keepdims=True) * rows[:, None]
    out = round_counts(t, rows)
    assert np.array_equal(out.sum(axis=1), rows)                       # every orbit exactly filled
    assert np.all(out >= np.floor(t - 1e-9)) and np.all(out <= np.ceil(t + 1e-9))
    assert np.array_equal(out.sum(axis=0), largest_remainder(t.sum(axis=0), int(rows.sum())))


@pytest.mark.parametrize("comp, expected", [
    ({"Li": 10, "Ge": 1, "P": 2, "S": 12}, {"Li": 1, "Ge": 4, "P": 5, "S": -2}),
    ({"Li": 6.4, "La": 3, "Zr": 1.4, "Ta": 0.6, "O": 12}, {"Li": 1, "La": 3, "Zr": 4, "Ta": 5, "O": -2}),
    ({"Li": 5.5, "P": 1, "S": 4.5, "Cl": 1.5}, {"Li": 1, "P": 5, "S": -2, "Cl": -1}),
    ({"Li": 4, "P": 2, "S": 6}, {"Li": 1, "P": 4, "S": -2}),            # P2S6(4-)
    ({"Li": 45.9, "P": 4, "S": 20, "Br": 3, "Cl": 1}, {"Li": 1, "P": 5, "S": -2, "Br": -1, "Cl": -1}),  # Li overfull
])
def test_guess_oxidation_states(comp, expected):
    assert guess_oxidation_states(comp, ion="Li") == {k: float(v) for k, v in expected.items()}


# ----------------------------------------------------------------------------- supercells and rounding
@pytest.mark.parametrize("method", ["ewald", "random"])
def test_mixed_cation_site_is_exactly_half_half(method):
    r = order_structure(rocksalt({"Mg": 0.5, "Ni": 0.5}), "Mg", framework="occupied", method=method,
                        oxidation_states={"Mg": 2, "Ni": 2, "O": -2}, n_configurations=2)
    for s in r.structures:
        c = counts(s)
        assert c["Mg"] == c["Ni"] and c["Mg"] + c["Ni"] == c["O"]
        assert s.is_ordered
    assert r.max_site_error == 0 and r.composition_error == 0 and r.charge == 0


def test_one_third_site_needs_a_threefold_cell():
    s = perovskite({"La": 1 / 3})                       # La1/3 TiO3 (no Li: the framework is ordered as given)
    s.append("Li", [0.0, 0.5, 0.5 + 0.1])
    r = order_structure(s, "Li")
    assert r.scaling == 3
    assert counts(r.structure) == {"La": 1, "Ti": 3, "O": 9}
    assert r.max_site_error == pytest.approx(0.0, abs=1e-12)
    # with too few sites the best 1- or 2-cell rounding is reported instead
    r2 = order_structure(s, "Li", max_sites=9)
    assert r2.scaling == 1 and r2.max_site_error == pytest.approx(1 / 3)
    assert "La" not in counts(r2.structure)


def test_rounding_report_matches_the_structures():
    s = rocksalt({"Mg": 0.3, "Ni": 0.45, "Co": 0.25})
    r = order_structure(s, "Mg", framework="occupied", oxidation_states={"Mg": 2, "Ni": 2, "Co": 2, "O": -2},
                        n_configurations=3, max_sites=100)
    for st in r.structures:
        assert {k: float(v) for k, v in counts(st).items()} == r.composition_realised
    per_element: dict = {}
    for row in r.rounding:
        assert row.realised == pytest.approx(row.count / row.n_sites)
        assert row.error == pytest.approx(row.realised - row.target)
        assert abs(row.error) <= 1 / row.n_sites + 1e-12       # within one atom of the target
        assert row.n_sites == row.multiplicity * r.scaling
        per_element[row.element] = per_element.get(row.element, 0) + row.count
    assert per_element == {k: int(v) for k, v in r.composition_realised.items()}
    assert sum(r.composition_target.values()) == pytest.approx(sum(r.composition_realised.values()))


def test_empty_mode_removes_the_ion_from_a_mixed_site():
    r = order_structure(perovskite({"Li": 0.5, "La": 0.5}), "Li", framework="empty")
    for s in r.structures:
        assert "Li" not in s.composition
    c = counts(r.structure)
    assert c["La"] * 2 == c["Ti"] and c["O"] == 3 * c["Ti"]
    assert r.scaling == 2
    # the report holds the framework part only
    assert {row.element for row in r.rounding} == {"La", "Ti", "O"}


@pytest.mark.parametrize("li, la", [(0.5, 0.5 - 1e-9), (0.33, 0.56), (0.2, 0.5)])
def test_occupied_mode_is_charge_balanced(li, la):
    """Li(x)La(y)TiO3: the Li count follows the rounded La count (x + 3y = 2 when balanced)."""
    r = order_structure(perovskite({"Li": li, "La": la}), "Li", framework="occupied", oxidation_states=OXI_LLTO,
                        max_sites=120)
    c = counts(r.structure)
    assert c.get("Li", 0) + 3 * c["La"] + 4 * c["Ti"] - 2 * c["O"] == 0
    assert r.charge == 0
    if abs(li + 3 * la - 2) > 0.05:
        assert any("charge balance sets Li" in n for n in r.notes)


def test_occupied_mode_guesses_oxidation_states():
    r = order_structure(perovskite({"Li": 0.5, "La": 0.5}), "Li", framework="occupied")
    assert r.oxidation_source == "guess" and r.oxidation_states == {"Li": 1.0, "La": 3.0, "Ti": 4.0, "O": -2.0}
    assert r.charge == 0


def split_pair_structure(x0=0.5, gap=0.5):
    """Li + O + Al split over two positions `gap` Å apart along a (3/8 each: 3/4 Al per pair),
    P1, 8 x 12 x 12 Å (so supercells stack along a, across the pair when it straddles the boundary)."""
    a = 8.0
    return Structure(Lattice.orthorhombic(a, 12, 12), ["Li", {"Al": 0.375}, {"Al": 0.375}, "O", "O"],
                     [[0, 0.5, 0], [x0, 0.5, 0.5], [(x0 + gap / a) % 1, 0.5, 0.5], [0.25, 0.25, 0.25],
                      [0.75, 0.25, 0.75]])


@pytest.mark.parametrize("method", ["ewald", "random"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("x0", [0.5, 0.98])      # 0.98: the pair straddles the cell boundary
def test_split_sites_are_never_both_filled(method, seed, x0):
    r = order_structure(split_pair_structure(x0), "Li", method=method, seed=seed, n_configurations=3,
                        oxidation_states={"Li": 1, "Al": 3, "O": -2}, max_sites=40)
    assert r.scaling == 4
    for s in r.structures:
        assert counts(s)["Al"] == 3                    # 3/4 Al per split pair, 4 pairs
        assert min_distance(s, "Al") > 1.0
        assert min(d for i, row in enumerate(s.distance_matrix) for j, d in enumerate(row) if i != j) > 1.0


def test_a_bond_between_partial_sites_is_not_a_split_site():
    """O and H of a half-occupied water molecule, 0.96 Å apart: both are placed (independent sites)."""
    a = 8.0
    s = Structure(Lattice.cubic(a), ["Li", "Cl", {"O": 0.5}, {"H": 0.5}],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.25, 0.25], [0.25 + 0.96 / a, 0.25, 0.25]])
    r = order_structure(s, "Li", method="random")
    c = counts(r.structure)
    assert c["O"] == c["H"] == r.scaling // 2 and r.scaling % 2 == 0


MIXED3 = {"Mg": 0.25, "Ni": 0.375, "Co": 0.375}         # 8 cells: 8!/(2! 3! 3!) = 560 orderings
OXI3 = {"Mg": 2, "Ni": 2, "Co": 3, "O": -2}


@pytest.mark.parametrize("method", ["random", "ewald"])
def test_same_seed_same_configuration(method):
    kw = dict(method=method, oxidation_states=OXI3, n_configurations=2)
    a = order_structure(rocksalt(MIXED3), "Li", seed=1, **kw)
    b = order_structure(rocksalt(MIXED3), "Li", seed=1, **kw)
    assert a.scaling == 8
    assert a.structures == b.structures


def test_other_seed_other_random_configuration():
    a = order_structure(rocksalt(MIXED3), "Li", seed=1, method="random").structure
    c = order_structure(rocksalt(MIXED3), "Li", seed=2, method="random").structure
    assert a != c
    assert counts(a) == counts(c) == {"Mg": 2, "Ni": 3, "Co": 3, "O": 8}


def test_n_configurations_are_distinct():
    r = order_structure(rocksalt(MIXED3), "Li", method="random", n_configurations=4)
    assert len(r.structures) == 4
    keys = {tuple(sorted((s.specie.symbol, tuple(np.round(s.frac_coords, 4))) for s in st)) for st in r.structures}
    assert len(keys) == 4


def test_ewald_descent_finds_the_exhaustive_minimum(monkeypatch):
    """Mg3/8 Ni5/8 O in 8 primitive cells: 56 orderings; the minimum by brute force, pymatgen and the descent agree."""
    s = rocksalt({"Mg": 0.375, "Ni": 0.625})
    oxi = {"Mg": 2, "Ni": 3, "O": -2}    # unequal charges, so orderings differ in energy
    exact = order_structure(s, "Li", oxidation_states=oxi, max_sites=16, seed=0)
    assert exact.method == "ewald-pymatgen" and exact.scaling == 8
    # brute force over the 8 cation sites of the same supercell
    st = exact.structure
    cat = [i for i, site in enumerate(st) if site.specie.symbol in ("Mg", "Ni")]
    n_mg = counts(st)["Mg"]
    m = configurations._ewald_matrix(st.lattice, st.frac_coords)
    q0 = np.array([oxi[site.specie.symbol] for site in st], dtype=float)
    energies = []
    for mg in itertools.combinations(cat, n_mg):
        q = q0.copy()
        q[cat] = oxi["Ni"]
        q[list(mg)] = oxi["Mg"]
        energies.append(q @ m @ q)
    assert math.comb(len(cat), n_mg) == len(energies)
    assert exact.energies_ev[0] == pytest.approx(min(energies), abs=1e-6)
    monkeypatch.setattr(_common, "PYMATGEN_MAX_ORDERINGS", 1)
    descent = order_structure(s, "Li", oxidation_states=oxi, max_sites=16, seed=0)
    assert descent.method == "ewald-descent"
    assert descent.energies_ev[0] == pytest.approx(min(energies), abs=1e-6)


def test_time_limit_before_any_configuration_raises():
    with pytest.raises(StructureError, match="time_limit_s"):
        order_structure(rocksalt({"Mg": 0.5, "Ni": 0.5}), "Mg", framework="occupied", time_limit_s=1e-9)


def test_time_limit_stops_the_ewald_search(monkeypatch):
    """The clock jumps past the deadline when the descent starts: its first (unfinished) result is returned."""
    late = {"on": False}
    real_clock, real_descend = _common._clock, configurations._descend

    def descend(*a, **k):
        late["on"] = True
        return real_descend(*a, **k)

    monkeypatch.setattr(configurations, "_descend", descend)
    monkeypatch.setattr(_common, "_clock", lambda: real_clock() + (1e6 if late["on"] else 0.0))
    r = order_structure(rocksalt(MIXED3), "Li", oxidation_states=OXI3, n_configurations=3, time_limit_s=5)
    assert r.method == "ewald-descent"
    assert len(r.structures) == 1 and r.structure.is_ordered
    assert counts(r.structure) == {"Mg": 2, "Ni": 3, "Co": 3, "O": 8}
    assert any("time_limit_s reached" in n for n in r.notes)


def test_result_record_is_json():
    import json

    r = order_structure(perovskite({"Li": 0.33, "La": 0.56}), "Li", framework="occupied", max_sites=40)
    d = json.loads(json.dumps(r.to_dict()))
    assert d["n_atoms"] == r.n_atoms and d["scaling"] == r.scaling == round(abs(np.linalg.det(r.input_matrix)))
    assert len(d["rounding"]) == len(r.rounding) and d["charge"] == 0
    assert "supercell" in r.summary()


def test_nothing_to_order_returns_the_input_cell():
    s = perovskite({"Li": 0.5})
    r = order_structure(s, "Li")
    assert r.method == "none" and r.scaling == 1 and len(r.structure) == 4
    assert np.allclose(r.structure.lattice.matrix, s.lattice.matrix)


@pytest.mark.parametrize("kwargs, err, match", [
    (dict(framework="vacancy"), ValueError, "`framework` must be one of"),
    (dict(method="enum"), ValueError, "`method` must be one of"),
    (dict(max_sites=0), ValueError, "`max_sites`"),
    (dict(n_configurations=0), ValueError, "`n_configurations`"),
    (dict(time_limit_s=-1), ValueError, "`time_limit_s`"),
    (dict(ion="Xx"), StructureError, "`ion` must be an element"),
    (dict(ion="Na", framework="occupied"), StructureError, "contains no Na"),
    (dict(max_sites=4), StructureError, "raise max_sites"),
    (dict(framework="occupied", oxidation_states={"Li": 1}), StructureError, "lacks"),
])
def test_bad_input(kwargs, err, match):
    kw = dict(ion="Li")
    kw.update(kwargs)
    with pytest.raises(err, match=match):
        order_structure(perovskite({"Li": 0.5, "La": 0.5}), **kw)


# ----------------------------------------------------------------------------- real CIFs
@needs_shared
@pytest.mark.parametrize("cif", [
    "9rc",    # LGPS type, Li20 Sn0.448 Ge1.552 P4 S24
    "ner",    # a Ba/Ta-doped garnet (Ia-3d), 256 sites in the CIF cell
])
def test_obelix_framework_disordered_cifs(cif):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = order_structure(str(OBELIX / f"{cif}.cif"), "Li", n_configurations=2)
        elements = {e.symbol for e in Structure.from_file(str(OBELIX / f"{cif}.cif")).composition} - {"Li"}
    assert set(counts(r.structure)) == elements
    assert all(s.is_ordered for s in r.structures)
    assert r.n_atoms <= 200 and r.composition_error < 0.01
    assert r.time_s < 60


@needs_shared
def test_obelix_cif_occupied_is_balanced_and_has_no_close_li():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = order_structure(str(OBELIX / "9rc.cif"), "Li", framework="occupied")
    assert r.charge == pytest.approx(0.0, abs=1e-9)
    assert min_distance(r.structure, "Li") > 1.0


@needs_shared
def test_obelix_cif_without_li_orders_its_framework_in_empty_mode_only():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = order_structure(str(OBELIX / "s3h.cif"), "Li")
        assert any("holds no Li" in n for n in r.notes) and r.structure.is_ordered
        with pytest.raises(StructureError, match="contains no Li"):
            order_structure(str(OBELIX / "s3h.cif"), "Li", framework="occupied")
