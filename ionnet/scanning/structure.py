"""The structure a scan freezes: element checks, disorder, ordered configurations, relaxation.

pymatgen (and ASE, for relaxation) are imported inside the functions.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError, StructureError
from ..io.structures import site_elements

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.core.sites import PeriodicSite

    from ..potentials import Potential

__all__ = ["MAX_ORDER_SITES", "ORDER_TIME_LIMIT_S", "ORDER_SEED", "element", "formula", "order_configurations", "prepare", "relax"]

logger = logging.getLogger(__name__)

#: Default ``max_sites`` of ``order=True``: the largest ordered supercell, in sites.
MAX_ORDER_SITES = 200
#: Wall-time budget (s) of one ordering (``order=True``).
ORDER_TIME_LIMIT_S = 60.0
#: Seed of the ordering's random draws (Ewald-descent restarts, random fillings, split positions).
ORDER_SEED = 0


def element(symbol: object, what: str = "`ion`") -> str:
    """The element symbol of ``symbol`` (``'Li+'`` and ``'Mg2+'`` are accepted).

    Raises
    ------
    StructureError
        Not an element symbol.
    """
    from pymatgen.core import Element

    if not isinstance(symbol, str) or not symbol.strip():
        raise StructureError(f"{what} must be an element symbol such as 'Li' (got {symbol!r})")
    s = symbol.strip().rstrip("+-0123456789")
    try:
        return Element(s).symbol
    except ValueError:
        raise StructureError(f"{what} must be an element symbol such as 'Li' (got {symbol!r})") from None


def formula(structure: Structure) -> str:
    """Reduced formula of a structure."""
    return structure.composition.reduced_formula


def _strip_oxidation(structure: Structure) -> Structure:
    s = structure.copy()
    s.remove_oxidation_states()
    return s


def _clean_occupancies(structure: Structure, tol: float = 1e-3) -> Structure:
    """Snap occupancies within ``tol`` of 1 to exactly 1 (CIF rounding)."""
    s = structure.copy()
    for i, site in enumerate(s):
        els = site_elements(site)
        if len(els) == 1:
            (sym, occ), = els.items()
            if occ != 1.0 and abs(occ - 1.0) < tol:
                s.replace(i, sym, properties=site.properties)
    return s


def _ordered(site: PeriodicSite) -> bool:
    els = site_elements(site)
    return len(els) == 1 and abs(next(iter(els.values())) - 1.0) < 1e-3


def _disorder(structure: Structure, ion: str) -> tuple[list[int], list[int]]:
    """Indices of disordered sites: (mobile-ion-only sites, framework sites)."""
    mobile, fw = [], []
    for i, site in enumerate(structure):
        if not _ordered(site):
            (mobile if set(site_elements(site)) == {ion} else fw).append(i)
    return mobile, fw


def _ordering_mode(framework: str) -> str:
    """The ordering's mode of a scan framework: ``'empty'`` or ``'occupied'`` (``'vacancy'`` is its old name)."""
    from ..settings import framework_name

    return framework_name(framework)


def _ion_count(structure: Structure, ion: str) -> float:
    """Σ occupancy of ``ion`` over the sites of ``structure``."""
    return float(sum(site_elements(site).get(ion, 0.0) for site in structure))


def order_configurations(structure: Structure, ion: str, framework: str, *, max_sites: int = MAX_ORDER_SITES,
          n_configurations: int = 1, seed: int = ORDER_SEED) -> tuple[list[Structure], dict]:
    """Ordered configurations of a partially occupied structure (:func:`ionnet.scanning.ordering.order_structure`).

    ``framework='empty'`` removes ``ion`` before ordering (the configurations
    hold no ``ion``); ``'occupied'`` (or its old name ``'vacancy'``) keeps it,
    with its count set for charge balance.

    Returns
    -------
    configurations : list of pymatgen Structure
        Ordered, oxidation states removed; at most ``n_configurations``.
    info : dict
        The ordering's record (``OrderingResult.to_dict()``: supercell,
        per-site ``rounding``, errors, ``oxidation_states``, notes) plus
        ``n_mobile``: Σ occupancy of ``ion`` in the input, per ordered cell.

    Raises
    ------
    StructureError
        The ordering failed (too many sites, time limit, no oxidation states...).
    """
    from .ordering import order_structure as _order

    r = _order(structure, ion, framework=_ordering_mode(framework), max_sites=max_sites,
               n_configurations=n_configurations, seed=seed, time_limit_s=ORDER_TIME_LIMIT_S)
    info = r.to_dict()
    ratio = abs(float(np.linalg.det(np.asarray(r.input_matrix, dtype=float))))
    info["n_mobile"] = round(_ion_count(structure, ion) * ratio, 6)
    return [_strip_oxidation(c) for c in r.structures], info


def prepare(structure: Structure, ion: str, framework: str, order: bool, *, max_sites: int = MAX_ORDER_SITES,
            n_configurations: int = 1, missing_ion: str = "error") -> tuple[list[Structure], dict | bool]:
    """The ordered structures to scan (oxidation states removed) and the ordering record (False: none).

    One structure unless ``order`` orders a disordered input into
    ``n_configurations`` configurations (:func:`order_configurations`).  The mobile ion is
    looked for in the input, before ordering: in the empty mode the ordered
    configurations hold none.  ``missing_ion='framework'`` (empty mode only) scans
    a structure that holds no ``ion`` as given, as its own empty framework.

    Raises
    ------
    StructureError
        No ``ion`` or nothing else in the structure, or disorder that ``framework`` and ``order`` do not allow.
    """
    s = _clean_occupancies(structure)
    present = {el for site in s for el in site_elements(site)}
    if ion not in present and not (missing_ion == "framework" and framework == "empty"):
        hint = "" if framework != "empty" else "; missing_ion='framework' scans it as given as the empty framework"
        raise StructureError(
            f"the structure ({formula(s)}) contains no {ion}; pass the mobile ion with `ion=` "
            f"(elements present: {', '.join(sorted(present))}){hint}"
        )
    if present == {ion}:
        raise StructureError(f"the structure contains only {ion}: there is no framework to scan")
    mobile_dis, fw_dis = _disorder(s, ion)
    if fw_dis and not order:
        raise StructureError(
            f"{formula(s)} is disordered on {len(fw_dis)} framework site(s) (e.g. site {fw_dis[0]}: "
            f"{s[fw_dis[0]].species}); pass order=True to build an ordered approximant"
        )
    if mobile_dis and not fw_dis and framework == "empty":
        return [_strip_oxidation(s)], False  # the partially occupied mobile-ion sites are removed anyway
    if (mobile_dis or fw_dis) and order:
        return order_configurations(s, ion, framework, max_sites=max_sites, n_configurations=n_configurations)
    if mobile_dis:
        raise StructureError(
            f"{formula(s)} has partially occupied {ion} sites ({len(mobile_dis)}); framework='{framework}' needs "
            f"an ordered {ion} arrangement: use framework='empty' (removes every {ion}) or order=True"
        )
    return [_strip_oxidation(s)], False


def relax(structure: Structure, pot: Potential, *, fmax: float = 0.05, steps: int = 500) -> tuple[Structure, dict]:
    """Relax positions and cell of ``structure`` with the potential's ASE calculator (BFGS, Fréchet cell filter).

    Raises
    ------
    ModelError
        The potential has no ASE calculator.
    """
    from ..potentials import ase_calculator, potential_name

    calc = ase_calculator(pot)
    if calc is None:
        raise ModelError(
            f"relax=True needs an ASE calculator and potential {potential_name(pot)!r} has none; "
            "relax the structure beforehand or use relax=False"
        )
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        from ase.filters import FrechetCellFilter as CellFilter
    except ImportError:  # ase < 3.23 (the structures extra allows 3.22)
        from ase.constraints import ExpCellFilter as CellFilter

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    opt = BFGS(CellFilter(atoms), logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    info = {"method": "ase-bfgs+frechet-cell", "fmax_ev_ang": fmax, "steps": int(opt.nsteps),
            "converged": converged, "energy_ev": float(atoms.get_potential_energy())}
    if not converged:
        logger.warning("relaxation did not converge in %d steps (fmax %.3f eV/Å)", steps, fmax)
    return AseAtomsAdaptor.get_structure(atoms), info
