"""The entry point :func:`order_structure`: sites, rounding, supercell, configurations, report."""
from __future__ import annotations

from typing import Any

import numpy as np

from ...errors import StructureError
from ._common import EWALD_MAX_SITES, FRAMEWORK_MODES, METHODS, Deadline, seed_record
from .configurations import Supercell, build, ewald_fills, plain_structure, random_fills
from .oxidation import guess_oxidation_states
from .results import OrderingResult, SiteRounding
from .rounding import balance, round_for, rounding_error
from .sites import (base_cell, element, is_ordered, orbit_groups, orbits, read_input, site_table,
                    structure_from_rows, virtual_sites)
from .supercell import lattice_points, supercell_matrix

__all__ = ["order_structure"]


def order_structure(
    structure: Any, ion: str = "Li", *, framework: str = "empty", max_sites: int = 200, n_configurations: int = 1,
    seed: int | np.random.Generator | None = 0, time_limit_s: float = 60.0, method: str = "auto",
    oxidation_states: dict | None = None, split_distance_ang: float = 1.0, symprec: float = 0.1,
) -> OrderingResult:
    """Ordered supercells of a partially occupied structure.

    Parameters
    ----------
    structure : pymatgen Structure, path (CIF, POSCAR, JSON), ase.Atoms or dict
    ion : str
        The mobile ion (``'Li'``, ``'Na'``...).
    framework : {'empty', 'occupied'}
        ``'empty'``: every ``ion`` is removed first (its own partial occupancy never limits the supercell; a
        site shared with a framework element keeps the framework part).  ``'occupied'``: ``ion`` is kept, its
        count set so that the rounding keeps the net charge (exact balance for a charge-balanced input).
    max_sites, n_configurations : int
        Largest supercell, in sites (every site, occupied or not, after ``ion`` removal in the empty
        mode and split-site merging); how many distinct orderings to return.
    seed : int, numpy Generator or None
        Random fillings, descent restarts, which position of a split site is used (same seed, same result).
    time_limit_s : float
        Wall-time budget (s): the Ewald search returns what it has when it runs out; earlier steps raise.
    method : {'auto', 'ewald', 'random'}
        ``'ewald'``: the lowest Ewald energies (exact with pymatgen up to ``PYMATGEN_MAX_ORDERINGS`` orderings,
        else a swap descent with restarts); ``'random'``: uniform; ``'auto'``: ``'ewald'`` if states are known.
    oxidation_states : dict of str to float, optional
        Element -> oxidation state (default: the input's species, else :func:`guess_oxidation_states`).
    split_distance_ang, symprec : float, Å
        Partially occupied positions closer than ``split_distance_ang`` hold at most one atom (split
        sites; two elements farther apart than 0.75 x their covalent radii are exempt, e.g. an O-H bond
        of a partial water molecule).  ``symprec``: symmetry tolerance of the primitive cell and orbits.

    Returns
    -------
    OrderingResult

    Raises
    ------
    StructureError
        Unreadable input, no ``ion``, a primitive cell above ``max_sites``, no oxidation states where
        needed (``'occupied'`` or ``'ewald'``), or ``time_limit_s`` spent before a first configuration.
    ValueError
        A bad option (also a :class:`StructureError` for ``ion``).

    Notes
    -----
    An orbit of ``m`` sites per base cell holds ``m * d`` sites in ``d`` base cells (expected counts ``m d x``
    rounded by :func:`round_counts`); ``d <= max_sites // sites per base cell`` minimises the misplaced atoms
    per base cell summed over orbits plus the deviation of the element totals (ties: the smaller cell).

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
    _check_options(framework, method, max_sites, n_configurations, time_limit_s, split_distance_ang, symprec)
    deadline = Deadline(time_limit_s)
    rng = np.random.default_rng(seed)
    ion = element(ion)
    s = read_input(structure)
    formula = s.composition.formula
    rows, oxi_input, notes = site_table(s)
    _check_ion(rows, ion, framework, formula, notes)
    oxi, oxi_source = _oxidation(rows, ion, oxidation_states, oxi_input)
    deadline.check("oxidation states")
    rows = _framework_rows(rows, ion, framework, oxi, method, formula)
    common = dict(ion=ion, framework=framework, oxidation_states=oxi, oxidation_source=oxi_source,
                  seed=seed_record(seed))
    if is_ordered(rows):
        return _as_given(s.lattice, rows, notes, deadline, **common)
    return _order(s.lattice, rows, formula, method, max_sites, n_configurations, split_distance_ang, symprec,
                  rng, deadline, notes, **common)


def _order(lattice_in, rows, formula: str, method: str, max_sites: int, n_configurations: int,
           split_distance_ang: float, symprec: float, rng, deadline: Deadline, notes: list[str],
           **common: Any) -> OrderingResult:
    """Sites and orbits, rounding, supercell, configurations (Ewald-ranked if the method asks), result."""
    ion, framework, oxi = common["ion"], common["framework"], common["oxidation_states"]
    use_ewald = method == "ewald" or (method == "auto" and oxi is not None
                                      and any(abs(oxi.get(e, 0.0)) > 0 for _, occ, _ in rows for e in occ))
    # 1. sites: base cell, split sites, orbits
    lattice, vs, groups, base = _base_sites(lattice_in, rows, formula, max_sites, split_distance_ang, symprec,
                                            deadline, notes)
    species = sorted({e for g in groups for e in g.target}, key=lambda e: (e != ion, e))
    # 2. rounding, 3. supercell, 4. configurations
    d, counts, _ = _best_scaling(groups, species, ion, framework, oxi, max_sites // len(vs), deadline, notes)
    cell = _supercell(lattice, vs, groups, d)
    deadline.check("supercell")
    fills, energies, how = _fill(cell, counts, species, oxi if use_ewald else None, n_configurations, rng,
                                 deadline, notes)
    structures = tuple(build(cell, f, species, rng) for f in fills)
    return _result(structures, cell, base, lattice_in, groups, species, counts, how, energies, notes, deadline,
                   **common)


def _base_sites(lattice, rows, formula: str, max_sites: int, split_distance_ang: float, symprec: float,
                deadline: Deadline, notes: list[str]):
    """The base cell's lattice, its (virtual, split-merged) sites, their orbit groups and the cell's name."""
    lattice, brows, base = base_cell(lattice, rows, symprec)
    orbit_of_row, sym_how = orbits(lattice, brows, symprec)
    if sym_how != "spglib":
        notes.append("symmetry not found: sites grouped by equal occupancy")
    vs = virtual_sites(lattice, brows, split_distance_ang, notes)
    groups = orbit_groups(vs, orbit_of_row)
    deadline.check("symmetry")
    if len(vs) > max_sites:
        raise StructureError(
            f"{formula}: the {base} cell already has {len(vs)} sites > max_sites = {max_sites}; raise max_sites"
        )
    return lattice, vs, groups, base


def _check_options(framework, method, max_sites, n_configurations, time_limit_s, split_distance_ang,
                   symprec) -> None:
    if framework not in FRAMEWORK_MODES:
        raise ValueError(f"`framework` must be one of {', '.join(FRAMEWORK_MODES)} (got {framework!r})")
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {', '.join(METHODS)} (got {method!r})")
    if isinstance(max_sites, bool) or not isinstance(max_sites, (int, np.integer)) or max_sites < 1:
        raise ValueError(f"`max_sites` must be an integer >= 1 (got {max_sites!r})")
    if isinstance(n_configurations, bool) or not isinstance(n_configurations, (int, np.integer)) \
            or n_configurations < 1:
        raise ValueError(f"`n_configurations` must be an integer >= 1 (got {n_configurations!r})")
    if not (isinstance(time_limit_s, (int, float)) and time_limit_s > 0):
        raise ValueError(f"`time_limit_s` must be > 0 seconds (got {time_limit_s!r})")
    if not split_distance_ang >= 0:
        raise ValueError(f"`split_distance_ang` must be >= 0 Å (got {split_distance_ang!r})")
    if not symprec > 0:
        raise ValueError(f"`symprec` must be > 0 Å (got {symprec!r})")


def _check_ion(rows, ion: str, framework: str, formula: str, notes: list[str]) -> None:
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


def _oxidation(rows, ion: str, given: dict | None, from_input: dict | None) -> tuple[dict | None, str | None]:
    """Oxidation states and where they came from: given > input species > guess."""
    present = {e for _, occ, _ in rows for e in occ}
    if given is not None:
        oxi = {str(k): float(v) for k, v in given.items()}
        missing = sorted(present - set(oxi))
        if missing:
            raise StructureError(f"`oxidation_states` lacks {', '.join(missing)}; give a state for every element")
        return oxi, "given"
    if from_input is not None:
        return from_input, "input"
    amounts: dict[str, float] = {}
    for _, occ, _ in rows:
        for e, o in occ.items():
            amounts[e] = amounts.get(e, 0.0) + o
    oxi = guess_oxidation_states(amounts, ion=ion)
    return oxi, ("guess" if oxi is not None else None)


def _framework_rows(rows, ion: str, framework: str, oxi: dict | None, method: str, formula: str) -> list:
    """The rows to order: without ``ion`` in the empty mode; checks what each mode needs."""
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
    return rows


def _charge(oxi: dict | None, composition: dict) -> float | None:
    return None if oxi is None else float(sum(oxi.get(e, 0.0) * n for e, n in composition.items()))


def _as_given(lattice, rows, notes: list[str], deadline: Deadline, **common: Any) -> OrderingResult:
    """Nothing to order: the input cell (without the ion in the empty mode)."""
    out = structure_from_rows(lattice, rows).get_sorted_structure()
    comp = {e: float(a) for e, a in out.composition.get_el_amt_dict().items()}
    what = "nothing to order" + (f" once {common['ion']} is removed" if common["framework"] == "empty" else "")
    return OrderingResult(
        structures=(plain_structure(out),), base_cell="input", supercell_matrix=np.eye(3, dtype=np.int64),
        input_matrix=np.eye(3), scaling=1, rounding=(), composition_target=comp, composition_realised=dict(comp),
        method="none", energies_ev=None, charge=_charge(common["oxidation_states"], comp),
        time_s=deadline.elapsed(), notes=tuple(notes + [what]), **common,
    )


def _best_scaling(groups, species: list[str], ion: str, framework: str, oxi: dict | None, d_max: int,
                  deadline: Deadline, notes: list[str]):
    """The supercell size (base cells) with the least rounding error: (d, counts (G, S+1), targets)."""
    best = None
    skip = species.index(ion) if framework == "occupied" and ion in species else None
    for d in range(1, d_max + 1):
        counts, t = round_for(groups, species, d)
        bal_notes: list[str] = []
        if framework == "occupied":
            counts, bal_notes = balance(counts, t, groups, species, ion, oxi, d)
        err = rounding_error(counts, t, groups, skip)
        if best is None or err < best[0] - 1e-9:
            best = (err, d, counts, t, bal_notes)
        if err < 1e-9:
            break
        deadline.check("rounding")
    _, d, counts, t, bal_notes = best
    notes += bal_notes
    return d, counts, t


def _supercell(lattice, vs, groups, d: int) -> Supercell:
    """The most compact supercell of ``d`` base cells and its sites."""
    from pymatgen.core import Lattice

    m = supercell_matrix(lattice.matrix, d)
    sup_lattice = Lattice(m @ lattice.matrix)
    inv_m = np.linalg.inv(m)
    pts = lattice_points(m)
    if len(pts) != d:  # pragma: no cover - pymatgen contract
        raise StructureError(f"internal error: {len(pts)} lattice points for a supercell of {d} cells")
    # supercell site (base virtual site k, lattice point p) -> index k * d + p; members are unwrapped
    centroid = np.array([np.mean([mem[0] for mem in v.members], axis=0) for v in vs])
    frac = ((centroid @ inv_m)[:, None, :] + pts[None, :, :]).reshape(-1, 3) % 1.0
    group_sites = [np.array([k * d + p for k in g.sites for p in range(d)], dtype=np.int64) for g in groups]
    return Supercell(sup_lattice, vs, d, m, inv_m, pts, group_sites, frac)


def _fill(cell: Supercell, counts, species: list[str], oxi: dict | None, n_conf: int, rng, deadline: Deadline,
          notes: list[str]):
    """(fills, energies or None, method): Ewald-ranked when ``oxi`` is given and there is something to rank."""
    var = any(np.count_nonzero(row) > 1 for row in counts)
    if oxi is not None and var and len(cell.frac) > EWALD_MAX_SITES:
        notes.append(f"{len(cell.frac)} sites > {EWALD_MAX_SITES}: random fillings instead of the Ewald ranking")
        oxi = None
    if oxi is not None and var:
        q_col = np.array([oxi.get(e, 0.0) for e in species] + [0.0])
        fills, energies, how = ewald_fills(cell, counts, q_col, n_conf, rng, deadline, notes)
    else:
        fills = random_fills(cell, counts, len(species) + 1, n_conf, rng, deadline)
        energies, how = None, ("random" if var else "none")
    if not fills:
        deadline.check("configurations")
    if len(fills) < n_conf:
        notes.append(f"{len(fills)} distinct configuration(s) of {n_conf} asked")
    return fills, energies, how


def _rounding_rows(groups, species: list[str], counts, d: int, vs) -> tuple[SiteRounding, ...]:
    rounding = []
    for gi, g in enumerate(groups):
        v0 = vs[g.sites[0]]
        n_sites = len(g.sites) * d
        for si, e in enumerate(species):
            tgt = g.reported.get(e, 0.0)
            if tgt <= 0 and counts[gi, si] == 0:
                continue
            real = counts[gi, si] / n_sites
            rounding.append(SiteRounding(
                orbit=gi, label=v0.members[0][2], element=e, multiplicity=len(g.sites), n_sites=n_sites,
                frac_coords=tuple(float(x) for x in np.round(v0.members[0][0], 6) % 1.0),
                target=float(tgt), count=int(counts[gi, si]), realised=float(real), error=float(real - tgt)))
    return tuple(rounding)


def _result(structures, cell: Supercell, base: str, lattice_in, groups, species, counts, how: str, energies,
            notes: list[str], deadline: Deadline, **common: Any) -> OrderingResult:
    comp_t: dict[str, float] = {}
    comp_r: dict[str, float] = {}
    for gi, g in enumerate(groups):
        for si, e in enumerate(species):
            comp_t[e] = comp_t.get(e, 0.0) + g.reported.get(e, 0.0) * len(g.sites) * cell.d
            comp_r[e] = comp_r.get(e, 0.0) + float(counts[gi, si])
    return OrderingResult(
        structures=structures, base_cell=base, supercell_matrix=cell.matrix,
        input_matrix=cell.lattice.matrix @ np.linalg.inv(lattice_in.matrix), scaling=int(cell.d),
        rounding=_rounding_rows(groups, species, counts, cell.d, cell.vsites),
        composition_target={e: round(v, 6) for e, v in comp_t.items()}, composition_realised=comp_r,
        method=how, energies_ev=None if energies is None else tuple(energies),
        charge=_charge(common["oxidation_states"], comp_r), time_s=deadline.elapsed(), notes=tuple(notes),
        **common,
    )
