"""Ordered supercells of partially occupied crystals (mixed sites, vacancies, split sites).

Experimental CIFs of fast ion conductors are mostly disordered: mixed cation
sites (LGPS, garnets, NASICON), vacancies on framework sites, split sites.  An
energy scan needs one ordered framework, so :func:`order_structure` builds
ordered supercells in four steps:

1. *Sites.*  The mobile ion is removed (``framework='empty'``) or kept
   (``framework='occupied'``).  Partially occupied sites closer than
   ``split_distance_ang`` (split sites, or two CIF rows on one position) are
   merged into one site that holds at most one atom.  Sites are grouped into
   symmetry orbits (spglib on the disordered structure), in the primitive cell.
2. *Rounding.*  For every supercell size ``d`` (primitive cells) up to
   ``max_sites`` sites, the occupancies of each orbit are rounded to counts:
   largest-remainder rounding per orbit, with the element totals kept at the
   largest-remainder rounding of the whole supercell.  The size with the least
   rounding error is kept; in the occupied mode the mobile-ion count is then
   set for charge balance.
3. *Supercell.*  Among the supercells of that size (diagonal or small
   non-diagonal, Hermite normal forms) the most compact one is kept (largest
   distance between periodic images).
4. *Configurations.*  Sites are filled: lowest Ewald energy (pymatgen's
   ``OrderDisorderedStructureTransformation`` when the number of orderings is
   small, else a steepest-descent swap search with restarts on the Ewald
   matrix), or at random with a fixed seed.

Everything runs under ``time_limit_s``; pymatgen is imported inside the
functions that need it.
"""
from __future__ import annotations

import functools
import itertools
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import StructureError

__all__ = [
    "order_structure",
    "OrderingResult",
    "SiteRounding",
    "largest_remainder",
    "round_counts",
    "guess_oxidation_states",
    "FRAMEWORK_MODES",
    "METHODS",
]

logger = logging.getLogger(__name__)

#: ``framework=`` choices: remove the mobile ion, or keep it (charge-balanced).
FRAMEWORK_MODES = ("empty", "occupied")
#: ``method=`` choices.
METHODS = ("auto", "ewald", "random")

#: At most this many orderings are ranked exactly by pymatgen's Ewald minimiser.
PYMATGEN_MAX_ORDERINGS = 500
#: Above this many supercell sites the Ewald matrix (8 N^2 bytes) is not built: random fillings.
EWALD_MAX_SITES = 3000
#: At most this many Hermite normal forms are compared when choosing a supercell shape.
MAX_HNF = 4000
#: A cluster of overlapping partial positions holding up to 1 + this many atoms gets one atom.
SPLIT_OVERFULL = 0.25
#: Occupancies this close to 0 or 1 are treated as exactly 0 or 1 (CIF rounding).
OCC_TOL = 1e-3
_VAC = "vacancy"

_clock = time.perf_counter  # replaced in tests to simulate a slow machine


# ----------------------------------------------------------------------------- results
@dataclass(frozen=True)
class SiteRounding:
    """How one element on one orbit was rounded.

    Attributes
    ----------
    orbit : int
        Orbit index (symmetry-equivalent sites of the base cell; split sites merged).
    label : str
        CIF label (or species string) of a representative site.
    element : str
    multiplicity : int
        Sites of the orbit per base cell.
    n_sites : int
        Sites of the orbit in the supercell (``multiplicity * scaling``).
    frac_coords : tuple of float
        A representative position, fractional coordinates of the base cell.
    target : float
        Occupancy in the input (0-1, summed over the positions of a split site).
    count : int
        Atoms of ``element`` placed on the orbit in the supercell.
    realised : float
        ``count / n_sites``.
    error : float
        ``realised - target``.
    """

    orbit: int
    label: str
    element: str
    multiplicity: int
    n_sites: int
    frac_coords: tuple
    target: float
    count: int
    realised: float
    error: float

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class OrderingResult:
    """Ordered supercells of a disordered structure (:func:`order_structure`).

    Attributes
    ----------
    structures : tuple of pymatgen Structure
        The ordered configurations, lowest Ewald energy first (method
        ``'ewald-*'``) or in the order drawn (``'random'``); plain elements
        (oxidation states removed).  In the ``'empty'`` mode they hold no
        mobile ion.  At most ``n_configurations``; fewer when fewer distinct
        orderings exist or ``time_limit_s`` ran out (see ``notes``).
    ion : str
    framework : {'empty', 'occupied'}
    base_cell : {'input', 'primitive'}
        The cell the supercell is built from.
    supercell_matrix : (3, 3) ndarray of int
        Rows give the supercell vectors in units of the base cell vectors.
    input_matrix : (3, 3) ndarray of float
        The same relative to the input cell (integral when the base is the input cell).
    scaling : int
        ``det(supercell_matrix)``: base cells per supercell.
    rounding : tuple of SiteRounding
        One row per orbit and element.
    composition_target, composition_realised : dict of str to float
        Atoms per supercell, input occupancies vs. the configurations.
    method : {'none', 'ewald-pymatgen', 'ewald-descent', 'random'}
    energies_ev : tuple of float or None
        Ewald energy (eV) of each configuration (point charges, no
        charged-cell background), None for ``'random'``/``'none'``.
    charge : float or None
        Total charge (e) of the configurations with ``oxidation_states``.
    oxidation_states : dict of str to float or None
    oxidation_source : {'given', 'input', 'guess'} or None
    seed : int or None
    time_s : float
        Wall time of the call (s).
    notes : tuple of str
        Anything a reader should know: capped split sites, charge residuals,
        fewer configurations than asked...
    """

    structures: tuple
    ion: str
    framework: str
    base_cell: str
    supercell_matrix: NDArray[np.int64]
    input_matrix: NDArray[np.float64]
    scaling: int
    rounding: tuple
    composition_target: dict
    composition_realised: dict
    method: str
    energies_ev: tuple | None
    charge: float | None
    oxidation_states: dict | None
    oxidation_source: str | None
    seed: Any
    time_s: float
    notes: tuple = field(default=())

    @property
    def structure(self) -> Any:
        """The first (lowest-energy) configuration."""
        return self.structures[0]

    @property
    def n_atoms(self) -> int:
        """Atoms per configuration."""
        return len(self.structures[0])

    @property
    def max_site_error(self) -> float:
        """Largest ``|realised - target|`` occupancy over orbits and elements."""
        return max((abs(r.error) for r in self.rounding), default=0.0)

    @property
    def composition_error(self) -> float:
        """Atoms missing or in excess, summed over elements, per target atom."""
        tot = sum(self.composition_target.values())
        if tot <= 0:
            return 0.0
        els = set(self.composition_target) | set(self.composition_realised)
        dev = sum(abs(self.composition_realised.get(e, 0.0) - self.composition_target.get(e, 0.0)) for e in els)
        return dev / tot

    def to_dict(self) -> dict:
        """JSON-ready record (structures as formulas; ``structure.as_dict()`` them yourself)."""
        return {
            "ion": self.ion,
            "framework": self.framework,
            "base_cell": self.base_cell,
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "input_matrix": np.round(np.asarray(self.input_matrix), 6).tolist(),
            "scaling": self.scaling,
            "n_configurations": len(self.structures),
            "n_atoms": self.n_atoms,
            "formula": self.structures[0].composition.formula,
            "method": self.method,
            "energies_ev": None if self.energies_ev is None else list(self.energies_ev),
            "charge": self.charge,
            "oxidation_states": self.oxidation_states,
            "oxidation_source": self.oxidation_source,
            "composition_target": self.composition_target,
            "composition_realised": self.composition_realised,
            "max_site_error": self.max_site_error,
            "composition_error": self.composition_error,
            "rounding": [r.to_dict() for r in self.rounding],
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else repr(self.seed),
            "time_s": self.time_s,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few lines for people."""
        m = np.asarray(self.supercell_matrix)
        shape = (f"{m[0, 0]}x{m[1, 1]}x{m[2, 2]}" if np.count_nonzero(m - np.diag(np.diag(m))) == 0
                 else m.tolist())
        lines = [
            f"{len(self.structures)} configuration(s) of {self.structures[0].composition.formula} "
            f"({self.n_atoms} atoms, {self.framework} framework)",
            f"supercell {shape} of the {self.base_cell} cell ({self.scaling} cells), method {self.method}, "
            f"{self.time_s:.2f} s",
            f"rounding: max site error {self.max_site_error:.3f}, composition error {self.composition_error:.3%}",
        ]
        if self.charge is not None:
            what = "charge" if self.framework == "occupied" else f"framework charge (without {self.ion})"
            lines.append(f"{what} {self.charge:+.2f} e (oxidation states: {self.oxidation_source})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- rounding kernels
def largest_remainder(values: Sequence[float], total: int | None = None) -> NDArray[np.int64]:
    """Round non-negative ``values`` to integers that sum to ``total`` (largest-remainder method).

    Every value is rounded down, then the ``total - sum(floor)`` values with
    the largest remainders are rounded up (ties: the earlier value).

    Parameters
    ----------
    values : (K,) array_like of float, >= 0
    total : int, optional
        Default: ``round(sum(values))``.  Must lie between ``sum(floor(values))``
        and ``sum(ceil(values))``.

    Returns
    -------
    (K,) ndarray of int

    Examples
    --------
    >>> largest_remainder([2.4, 1.35, 3.25]).tolist()
    [3, 1, 3]
    >>> largest_remainder([1/3, 1/3, 1/3], 1).tolist()
    [1, 0, 0]
    """
    v = np.asarray(values, dtype=float).ravel()
    if np.any(v < -1e-9) or not np.all(np.isfinite(v)):
        raise ValueError(f"`values` must be finite and >= 0 (got {v.tolist()})")
    v = np.clip(v, 0.0, None)
    near = np.abs(v - np.round(v)) < 1e-9
    lo = np.where(near, np.round(v), np.floor(v)).astype(np.int64)
    rem = np.where(near, 0.0, v - lo)
    total = int(round(v.sum())) if total is None else int(total)
    extra = total - int(lo.sum())
    n_frac = int(np.count_nonzero(rem > 0))
    if extra < 0 or extra > n_frac:
        raise ValueError(f"`total` = {total} cannot be reached by rounding {v.tolist()} up or down")
    order = np.argsort(-rem, kind="stable")
    lo[order[:extra]] += 1
    return lo


def _floor_frac(t: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    near = np.abs(t - np.round(t)) < 1e-9
    lo = np.where(near, np.round(t), np.floor(t)).astype(np.int64)
    return lo, np.where(near, 0.0, t - lo)


def round_counts(targets: Any, row_totals: Any) -> NDArray[np.int64]:
    """Round a (rows x species) table of expected counts, keeping row and column totals.

    Each entry becomes the floor or the ceiling of its target; row ``g``
    sums to ``row_totals[g]`` exactly (the sites of an orbit), and each column
    (an element, or the vacancies) sums to the largest-remainder rounding of
    its total whenever the floor/ceiling bounds allow it.  Rounding starts
    from largest remainders in each row; column totals are then repaired
    along shortest exchange paths (moving one unit from a column in excess
    to one short of its total within a row, possibly through other columns).

    Parameters
    ----------
    targets : (G, S) array_like of float, >= 0
        Expected counts; each row sums to its ``row_totals`` entry.
    row_totals : (G,) array_like of int

    Returns
    -------
    (G, S) ndarray of int

    Examples
    --------
    Three orbits of two sites, each 1/3 Ge and 2/3 P: per-orbit rounding alone
    would give 3 Ge (target 2); the column repair keeps the total at 2.

    >>> t = [[2/3, 4/3], [2/3, 4/3], [2/3, 4/3]]
    >>> round_counts(t, [2, 2, 2]).sum(axis=0).tolist()
    [2, 4]
    """
    t = np.asarray(targets, dtype=float)
    rows = np.asarray(row_totals, dtype=np.int64)
    if t.ndim != 2 or rows.shape != (t.shape[0],):
        raise ValueError(f"`targets` must be (G, S) and `row_totals` (G,) (got {t.shape} and {rows.shape})")
    if np.any(np.abs(t.sum(axis=1) - rows) > 1e-6 * np.maximum(rows, 1)):
        raise ValueError("each row of `targets` must sum to its `row_totals` entry")
    lo, frac = _floor_frac(np.clip(t, 0.0, None))
    need_row = rows - lo.sum(axis=1)
    col_goal = largest_remainder(t.sum(axis=0), int(rows.sum())) - lo.sum(axis=0)
    up = np.zeros(t.shape, dtype=bool)
    col_up = np.zeros(t.shape[1], dtype=np.int64)
    # greedy: the largest remainders first, while both the row and the column still want one
    for k in np.argsort(-frac, axis=None, kind="stable"):
        g, s = divmod(int(k), t.shape[1])
        if frac[g, s] <= 0:
            break
        if need_row[g] > 0 and col_up[s] < col_goal[s]:
            up[g, s] = True
            need_row[g] -= 1
            col_up[s] += 1
    # rows still short: their largest remaining remainders (columns overshoot; repaired below)
    for g in np.flatnonzero(need_row > 0):
        cand = [s for s in np.argsort(-frac[g], kind="stable") if frac[g, s] > 0 and not up[g, s]]
        for s in cand[: need_row[g]]:
            up[g, s] = True
            col_up[s] += 1
        need_row[g] = 0
    _repair_columns(up, frac, col_up, col_goal)
    return lo + up.astype(np.int64)


def _repair_columns(up, frac, col_up, col_goal, max_steps: int = 10_000) -> None:
    """Move round-ups between columns along shortest paths until column goals are met (in place)."""
    S = up.shape[1]
    for _ in range(max_steps):
        surplus = [s for s in range(S) if col_up[s] > col_goal[s]]
        deficit = {s for s in range(S) if col_up[s] < col_goal[s]}
        if not surplus or not deficit:
            return
        # BFS over columns: s -> s' through a row g with up[g, s] and a free remainder at (g, s')
        prev: dict[int, tuple[int, int] | None] = {s: None for s in surplus}
        queue = list(surplus)
        hit = None
        while queue and hit is None:
            nxt = []
            for s in queue:
                best: dict[int, tuple[float, int]] = {}
                for g in np.flatnonzero(up[:, s]):
                    for s2 in np.flatnonzero((frac[g] > 0) & ~up[g]):
                        s2 = int(s2)
                        if s2 in prev:
                            continue
                        cost = frac[g, s] - frac[g, s2]
                        if s2 not in best or cost < best[s2][0]:
                            best[s2] = (cost, int(g))
                for s2, (_, g) in best.items():
                    prev[s2] = (s, g)
                    if s2 in deficit:
                        hit = s2
                        break
                    nxt.append(s2)
                if hit is not None:
                    break
            queue = nxt
        if hit is None:
            return  # the floor/ceiling bounds do not allow the goal
        s2 = hit
        while prev[s2] is not None:
            s, g = prev[s2]
            up[g, s], up[g, s2] = False, True
            col_up[s] -= 1
            col_up[s2] += 1
            s2 = s


# ----------------------------------------------------------------------------- oxidation states
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

    def candidates(min_p: float):
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

    fw = np.array([e != ion for e in els])
    for min_p, tol, free_ion in ((0.05, 0.05, False), (0.01, 0.02, False), (0.05, None, True), (0.01, 0.10, False)):
        if free_ion and not (ion in els and fw.any()):
            continue
        c = candidates(min_p)
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


# ----------------------------------------------------------------------------- site model
@dataclass
class _VSite:
    """A site of the base cell as the ordering sees it (a split site's positions merged)."""

    members: list            # [(frac (3,), {element: occ}, label, row index)]
    scale: float = 1.0       # < 1 when the input puts more than one atom on a split site

    @property
    def input_occ(self) -> dict[str, float]:
        """Occupancy per element summed over the positions, as in the input."""
        out: dict[str, float] = {}
        for _, d, _, _ in self.members:
            for e, o in d.items():
                out[e] = out.get(e, 0.0) + o
        return out

    @property
    def occ(self) -> dict[str, float]:
        """Occupancy per element the ordering aims at (at most one atom in all)."""
        return {e: o * self.scale for e, o in self.input_occ.items()}


def _plain(sym: Any) -> str:
    return getattr(sym, "symbol", None) or getattr(getattr(sym, "element", None), "symbol", None) or str(sym)


def _read(structure: Any) -> Any:
    from ..io import read_structure

    return read_structure(structure)


def _element(symbol: Any) -> str:
    from pymatgen.core import Element

    if not isinstance(symbol, str) or not symbol.strip():
        raise StructureError(f"`ion` must be an element symbol such as 'Li' (got {symbol!r})")
    s = symbol.strip().rstrip("+-0123456789")
    try:
        return Element(s).symbol
    except ValueError:
        raise StructureError(f"`ion` must be an element symbol such as 'Li' (got {symbol!r})") from None


def _site_table(s) -> tuple[list, dict | None, list[str]]:
    """[(frac, {el: occ}, label)], input oxidation states (or None), notes."""
    rows, notes = [], []
    oxi_sum: dict[str, float] = {}
    oxi_w: dict[str, float] = {}
    has_oxi = True
    for site in s:
        occ: dict[str, float] = {}
        for sp, o in site.species.items():
            e = _plain(sp)
            occ[e] = occ.get(e, 0.0) + float(o)
            q = getattr(sp, "oxi_state", None)
            if q is None:
                has_oxi = False
            else:
                oxi_sum[e] = oxi_sum.get(e, 0.0) + float(q) * float(o)
                oxi_w[e] = oxi_w.get(e, 0.0) + float(o)
        tot = sum(occ.values())
        if tot > 1 + OCC_TOL:
            notes.append(f"site {getattr(site, 'label', '?')} has total occupancy {tot:.3f} > 1: scaled to 1")
            occ = {e: o / tot for e, o in occ.items()}
        occ = {e: (1.0 if abs(o - 1) < OCC_TOL else o) for e, o in occ.items() if o > OCC_TOL}
        label = str(getattr(site, "label", "") or site.species_string)
        rows.append((np.asarray(site.frac_coords, dtype=float) % 1.0, occ, label))
    oxi = {e: oxi_sum[e] / oxi_w[e] for e in oxi_sum} if has_oxi and oxi_sum else None
    if oxi is not None and all(abs(v) < 1e-9 for v in oxi.values()):
        oxi = None
    return rows, oxi, notes


def _is_ordered(rows) -> bool:
    return all(len(occ) == 1 and next(iter(occ.values())) == 1.0 for _, occ, _ in rows)


def _structure_from_rows(lattice, rows):
    from pymatgen.core import Structure

    species = [{e: o for e, o in occ.items()} for _, occ, _ in rows]
    return Structure(lattice, species, [f for f, _, _ in rows], labels=[lab for _, _, lab in rows])


def _base_cell(lattice, rows, symprec: float):
    """(base lattice, base rows, 'input' | 'primitive')."""
    s = _structure_from_rows(lattice, rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = s.get_primitive_structure(tolerance=symprec)
    except Exception as e:  # noqa: BLE001 - keep the input cell
        logger.debug("primitive cell not found (%s); using the input cell", e)
        return lattice, rows, "input"
    if len(p) >= len(s) or len(s) % len(p):
        return lattice, rows, "input"
    prow = []
    for site in p:
        occ = {_plain(sp): float(o) for sp, o in site.species.items()}
        prow.append((np.asarray(site.frac_coords, dtype=float) % 1.0, occ,
                     str(getattr(site, "label", "") or site.species_string)))
    return p.lattice, prow, "primitive"


def _orbits(lattice, rows, symprec: float) -> tuple[list[int], str]:
    """Orbit id of every row (spglib on the disordered structure; fallback: equal occupancies)."""
    n = len(rows)
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        s = _structure_from_rows(lattice, rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eq = SpacegroupAnalyzer(s, symprec=symprec).get_symmetrized_structure().equivalent_indices
        orbit = [-1] * n
        for k, g in enumerate(eq):
            for i in g:
                orbit[i] = k
        if min(orbit) >= 0:
            return orbit, "spglib"
    except Exception as e:  # noqa: BLE001 - spglib can fail on odd cells
        logger.debug("symmetry analysis failed (%s); grouping equal occupancies", e)
    keys: dict = {}
    return [keys.setdefault(tuple(sorted((e, round(o, 3)) for e, o in occ.items())), len(keys))
            for _, occ, _ in rows], "occupancy"


@functools.lru_cache(maxsize=None)
def _cov_radius(el: str) -> float:
    from pymatgen.core import Element

    try:
        from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

        return float(CovalentRadius.radius[el])
    except Exception:  # noqa: BLE001
        r = Element(el).atomic_radius
        return float(r) if r else 1.0


def _conflict(d: float, occ_a: dict, occ_b: dict, split_distance: float) -> bool:
    """Two partially occupied positions at distance ``d`` cannot both hold an atom."""
    if d >= split_distance:
        return False
    if set(occ_a) & set(occ_b):
        return True  # the same element closer than split_distance: a split site
    # different elements: a bond (O-H at 0.9 A) is allowed, an overlap is not
    ra = max(_cov_radius(e) for e in occ_a)
    rb = max(_cov_radius(e) for e in occ_b)
    return d < 0.75 * (ra + rb)


def _vsites(lattice, rows, split_distance: float, notes: list) -> list[_VSite]:
    """Merge mutually exclusive partially occupied positions into one site each."""
    n = len(rows)
    partial = [i for i, (_, occ, _) in enumerate(rows) if sum(occ.values()) < 1 - OCC_TOL]
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    adj: dict[int, set] = {i: set() for i in partial}
    if split_distance > 0 and len(partial) > 1:
        frac = np.array([rows[i][0] for i in partial])
        dist = lattice.get_all_distances(frac, frac)
        for a, b in zip(*np.nonzero(np.triu(dist < split_distance, 1))):
            i, j = partial[a], partial[b]
            if _conflict(float(dist[a, b]), rows[i][1], rows[j][1], split_distance):
                adj[i].add(j)
                adj[j].add(i)
                parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(i)
    out, n_capped, n_dropped = [], 0, 0
    for members in clusters.values():
        if len(members) == 1:
            out.append(_VSite([(*rows[members[0]], members[0])]))
            continue
        total = sum(sum(rows[i][1].values()) for i in members)
        clique = all(j in adj[i] for i in members for j in members if i != j)
        if total <= 1 + OCC_TOL:
            out.append(_VSite(_unwrapped(lattice, rows, members)))
        elif clique or total <= 1 + SPLIT_OVERFULL:
            # the input puts more than one atom on positions that overlap: one atom in all
            n_capped += 1
            out.append(_VSite(_unwrapped(lattice, rows, members), scale=1.0 / total))
        else:
            # a long chain of close positions: keep the most occupied ones that do not overlap (greedy)
            keep: list[int] = []
            for i in sorted(members, key=lambda i: (-sum(rows[i][1].values()), i)):
                if all(i not in adj[k] for k in keep):
                    keep.append(i)
                else:
                    n_dropped += 1
                    out.append(_VSite([(*rows[i], i)], scale=0.0))   # reported, never filled
            for i in keep:
                out.append(_VSite([(*rows[i], i)]))
    if n_capped:
        notes.append(f"{n_capped} split site(s) hold more than one atom in the input: at most one atom placed each")
    if n_dropped:
        notes.append(f"{n_dropped} position(s) overlapping a more occupied one were left empty")
    return out


def _unwrapped(lattice, rows, members) -> list:
    """Members of a merged site as (frac, occ, label, row), each at its periodic image nearest the first."""
    f0 = rows[members[0]][0]
    out = []
    for i in members:
        f, occ, lab = rows[i]
        _, image = lattice.get_distance_and_image(f0, f)
        out.append((np.asarray(f, dtype=float) + np.asarray(image, dtype=float), occ, lab, i))
    return out


@dataclass
class _Group:
    """An orbit: virtual sites of the base cell with one target occupancy."""

    sites: list[int]
    target: dict[str, float]     # mean occupancy per element (after split-site capping)
    reported: dict[str, float]   # mean occupancy per element as in the input


def _mean(dicts: list[dict]) -> dict[str, float]:
    tot: dict[str, float] = {}
    for d in dicts:
        for e, o in d.items():
            tot[e] = tot.get(e, 0.0) + o
    n = len(dicts)
    return {e: (1.0 if abs(v / n - 1) < 1e-9 else v / n) for e, v in tot.items()}


def _groups(vs: list[_VSite], orbit_of_row) -> list[_Group]:
    keys: dict = {}
    for k, v in enumerate(vs):
        orbits = tuple(sorted(orbit_of_row[m[3]] for m in v.members))
        occ = v.occ
        key = (orbits, tuple(sorted((e, round(o, 3)) for e, o in occ.items())))
        keys.setdefault(key, []).append(k)
    out = []
    for members in keys.values():
        out.append(_Group(members, _mean([vs[k].occ for k in members]), _mean([vs[k].input_occ for k in members])))
    return out


# ----------------------------------------------------------------------------- choice of the supercell size
def _round_for(groups, species, d: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Counts (G, S+1) and targets for ``d`` base cells (last column: vacancies)."""
    G, S = len(groups), len(species)
    t = np.zeros((G, S + 1))
    rows = np.array([len(g.sites) * d for g in groups], dtype=np.int64)
    for gi, g in enumerate(groups):
        for si, e in enumerate(species):
            t[gi, si] = g.target.get(e, 0.0) * rows[gi]
        t[gi, S] = max(rows[gi] - t[gi, :S].sum(), 0.0)
        t[gi] *= rows[gi] / t[gi].sum()
    return round_counts(t, rows), t


def _balance(counts, t, groups, species, ion: str, oxi: dict, d: int) -> tuple[NDArray[np.int64], list[str]]:
    """Set the mobile-ion count for charge neutrality with ``oxi`` (as close as the ion's sites allow)."""
    S = len(species)
    q = np.array([oxi.get(e, 0.0) for e in species] + [0.0])
    notes: list[str] = []
    if ion not in species or oxi.get(ion, 0.0) == 0:
        return counts, notes
    ii = species.index(ion)
    fw = np.ones(S + 1, dtype=bool)
    fw[ii] = False
    want = int(round(-float((counts * q)[:, fw].sum()) / q[ii]))
    target = sum(g.reported.get(ion, 0.0) * len(g.sites) * d for g in groups)
    if abs(want - target) > 0.5 + 1e-9:
        notes.append(f"charge balance sets {ion} to {want} per supercell (the input occupancies give {target:.2f})")
    counts = counts.copy()
    hosts = [gi for gi, g in enumerate(groups) if g.target.get(ion, 0.0) > 0]
    cap = int(sum(counts[gi, ii] + counts[gi, S] for gi in hosts))
    if want > cap or want < 0:
        notes.append(f"charge balance needs {want} {ion} per supercell but the {ion} sites hold {cap}")
        want = min(max(want, 0), cap)
    have = int(counts[:, ii].sum())
    while have != want:
        if have < want:   # fill the vacancy of the orbit furthest below its target
            cand = [gi for gi in hosts if counts[gi, S] > 0]
            gi = max(cand, key=lambda g: ((t[g, ii] - counts[g, ii]) / t[g].sum(), -g))
            counts[gi, ii] += 1
            counts[gi, S] -= 1
            have += 1
        else:             # empty a site of the orbit furthest above its target
            cand = [gi for gi in range(len(groups)) if counts[gi, ii] > 0]
            gi = min(cand, key=lambda g: ((t[g, ii] - counts[g, ii]) / t[g].sum(), g))
            counts[gi, ii] -= 1
            counts[gi, S] += 1
            have -= 1
    return counts, notes


def _error(counts, t, groups, skip: int | None = None) -> float:
    """Atoms misplaced per base cell: per-orbit deviations plus element-total deviations.

    Column ``skip`` (the mobile ion in the occupied mode, whose count follows
    from charge balance) is left out.
    """
    d_rows = np.array([len(g.sites) for g in groups], dtype=float)
    n_rows = counts.sum(axis=1).astype(float)
    dev = (counts - t)[:, :-1]
    if skip is not None:
        dev = np.delete(dev, skip, axis=1)
    scale = d_rows / np.maximum(n_rows, 1)     # per base cell
    d = n_rows[0] / d_rows[0] if len(d_rows) else 1.0
    return float((np.abs(dev) * scale[:, None]).sum()) + float(np.abs(dev.sum(axis=0)).sum() / d)


# ----------------------------------------------------------------------------- supercell shape
def _hnf(d: int):
    """Hermite normal forms of determinant ``d`` (lower triangular, rows = supercell vectors)."""
    for a in range(1, d + 1):
        if d % a:
            continue
        for c in range(1, d // a + 1):
            if (d // a) % c:
                continue
            f = d // a // c
            for b in range(c):
                for dd in range(f):
                    for e in range(f):
                        yield np.array([[a, 0, 0], [b, c, 0], [dd, e, f]], dtype=np.int64)


def _n_hnf(d: int) -> int:
    return sum(c * f * f for a in range(1, d + 1) if d % a == 0
               for c in range(1, d // a + 1) if (d // a) % c == 0 for f in [d // a // c])


def _supercell_matrix(base_matrix: NDArray[np.float64], d: int) -> NDArray[np.int64]:
    """The most compact supercell of ``d`` base cells (largest distance between periodic images)."""
    if d == 1:
        return np.eye(3, dtype=np.int64)
    if _n_hnf(d) <= MAX_HNF:
        cands = np.array(list(_hnf(d)))
    else:
        cands = np.array([np.diag([a, b, d // a // b]) for a in range(1, d + 1) if d % a == 0
                          for b in range(1, d // a + 1) if (d // a) % b == 0], dtype=np.int64)
    lat = cands @ base_matrix                                    # (K, 3, 3)
    n = np.array([v for v in itertools.product(range(-2, 3), repeat=3) if any(v)], dtype=float)
    short = np.linalg.norm(np.einsum("vi,kij->kvj", n, lat), axis=2).min(axis=1)
    lengths = np.linalg.norm(lat, axis=2).sum(axis=1)
    diag = np.array([np.count_nonzero(m - np.diag(np.diag(m))) == 0 for m in cands])
    order = np.lexsort((~diag, lengths, -np.round(short, 2)))
    return cands[order[0]]


def _lattice_points(m: NDArray[np.int64]) -> NDArray[np.float64]:
    """Fractional (supercell) coordinates of the base lattice points inside the supercell, (d, 3)."""
    from pymatgen.util.coord import lattice_points_in_supercell

    return np.asarray(lattice_points_in_supercell(m), dtype=float)


# ----------------------------------------------------------------------------- configurations
def _n_orderings(counts) -> float:
    """log of the number of distinct fillings (product of multinomials)."""
    out = 0.0
    for row in counts:
        n = int(row.sum())
        out += math.lgamma(n + 1) - sum(math.lgamma(int(k) + 1) for k in row)
    return out


def _random_fill(rng, group_sites, counts, n_cols) -> NDArray[np.int64]:
    """Column index (species, last = vacancy) of every supercell site."""
    n_total = sum(len(s) for s in group_sites)
    fill = np.full(n_total, n_cols - 1, dtype=np.int64)
    for sites, row in zip(group_sites, counts):
        labels = np.repeat(np.arange(n_cols), row)
        fill[sites] = rng.permutation(labels)
    return fill


def _ewald_matrix(lattice, frac) -> NDArray[np.float64]:
    """Ewald interaction matrix (eV) of unit point charges at ``frac``: E = q @ M @ q."""
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Species, Structure

    s = Structure(lattice, [Species("H", 1)] * len(frac), frac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = np.asarray(EwaldSummation(s, compute_forces=False).total_energy_matrix, dtype=float)
    return 0.5 * (m + m.T)


def _descend(M, q_col, fill, var_groups, deadline) -> tuple[NDArray[np.int64], float, bool]:
    """Steepest-descent swaps of unlike species within orbits; returns (fill, energy, finished)."""
    fill = fill.copy()
    q = q_col[fill]
    phi = M @ q
    diag = np.diag(M)
    while True:
        if _clock() > deadline:
            return fill, float(q @ phi), False
        best = (-1e-9, None)
        for sites in var_groups:
            if np.all(fill[sites] == fill[sites][0]):
                continue
            qs = q[sites]
            dq = qs[None, :] - qs[:, None]                    # charge change at i when swapping i<->j
            de = (2 * dq * (phi[sites][:, None] - phi[sites][None, :])
                  + dq * dq * (diag[sites][:, None] + diag[sites][None, :] - 2 * M[np.ix_(sites, sites)]))
            same = fill[sites][:, None] == fill[sites][None, :]
            de = np.where(same, np.inf, de)
            k = int(np.argmin(de))
            if de.flat[k] < best[0]:
                a, b = divmod(k, len(sites))
                best = (float(de.flat[k]), (sites[a], sites[b]))
        if best[1] is None:
            return fill, float(q @ phi), True
        i, j = best[1]
        dqi = q[j] - q[i]
        phi += dqi * (M[:, i] - M[:, j])
        q[i], q[j] = q[j], q[i]
        fill[i], fill[j] = fill[j], fill[i]


def _pymatgen_fill(M, q_col, group_sites, counts, n_conf) -> list[tuple[float, NDArray[np.int64]]]:
    """Exact lowest-Ewald fillings: pymatgen's ``EwaldMinimizer`` (the engine of
    ``OrderDisorderedStructureTransformation``), fed the manipulations that
    transformation would build, without its Structure round trip."""
    from pymatgen.analysis.ewald import EwaldMinimizer

    vac = len(q_col) - 1
    fill = np.full(len(M), vac, dtype=np.int64)
    manipulations = []
    for sites, row in zip(group_sites, counts):
        present = [c for c in range(len(row)) if row[c] > 0]
        init = max(present, key=lambda c: (abs(q_col[c]), -c))   # pymatgen starts from the highest |charge|
        fill[sites] = init
        for c in present:
            if c == init:
                continue
            ratio = q_col[c] / q_col[init] if q_col[init] else 0.0
            manipulations.append([float(ratio), int(row[c]), [int(i) for i in sites], int(c)])
    if not manipulations:
        q = q_col[fill]
        return [(float(q @ M @ q), fill)]
    q0 = q_col[fill]
    matrix = M * np.outer(q0, q0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = EwaldMinimizer(matrix, manipulations, max(n_conf, 1), EwaldMinimizer.ALGO_FAST)
    out = []
    for energy, changes in em.output_lists:
        f = fill.copy()
        for idx, col in changes:
            f[idx] = col
        out.append((float(energy), f))
    return out


# ----------------------------------------------------------------------------- main entry point
def order_structure(
    structure: Any,
    ion: str = "Li",
    *,
    framework: str = "empty",
    max_sites: int = 200,
    n_configurations: int = 1,
    seed: int | np.random.Generator | None = 0,
    time_limit_s: float = 60.0,
    method: str = "auto",
    oxidation_states: dict | None = None,
    split_distance_ang: float = 1.0,
    symprec: float = 0.1,
) -> OrderingResult:
    """Ordered supercells of a partially occupied structure.

    Parameters
    ----------
    structure : pymatgen Structure, path (CIF, POSCAR, JSON), ase.Atoms or dict
    ion : str
        The mobile ion (``'Li'``, ``'Na'``...).
    framework : {'empty', 'occupied'}
        ``'empty'``: every ``ion`` is removed first, so its own partial
        occupancy never limits the supercell; a site shared between ``ion``
        and a framework element keeps only the framework part.
        ``'occupied'``: ``ion`` is kept, and its count is set so that the
        rounding does not change the net charge (exact charge balance for a
        charge-balanced input).
    max_sites : int
        Largest supercell, in sites (after ``ion`` removal in the empty mode
        and split-site merging).  Every site counts, occupied or not.
    n_configurations : int
        How many distinct orderings to return.
    seed : int, numpy Generator or None
        Random draws (random fillings, descent restarts, which position of a
        split site is used).  The same seed gives the same configurations.
    time_limit_s : float
        Wall-time budget (s).  The Ewald search stops early and returns what
        it has when the budget runs out; earlier steps raise.
    method : {'auto', 'ewald', 'random'}
        ``'ewald'``: the fillings with the lowest Ewald energy (exact with
        pymatgen for at most ``PYMATGEN_MAX_ORDERINGS`` orderings, else a
        steepest-descent swap search with restarts).  ``'random'``: uniform
        random fillings.  ``'auto'``: ``'ewald'`` when oxidation states are
        known or can be guessed, else ``'random'``.
    oxidation_states : dict of str to float, optional
        Element -> oxidation state.  Default: from the input species when
        they carry them, else :func:`guess_oxidation_states`.
    split_distance_ang : float
        Partially occupied positions closer than this (Å) hold at most one
        atom between them (split sites).  Two different elements are exempt
        when they are farther apart than 0.75 x the sum of their covalent
        radii (an O-H bond of a partially occupied water molecule).
    symprec : float
        Symmetry tolerance (Å) for the primitive cell and the orbits.

    Returns
    -------
    OrderingResult

    Raises
    ------
    StructureError
        Unreadable input, no ``ion`` in it, a primitive cell larger than
        ``max_sites``, no oxidation states where they are needed
        (``framework='occupied'`` or ``method='ewald'``), or ``time_limit_s``
        spent before a first configuration.
    ValueError
        A bad option (also a :class:`StructureError` for ``ion``).

    Notes
    -----
    Rounding: each orbit of ``m`` sites per base cell holds ``m * d`` sites in
    a supercell of ``d`` base cells; the expected counts ``m * d * x`` (and
    the vacancies) are rounded by :func:`round_counts`.  The size ``d`` (at
    most ``max_sites // sites per base cell``) minimises the rounding error:
    the misplaced atoms per base cell summed over orbits plus the deviation of
    the element totals; ties go to the smaller cell.

    Examples
    --------
    Rock salt with a 50/50 Mg/Ni cation site (conventional cell, 4 + 4 sites):

    >>> from pymatgen.core import Lattice, Structure
    >>> fcc = [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]]
    >>> rocksalt = Structure(Lattice.cubic(4.2), [{"Mg": 0.5, "Ni": 0.5}] * 4 + ["O"] * 4,
    ...                      fcc + [[.5, .5, .5], [.5, 0, 0], [0, .5, 0], [0, 0, .5]])
    >>> r = order_structure(rocksalt, "Mg", framework="occupied", oxidation_states={"Mg": 2, "Ni": 2, "O": -2})
    >>> r.structure.composition.formula, r.scaling, r.max_site_error
    ('Mg1 Ni1 O2', 2, 0.0)
    """
    t_start = _clock()
    if framework not in FRAMEWORK_MODES:
        raise ValueError(f"`framework` must be one of {', '.join(FRAMEWORK_MODES)} (got {framework!r})")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)} (got {method!r})")
    if isinstance(max_sites, bool) or not isinstance(max_sites, (int, np.integer)) or max_sites < 1:
        raise ValueError(f"`max_sites` must be an integer >= 1 (got {max_sites!r})")
    if isinstance(n_configurations, bool) or not isinstance(n_configurations, (int, np.integer)) or n_configurations < 1:
        raise ValueError(f"`n_configurations` must be an integer >= 1 (got {n_configurations!r})")
    if not (isinstance(time_limit_s, (int, float)) and time_limit_s > 0):
        raise ValueError(f"`time_limit_s` must be > 0 seconds (got {time_limit_s!r})")
    if not split_distance_ang >= 0:
        raise ValueError(f"`split_distance_ang` must be >= 0 Å (got {split_distance_ang!r})")
    if not symprec > 0:
        raise ValueError(f"`symprec` must be > 0 Å (got {symprec!r})")
    deadline = t_start + float(time_limit_s)
    rng = np.random.default_rng(seed)
    ion = _element(ion)

    def check_time(step: str) -> None:
        if _clock() > deadline:
            raise StructureError(
                f"ordering took longer than time_limit_s = {time_limit_s:g} s ({step}); "
                "raise time_limit_s or lower max_sites"
            )

    s = _read(structure)
    formula = s.composition.formula
    rows, oxi_input, notes = _site_table(s)
    present = {e for _, occ, _ in rows for e in occ}
    if present == {ion}:
        raise StructureError(f"the structure contains only {ion}: there is no framework to order")
    if ion not in present and framework == "empty":
        notes.append(f"the input holds no {ion}: its framework is ordered as given")
    elif ion not in present:
        raise StructureError(
            f"the structure ({formula}) contains no {ion}, so framework='occupied' has no {ion} to balance; "
            f"pass the mobile ion with `ion=` (elements present: {', '.join(sorted(present))})"
        )
    # oxidation states: given > input species > guess
    amounts: dict[str, float] = {}
    for _, occ, _ in rows:
        for e, o in occ.items():
            amounts[e] = amounts.get(e, 0.0) + o
    if oxidation_states is not None:
        oxi = {str(k): float(v) for k, v in oxidation_states.items()}
        missing = sorted(present - set(oxi))
        if missing:
            raise StructureError(f"`oxidation_states` lacks {', '.join(missing)}; give a state for every element")
        oxi_source: str | None = "given"
    elif oxi_input is not None:
        oxi, oxi_source = oxi_input, "input"
    else:
        oxi = guess_oxidation_states(amounts, ion=ion)
        oxi_source = "guess" if oxi is not None else None
    check_time("oxidation states")

    if framework == "empty":
        rows = [(f, {e: o for e, o in occ.items() if e != ion}, lab) for f, occ, lab in rows]
        rows = [r for r in rows if r[1]]
    elif oxi is None:
        raise StructureError(
            f"framework='occupied' sets the {ion} count for charge balance, but no oxidation states of {formula} "
            "could be guessed; pass oxidation_states={'Li': 1, 'O': -2, ...}"
        )
    if method == "ewald" and oxi is None:
        raise StructureError(
            f"method='ewald' needs oxidation states, and none could be guessed for {formula}; "
            "pass oxidation_states={...} or method='random'"
        )
    use_ewald = method == "ewald" or (method == "auto" and oxi is not None
                                      and any(abs(oxi.get(e, 0.0)) > 0 for _, occ, _ in rows for e in occ))

    lattice_in = s.lattice
    if _is_ordered(rows):
        out = _structure_from_rows(lattice_in, rows).get_sorted_structure()
        comp = {e: float(a) for e, a in out.composition.get_el_amt_dict().items()}
        charge = None if oxi is None else float(sum(oxi.get(e, 0.0) * a for e, a in comp.items()))
        return OrderingResult(
            structures=(_plain_structure(out),), ion=ion, framework=framework, base_cell="input",
            supercell_matrix=np.eye(3, dtype=np.int64), input_matrix=np.eye(3), scaling=1, rounding=(),
            composition_target=comp, composition_realised=dict(comp), method="none", energies_ev=None,
            charge=charge, oxidation_states=oxi, oxidation_source=oxi_source,
            seed=seed if not isinstance(seed, np.random.Generator) else None, time_s=_clock() - t_start,
            notes=tuple(notes + ["nothing to order" + (f" once {ion} is removed" if framework == "empty" else "")]),
        )

    # 1. sites: base cell, split sites, orbits
    lattice, brows, base = _base_cell(lattice_in, rows, symprec)
    orbit_of_row, sym_how = _orbits(lattice, brows, symprec)
    if sym_how != "spglib":
        notes.append("symmetry not found: sites grouped by equal occupancy")
    vs = _vsites(lattice, brows, split_distance_ang, notes)
    groups = _groups(vs, orbit_of_row)
    check_time("symmetry")
    n_base = len(vs)
    if n_base > max_sites:
        raise StructureError(
            f"{formula}: the {base} cell already has {n_base} sites > max_sites = {max_sites}; raise max_sites"
        )
    species = sorted({e for g in groups for e in g.target}, key=lambda e: (e != ion, e))

    # 2. rounding: the supercell size with the least error
    best = None
    for d in range(1, max_sites // n_base + 1):
        counts, t = _round_for(groups, species, d)
        bal_notes: list[str] = []
        if framework == "occupied":
            counts, bal_notes = _balance(counts, t, groups, species, ion, oxi, d)
        err = _error(counts, t, groups, species.index(ion) if framework == "occupied" and ion in species else None)
        if best is None or err < best[0] - 1e-9:
            best = (err, d, counts, t, bal_notes)
        if err < 1e-9:
            break
        check_time("rounding")
    _, d, counts, t, bal_notes = best
    notes += bal_notes

    # 3. supercell
    m = _supercell_matrix(lattice.matrix, d)
    from pymatgen.core import Lattice

    sup_lattice = Lattice(m @ lattice.matrix)
    inv_m = np.linalg.inv(m)
    pts = _lattice_points(m)
    if len(pts) != d:  # pragma: no cover - pymatgen contract
        raise StructureError(f"internal error: {len(pts)} lattice points for a supercell of {d} cells")
    # supercell virtual sites: (base vsite k, lattice point p) -> index k * d + p
    centroid = []
    for v in vs:
        centroid.append(np.mean([mem[0] for mem in v.members], axis=0))   # members are unwrapped (_unwrapped)
    centroid_sup = (np.array(centroid) @ inv_m)[:, None, :] + pts[None, :, :]
    frac_sup = (centroid_sup.reshape(-1, 3)) % 1.0
    group_sites = [np.array([k * d + p for k in g.sites for p in range(d)], dtype=np.int64) for g in groups]
    n_cols = len(species) + 1
    check_time("supercell")

    # 4. configurations
    fills: list[NDArray[np.int64]] = []
    energies: list[float] | None = None
    var = [gs for gs, row in zip(group_sites, counts) if np.count_nonzero(row) > 1]
    log_n = _n_orderings(counts)
    n_distinct_max = math.exp(min(log_n, 700))
    if use_ewald and not var:
        use_ewald = False
    if use_ewald and len(frac_sup) > EWALD_MAX_SITES:
        notes.append(f"{len(frac_sup)} sites > {EWALD_MAX_SITES}: random fillings instead of the Ewald ranking")
        use_ewald = False
    if use_ewald:
        q_col = np.array([oxi.get(e, 0.0) for e in species] + [0.0])
        M = _ewald_matrix(sup_lattice, frac_sup)
        check_time("Ewald matrix")

        def energy(fill):
            q = q_col[fill]
            return float(q @ M @ q)

        found: dict[bytes, tuple[float, NDArray[np.int64]]] = {}
        how = "ewald-descent"
        if log_n <= math.log(PYMATGEN_MAX_ORDERINGS):
            try:
                for _, f in _pymatgen_fill(M, q_col, group_sites, counts, n_configurations):
                    found.setdefault(f.tobytes(), (energy(f), f))
                how = "ewald-pymatgen"
            except Exception as e:  # noqa: BLE001 - fall back to the descent
                logger.debug("pymatgen ordering failed (%s); using the descent", e)
        if how == "ewald-descent" or (len(found) < n_configurations and len(found) < n_distinct_max):
            n_starts = 4 + 3 * n_configurations
            finished = True
            for _ in range(n_starts):
                f0 = _random_fill(rng, group_sites, counts, n_cols)
                f, e, finished = _descend(M, q_col, f0, var, deadline)
                found.setdefault(f.tobytes(), (e, f))
                if not finished or _clock() > deadline:
                    notes.append(f"time_limit_s reached during the Ewald search ({len(found)} start(s) done)")
                    break
        ranked = sorted(found.values(), key=lambda x: x[0])
        # distinct energies first (equal energies are usually symmetry-equivalent orderings)
        picked, seen = [], set()
        for e, f in ranked:
            key = round(e, 6)
            if key not in seen:
                seen.add(key)
                picked.append((e, f))
        for e, f in ranked:
            if len(picked) >= n_configurations:
                break
            if not any(f is g for _, g in picked):
                picked.append((e, f))
        picked = sorted(picked, key=lambda x: x[0])[:n_configurations]
        fills = [f for _, f in picked]
        energies = [e for e, _ in picked]
        method_used = how
    else:
        seen_b: set[bytes] = set()
        for _ in range(20 * n_configurations):
            f = _random_fill(rng, group_sites, counts, n_cols)
            if f.tobytes() not in seen_b:
                seen_b.add(f.tobytes())
                fills.append(f)
            if len(fills) >= n_configurations or len(fills) >= n_distinct_max:
                break
            if _clock() > deadline:
                break
        method_used = "random" if var else "none"
    if not fills:
        check_time("configurations")
    if len(fills) < n_configurations:
        notes.append(f"{len(fills)} distinct configuration(s) of {n_configurations} asked")

    # place atoms: a merged split site uses one of its positions that can hold the element
    structures = []
    for f in fills:
        structures.append(_build(sup_lattice, vs, d, inv_m, pts, f, species, rng))

    # report
    rounding = []
    for gi, g in enumerate(groups):
        v0 = vs[g.sites[0]]
        n_sites = len(g.sites) * d
        for si, e in enumerate(species):
            if g.reported.get(e, 0.0) <= 0 and counts[gi, si] == 0:
                continue
            tgt = g.reported.get(e, 0.0)
            real = counts[gi, si] / n_sites
            rounding.append(SiteRounding(
                orbit=gi, label=v0.members[0][2], element=e, multiplicity=len(g.sites), n_sites=n_sites,
                frac_coords=tuple(float(x) for x in np.round(v0.members[0][0], 6) % 1.0),
                target=float(tgt), count=int(counts[gi, si]), realised=float(real), error=float(real - tgt)))
    comp_t: dict[str, float] = {}
    comp_r: dict[str, float] = {}
    for gi, g in enumerate(groups):
        for si, e in enumerate(species):
            comp_t[e] = comp_t.get(e, 0.0) + g.reported.get(e, 0.0) * len(g.sites) * d
            comp_r[e] = comp_r.get(e, 0.0) + float(counts[gi, si])
    charge = None
    if oxi is not None:
        charge = float(sum(oxi.get(e, 0.0) * n for e, n in comp_r.items()))
    input_matrix = sup_lattice.matrix @ np.linalg.inv(lattice_in.matrix)
    return OrderingResult(
        structures=tuple(structures), ion=ion, framework=framework, base_cell=base,
        supercell_matrix=m, input_matrix=input_matrix, scaling=int(d), rounding=tuple(rounding),
        composition_target={e: round(v, 6) for e, v in comp_t.items()}, composition_realised=comp_r,
        method=method_used, energies_ev=None if energies is None else tuple(energies), charge=charge,
        oxidation_states=oxi, oxidation_source=oxi_source,
        seed=seed if not isinstance(seed, np.random.Generator) else None,
        time_s=_clock() - t_start, notes=tuple(notes),
    )


def _plain_structure(s):
    s = s.copy()
    try:
        s.remove_oxidation_states()
    except Exception:  # noqa: BLE001 - already plain
        pass
    for key in list(s.site_properties):
        s.remove_site_property(key)
    return s


def _build(lattice, vs, d, inv_m, pts, fill, species, rng):
    """The ordered Structure for one filling (column per supercell site)."""
    from pymatgen.core import Structure

    els, coords = [], []
    vac = len(species)
    for k, v in enumerate(vs):
        for p in range(d):
            c = int(fill[k * d + p])
            if c == vac:
                continue
            e = species[c]
            if len(v.members) == 1:
                f = v.members[0][0]
            else:
                w = np.array([m[1].get(e, 0.0) for m in v.members])
                j = int(rng.choice(len(w), p=w / w.sum()))
                f = v.members[j][0]
            els.append(e)
            coords.append((np.asarray(f) @ inv_m + pts[p]) % 1.0)
    if not els:
        raise StructureError("the ordering leaves no atom in the cell; check the occupancies")
    return Structure(lattice, els, coords).get_sorted_structure()
