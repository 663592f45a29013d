"""Oxidation states of a (possibly fractional) composition, bounded for any input: :func:`guess_oxidation_states`."""
from __future__ import annotations

import functools
import itertools
import math
import os

import numpy as np

__all__ = ["guess_oxidation_states"]


@functools.lru_cache(maxsize=1)
def _oxi_table() -> dict[str, list[tuple[float, float]]]:
    """Element -> [(oxidation state, ICSD frequency)], most frequent first (pymatgen's icsd_bv.yaml)."""
    import pymatgen.core.composition as comp_mod
    from monty.serialization import loadfn
    from pymatgen.core import Species

    data = loadfn(os.path.join(os.path.dirname(comp_mod.__file__), "icsd_bv.yaml"))["occurrence"]
    out: dict[str, list[tuple[float, float]]] = {}
    for key, count in data.items():
        sp = Species.from_str(key)
        if sp.oxi_state:
            out.setdefault(sp.element.symbol, []).append((float(sp.oxi_state), float(count)))
    for el, lst in out.items():
        tot = sum(c for _, c in lst)
        out[el] = sorted(((q, c / tot) for q, c in lst), key=lambda x: -x[1])
    return out


def _candidates(els: list, x, table: dict, min_p: float, ion: str | None, max_combinations: int):
    """Every assignment of the candidate states of ``els`` (a share >= ``min_p`` of their occurrences).

    Returns ``(q, score, ok)``: charges (C, E), summed log-frequency (C,) and whether anions are more
    electronegative than cations (C,) (all True when no assignment is); None if an element has no state.
    """
    from pymatgen.core import Element

    opts: list[list[tuple[float, float]]] = []
    for e in els:
        lst = [(q, p) for q, p in table.get(e, []) if p >= min_p][:5]
        if not lst:
            common = [float(q) for q in Element(e).common_oxidation_states if q]
            lst = [(q, 1.0 / len(common)) for q in common] if common else []
        if not lst:
            return None
        opts.append(lst[:1] if e == ion else lst)
    while math.prod(len(o) for o in opts) > max_combinations:
        k = max(range(len(opts)), key=lambda i: len(opts[i]))
        opts[k] = opts[k][:-1]
    combos = np.array(list(itertools.product(*[range(len(o)) for o in opts])), dtype=np.int64)
    q = np.stack([np.array([o[i][0] for i in combos[:, k]]) for k, o in enumerate(opts)], axis=1)
    logp = np.stack([np.log(np.array([o[i][1] for i in combos[:, k]])) for k, o in enumerate(opts)], axis=1)
    neg, pos = q < 0, q > 0
    ok = (np.where(neg, x, np.inf).min(axis=1) >= np.where(pos, x, -np.inf).max(axis=1)) & pos.any(axis=1)
    if not ok.any():
        ok = np.ones(len(q), dtype=bool)
    return q, logp.sum(axis=1), ok


def guess_oxidation_states(amounts: dict, *, ion: str | None = None, max_combinations: int = 200_000) -> dict | None:
    """Oxidation state of every element of a (possibly fractional) composition.

    One state per element (no mixed valence).  Candidates are the states that
    make up a share of the element's ICSD occurrences (pymatgen's
    ``icsd_bv.yaml``; ``common_oxidation_states`` for elements not listed),
    anions must be more electronegative than cations (when some assignment
    allows it), and among the assignments that qualify the most frequent
    states win (log-frequency summed over elements).  Tried in turn:

    1. states with >= 5 % of the occurrences, net charge within 5 % of the
       positive charge;
    2. states with >= 1 % (``P4+`` in ``P2S6``, ``V2+``), within 2 %;
    3. with ``ion`` given, its count taken as unknown (CIFs often misreport
       the mobile ion): >= 5 % states that leave the rest negative;
    4. >= 1 % states, net charge within 10 %.

    Unlike ``Composition.oxi_state_guesses`` the work is bounded for any
    fractional composition (at most ``max_combinations`` assignments).

    Parameters
    ----------
    amounts : dict of str to float
        Element -> amount (atoms per cell, may be fractional).
    ion : str, optional
        Fixed to its most frequent state (``Li`` -> +1).

    Returns
    -------
    dict of str to float, or None
        None when no assignment qualifies.

    Examples
    --------
    >>> guess_oxidation_states({"Li": 10, "Ge": 1, "P": 2, "S": 12}, ion="Li")
    {'Li': 1.0, 'Ge': 4.0, 'P': 5.0, 'S': -2.0}
    >>> guess_oxidation_states({"Li": 4, "P": 2, "S": 6}, ion="Li")    # P2S6(4-): P(IV)
    {'Li': 1.0, 'P': 4.0, 'S': -2.0}
    """
    from pymatgen.core import Element

    table = _oxi_table()
    els = [e for e, a in amounts.items() if a > 1e-9]
    if not els:
        return None
    a = np.array([amounts[e] for e in els], dtype=float)
    x = np.array([Element(e).X if not math.isnan(Element(e).X) else 0.0 for e in els])

    fw = np.array([e != ion for e in els])
    for min_p, tol, free_ion in ((0.05, 0.05, False), (0.01, 0.02, False), (0.05, None, True), (0.01, 0.10, False)):
        if free_ion and not (ion in els and fw.any()):
            continue
        c = _candidates(els, x, table, min_p, ion, max_combinations)
        if c is None:
            continue
        q, score, ok = c
        if free_ion:
            good = ok & (q[:, fw] @ a[fw] < 0)
        else:
            good = ok & (np.abs(q @ a) <= tol * np.maximum(np.clip(q, 0, None) @ a, 1e-9))
        if good.any():
            k = int(np.argmax(np.where(good, score, -np.inf)))
            return {e: float(q[k, i]) for i, e in enumerate(els)}
    return None
