"""Oxidation states for BVSE: the guesses behind :func:`input_oxidation_states` (pymatgen, lazily).

Split out of :mod:`ionnet.potentials.bvse`, which re-exports every public name.
"""
from __future__ import annotations

import itertools
import logging
import math
import signal
import threading
import time
import warnings
from contextlib import contextmanager
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import ModelError, TaskTimeout

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["GUESS_TIME_LIMIT_S", "structure_oxidation_states", "input_oxidation_states"]

logger = logging.getLogger("ionnet.potentials.bvse")  # the records keep the public module's name


def _as_int_charge(q: float) -> int | None:
    r = round(q)
    return int(r) if abs(q - r) < 1e-6 else None


def _guess_states(framework: Any, ion: str) -> dict[str, float]:
    """Element -> oxidation state for framework + one probe ion, by pymatgen's composition guess."""
    from pymatgen.core import Composition, Element

    comp = framework.composition.element_composition + Composition({ion: 1})
    guesses: tuple = ()
    # Fixing the most electronegative element at its most negative common state first
    # keeps pymatgen's combinatorial search fast (Li7P3S11: 5 s -> 2 ms).
    anion = max(comp.elements, key=lambda e: (e.X if not math.isnan(e.X) else 0.0))
    neg = [s for s in Element(anion.symbol).common_oxidation_states if s < 0]
    if neg:
        guesses = comp.oxi_state_guesses(oxi_states_override={anion.symbol: [min(neg)]}, max_sites=-1)
    if not guesses:
        guesses = comp.oxi_state_guesses(max_sites=-1)
    if not guesses:
        try:
            from pymatgen.analysis.bond_valence import BVAnalyzer

            decorated = BVAnalyzer().get_oxi_state_decorated_structure(framework)
            states: dict[str, list[float]] = {}
            for site in decorated:
                states.setdefault(site.specie.symbol, []).append(float(site.specie.oxi_state))
            out = {k: float(np.mean(v)) for k, v in states.items()}
            out.setdefault(ion, float(Element(ion).common_oxidation_states[0]))
            return out
        except Exception as e:  # noqa: BLE001 - BVAnalyzer raises bare ValueError
            raise ModelError(
                f"could not guess oxidation states of {comp.reduced_formula} (framework + {ion}); "
                "pass oxidation_states={'Li': 1, 'O': -2, ...} or a framework decorated with oxidation states"
            ) from e
    return {str(k): float(v) for k, v in guesses[0].items()}


_HALOGENS = ("F", "Cl", "Br", "I")
#: Wall-time budget (s) of pymatgen's combinatorial oxidation-state guess in :func:`input_oxidation_states`.
GUESS_TIME_LIMIT_S = 10.0
_MAX_COMBINATIONS = 200_000  # single-valence assignments tried at most


@contextmanager
def _time_limit(seconds: float):
    """Raise :class:`~ionnet.TaskTimeout` in the body after ``seconds`` (SIGALRM; main thread only, else unbounded).

    Yields a dict whose ``'fired'`` is True once this limit (not an outer one)
    raised.  An alarm already set by the caller (e.g. screening's
    ``timeout_s``) is respected: when it would fire first it is left alone;
    otherwise it is re-armed with its remaining time afterwards.
    """
    state = {"fired": False}
    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()):
        yield state
        return
    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    if outer and outer <= seconds:
        yield state
        return

    def _fire(signum, frame):  # noqa: ARG001
        state["fired"] = True
        raise TaskTimeout(f"oxidation-state guess took longer than {seconds:g} s")

    old = signal.signal(signal.SIGALRM, _fire)
    t0 = time.monotonic()
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield state
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - t0), 1e-3))


def _candidate_states(el: str) -> list[int]:
    from pymatgen.core import Element

    e = Element(el)
    return sorted({int(q) for q in tuple(e.common_oxidation_states) + tuple(e.icsd_oxidation_states) if q != 0})


def _single_valence_states(amounts: dict[str, float], ion: str, q_ion: int) -> dict[str, float] | None:
    """One integer state per element, charge-neutral over ``amounts`` (fractional amounts allowed), most usual first.

    Every element takes one of its common or ICSD oxidation states; the
    mobile ion is fixed at ``q_ion``; among the neutral assignments the one
    with the largest sum of amount x ICSD occurrence wins.  Bounded: at most
    ``_MAX_COMBINATIONS`` assignments (None beyond).
    """
    from pymatgen.core import Composition, Species

    els = [e for e in amounts if e != ion]
    cands = [_candidate_states(e) for e in els]
    if not els or any(not c for c in cands) or math.prod(len(c) for c in cands) > _MAX_COMBINATIONS:
        return None
    if Composition.oxi_prob is None:  # loaded by pymatgen's first oxi_state_guesses call
        Composition("LiCl").oxi_state_guesses()
    prob = Composition.oxi_prob or {}
    amt = np.array([amounts[e] for e in els], dtype=np.float64)
    total = amounts.get(ion, 0.0) * q_ion
    tol = 1e-3 * max(1.0, float(amt.sum() + amounts.get(ion, 0.0)))
    best, best_score = None, -math.inf
    for qs in itertools.product(*cands):
        if abs(total + float(amt @ np.asarray(qs, dtype=np.float64))) > tol:
            continue
        if all(q > 0 for q in qs) and q_ion > 0:  # no anion at all
            continue
        score = float(sum(a * prob.get(Species(e, q), 0.0) for e, a, q in zip(els, amt, qs)))
        if score > best_score:
            best, best_score = qs, score
    if best is None:
        return None
    out = {e: float(q) for e, q in zip(els, best)}
    out[ion] = float(q_ion)
    return out


def _decorated_states(structure: Structure, ion: str) -> dict[str, float] | None:
    """The input's own oxidation-state decoration, when every site has one, one per element, and it is neutral."""
    states: dict[str, set[float]] = {}
    total = 0.0
    for site in structure:
        for sp, occ in site.species.items():
            q = getattr(sp, "oxi_state", None)
            if q is None:
                return None
            states.setdefault(sp.symbol, set()).add(float(q))
            total += occ * float(q)
    if abs(total) > 1e-3 or any(len(v) != 1 for v in states.values()) or states.get(ion, {0.0}) == {0.0}:
        return None
    return {e: next(iter(v)) for e, v in states.items()}


def input_oxidation_states(structure: Structure, ion: str = "Li", *,
                           time_limit_s: float = GUESS_TIME_LIMIT_S) -> tuple[dict[str, float], str]:
    """Element -> oxidation state of the whole input structure (mobile ions included), and how they were found.

    Tried in turn, cheapest first: the structure's own decoration (when
    complete and neutral); one common/ICSD state per element, charge-neutral
    with the mobile ion at its usual positive state, the most usual
    assignment winning (bounded enumeration, milliseconds); pymatgen's
    composition guess of the framework (:func:`structure_oxidation_states`,
    mixed valence and Li-deficient refinements) within ``time_limit_s``;
    pymatgen's ``BVAnalyzer`` (bond valence) on an ordered structure, within
    the same limit.

    Parameters
    ----------
    structure : pymatgen Structure
        The input as given, before any mobile ion is removed (partial occupancies allowed).
    ion : str
        Mobile-ion element.
    time_limit_s : float, s
        Budget of each of the two slow guesses (main thread only).

    Returns
    -------
    states : dict str -> float
    method : {'decoration', 'single-valence', 'composition', 'bond-valence'}

    Raises
    ------
    ModelError
        No method assigns states (e.g. a peroxide: O-1 is outside the usual states).

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> li2o = Structure.from_spacegroup("Fm-3m", Lattice.cubic(4.61), ["Li", "O"], [[0.25, 0.25, 0.25], [0, 0, 0]])
    >>> input_oxidation_states(li2o, "Li")
    ({'O': -2.0, 'Li': 1.0}, 'single-valence')
    """
    from pymatgen.core import Element

    decorated = _decorated_states(structure, ion)
    if decorated:
        return decorated, "decoration"
    pos = [q for q in Element(ion).common_oxidation_states if q > 0]
    q_ion = int(pos[0]) if pos else 1
    amounts = structure.composition.element_composition.get_el_amt_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        states = _single_valence_states(amounts, ion, q_ion)
        if states:
            return states, "single-valence"
        limit: dict = {}
        try:
            with _time_limit(time_limit_s) as limit:
                states = structure_oxidation_states(structure, ion)
        except TaskTimeout:
            if not limit.get("fired"):
                raise  # the caller's own time limit
            logger.info("composition guess of %s stopped after %g s", structure.composition.reduced_formula, time_limit_s)
            states = None
        except Exception as e:  # noqa: BLE001 - pymatgen raises assorted errors; the next method decides
            logger.info("composition guess of %s: %s", structure.composition.reduced_formula, e)
            states = None
        if states and any(v != 0 for k, v in states.items() if k != ion):
            return states, "composition"
        if structure.is_ordered:
            try:
                from pymatgen.analysis.bond_valence import BVAnalyzer

                with _time_limit(time_limit_s) as limit:
                    decorated_s = BVAnalyzer().get_oxi_state_decorated_structure(structure)
                found: dict[str, list[float]] = {}
                for site in decorated_s:
                    found.setdefault(site.specie.symbol, []).append(float(site.specie.oxi_state))
                return {k: float(np.mean(v)) for k, v in found.items()}, "bond-valence"
            except TaskTimeout:
                if not limit.get("fired"):
                    raise
                logger.info("BVAnalyzer on %s stopped after %g s", structure.composition.reduced_formula, time_limit_s)
            except Exception as e:  # noqa: BLE001 - BVAnalyzer raises bare ValueError
                logger.info("BVAnalyzer on %s: %s", structure.composition.reduced_formula, e)
    raise ModelError(
        f"could not assign oxidation states to {structure.composition.reduced_formula} for BVSE "
        f"(no charge-neutral usual states); pass BVSEPotential(oxidation_states={{'{ion}': {q_ion}, ...}})"
    )


def structure_oxidation_states(structure: Structure, ion: str = "Li", max_atoms: int = 100) -> dict[str, float] | None:
    """Element -> oxidation state for a whole structure with the mobile ion at +1, or None.

    The framework (every element but ``ion``) gets pymatgen's oxidation-state
    guess for each net charge ``-q`` (``q`` = 1 .. 2 x mobile-ion count + 4),
    and the most usual assignment wins (largest sum of amount x ICSD
    occurrence; ties: ``q`` nearest the structure's, possibly fractional,
    mobile-ion count), so Li-deficient refinements and approximants with
    every split Li site filled still get the framework's usual states.  The
    most electronegative element is fixed at its most negative common state
    and halogens at -1 (except Cl/Br/I next to O, which may be oxo-anions) to
    keep pymatgen's combinatorial search short; frameworks of more than
    ``max_atoms`` atoms per formula unit (after making fractional amounts
    integral) are not attempted.
    """
    from pymatgen.core import Composition, Element

    amounts = structure.composition.element_composition.get_el_amt_dict()
    n_ion = float(amounts.pop(ion, 0.0))
    frame = _integral_framework(amounts)
    if frame is None or sum(frame[0].values()) > max_atoms:
        return None
    frame, scale = frame
    n_ion *= scale
    comp = Composition(frame)
    fixed: dict[str, list[int]] = {}
    anion = max(comp.elements, key=lambda e: (e.X if not math.isnan(e.X) else 0.0))
    neg = [q for q in anion.common_oxidation_states if q < 0]
    if neg:
        fixed[anion.symbol] = [min(neg)]
    for h in _HALOGENS:
        if h in frame and h not in fixed and not (h != "F" and "O" in frame):
            fixed[h] = [-1]
    pos = [q for q in Element(ion).common_oxidation_states if q > 0]
    q_ion = pos[0] if pos else 1
    best, best_key = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in range(1, int(math.ceil(max(n_ion, 1.0) * 2 + 4)) + 1):
            guesses = comp.oxi_state_guesses(oxi_states_override=fixed, target_charge=-q * q_ion)
            if not guesses:
                continue
            states = {str(e): float(v) for e, v in guesses[0].items()}
            key = (_icsd_score(states, frame), -abs(q - n_ion / q_ion))
            if best_key is None or key > best_key:
                best, best_key = states, key
    if best is None:
        return None
    best[ion] = float(q_ion)
    return best


def _integral_framework(amounts: dict[str, float]) -> tuple[dict[str, int], float] | None:
    """Whole, coprime framework amounts and the factor that scaled them (None: none within 24 cells)."""
    if not amounts:
        return None
    for k in range(1, 25):
        if all(abs(k * v - round(k * v)) < 0.02 for v in amounts.values()):
            frame = {e: int(round(k * v)) for e, v in amounts.items()}
            g = reduce(math.gcd, frame.values())
            return {e: v // g for e, v in frame.items()}, k / g
    return None


def _icsd_score(states: dict[str, float], amounts: dict[str, int]) -> float:
    """How usual an assignment is: sum of amount x ICSD occurrence of each (element, integer state)."""
    from pymatgen.core import Composition, Species

    if Composition.oxi_prob is None:  # loaded by pymatgen's first oxi_state_guesses call
        Composition("LiCl").oxi_state_guesses()
    prob = Composition.oxi_prob or {}
    score = 0.0
    for el, v in states.items():
        if abs(v - round(v)) < 1e-6:
            score += amounts.get(el, 0) * float(prob.get(Species(el, int(round(v))), 0.0))
    return score
