"""BVSE oxidation states from the whole input structure (mobile ions included), in every framework mode.

Known answers: the usual oxidation states of simple Li conductors (Li2O: O2-,
Li3N: N3-, LiFePO4: Fe2+, Li3V2(PO4)3: V3+, ...), charge neutrality, and that
each of them scores with every Li removed (``framework='empty'``), where the
framework alone (O, N, PO4...) says nothing about its charges.
"""
from __future__ import annotations

import signal
import threading
import time
import warnings

import pytest

pytest.importorskip("pymatgen")

import ionnet
from conftest import SHARED_DATA
from ionnet.errors import ModelError, TaskTimeout
from ionnet.potentials.bvse import BVSEPotential, _time_limit, input_oxidation_states

STRUCTURES = SHARED_DATA / "structures"
#: CIF -> the usual oxidation states of its elements.
KNOWN = {
    "Li2O_pymatgen.cif": {"Li": 1, "O": -2},
    "Li3N_obelix_fft.cif": {"Li": 1, "N": -3},
    "Li3N_obelix_gvd.cif": {"Li": 1, "N": -3},
    "LiFePO4_pymatgen.cif": {"Li": 1, "Fe": 2, "P": 5, "O": -2},
    "Li7La3Zr2O12_obelix_wyu.cif": {"Li": 1, "La": 3, "Zr": 4, "O": -2},
    "Li7P3S11_obelix_mdp.cif": {"Li": 1, "P": 5, "S": -2},
    "Li3PO4_obelix_9lo.cif": {"Li": 1, "P": 5, "O": -2},
    "Li3V2PO43_pymatgen.cif": {"Li": 1, "V": 3, "P": 5, "O": -2},
}


def _read(name):
    from ionnet.io import read_structure

    path = STRUCTURES / name
    if not path.exists():
        pytest.skip(f"{path} not available")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return read_structure(path)


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_usual_states_and_neutral(name):
    s = _read(name)
    states, _method = input_oxidation_states(s, "Li")
    assert {k: round(v) for k, v in states.items()} == KNOWN[name]
    charge = sum(amt * states[el.symbol] for el, amt in s.composition.element_composition.items())
    assert abs(charge) < 1e-6


def test_undecorated_li2o():
    from pymatgen.core import Lattice, Structure

    li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
    assert input_oxidation_states(li2o, "Li") == ({"O": -2.0, "Li": 1.0}, "single-valence")


@pytest.mark.parametrize("name", sorted(KNOWN))
def test_scores_in_the_empty_framework(name):
    s = _read(name)
    g = ionnet.scan(s, model="bvse", spacing=0.6, framework="empty", progress=False)
    assert g[0].structure.composition["Li"] == 0  # every Li removed
    r = ionnet.analyze(g)
    assert 0.0 < r.mpe < 2.0  # these are Li conductors: a channel opens within 2 eV


def test_same_states_in_both_modes():
    s = _read("LiFePO4_pymatgen.cif")
    empty = BVSEPotential().for_structure(s, ion="Li", framework="empty")
    occupied = BVSEPotential().for_structure(s, ion="Li", framework="occupied")
    assert empty.oxidation_states == occupied.oxidation_states
    assert empty.oxidation_states["Fe"] == 2.0


def test_explicit_states_win():
    s = _read("Li2O_pymatgen.cif")
    pot = BVSEPotential(oxidation_states={"Li": 1, "O": -2})
    assert pot.for_structure(s, ion="Li", framework="empty") is pot


def test_peroxide_fails_clearly():
    s = _read("Li2O2_pymatgen.cif")
    with pytest.raises(ModelError, match="O-1"):
        ionnet.scan(s, model="bvse", spacing=0.6, progress=False)


def test_argyrodite_bnh_needs_no_combinatorial_search():
    # Li6.1 P0.9 Si0.1 S5 Br (Si/P on one site): one usual state per element balances it
    path = SHARED_DATA / "obelix" / "cifs" / "bnh.cif"
    if not path.exists():
        pytest.skip(f"{path} not available")
    from ionnet.io import read_structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = read_structure(path)
    states, method = input_oxidation_states(s, "Li")
    assert method == "single-valence"
    assert {k: round(v) for k, v in states.items()} == {"Li": 1, "P": 5, "Si": 4, "S": -2, "Br": -1}


@pytest.mark.skipif(not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread(),
                    reason="SIGALRM time limits need a POSIX main thread")
def test_time_limit_interrupts_and_restores_an_outer_alarm():
    fired = []
    old = signal.signal(signal.SIGALRM, lambda *a: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 5.0)  # an outer budget (as screening's timeout_s)
        with pytest.raises(TaskTimeout, match="oxidation-state guess"):
            with _time_limit(0.05) as limit:
                time.sleep(2.0)
        assert limit["fired"]
        remaining, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 4.0 < remaining <= 5.0  # re-armed with what was left
        assert not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
