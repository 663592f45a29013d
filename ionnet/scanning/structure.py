"""The structure a scan freezes: element checks, disorder, ordered approximants, relaxation.

pymatgen (and ASE, for relaxation) are imported inside the functions.
"""
from __future__ import annotations

import logging
import warnings
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ModelError, StructureError
from ..io.structures import site_elements

if TYPE_CHECKING:
    from pymatgen.core import Structure
    from pymatgen.core.sites import PeriodicSite

    from ..potentials import Potential

__all__ = ["MAX_ORDER_SITES", "element", "formula", "order_structure", "prepare", "relax"]

logger = logging.getLogger(__name__)

#: ``order=True`` refuses ordered approximants with more sites than this.
MAX_ORDER_SITES = 200


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


def _integral_multiple(structure: Structure, max_sites: int) -> int:
    """Smallest number of cells in which every group of equally occupied sites holds whole atoms."""
    groups: dict[tuple, dict[str, float]] = {}
    for site in structure:
        if _ordered(site):
            continue
        els = site_elements(site)
        g = groups.setdefault(tuple(sorted((k, round(v, 3)) for k, v in els.items())), {})
        for k, v in els.items():
            g[k] = g.get(k, 0.0) + v
    for m in range(1, max(1, max_sites // max(len(structure), 1)) + 1):
        if all(abs(m * v - round(m * v)) < 0.05 for g in groups.values() for v in g.values()):
            return m
    raise StructureError(
        f"order=True: no supercell of <= {max_sites} sites makes the occupancies of {formula(structure)} "
        f"integral ({len(structure)} sites per cell); order the structure yourself (e.g. with supercell or enumlib)"
    )


def _supercell_for(structure: Structure, max_sites: int) -> tuple[int, int, int]:
    """Most isotropic diagonal supercell of the smallest volume in which the occupancies are integral."""
    m = _integral_multiple(structure, max_sites)
    lengths = np.asarray(structure.lattice.abc)
    best = None
    for a in (a for a in range(1, m + 1) if m % a == 0):
        for b in (b for b in range(1, m // a + 1) if (m // a) % b == 0):
            c = m // a // b
            L = lengths * (a, b, c)
            score = (L.max() / L.min(), a + b + c)
            if best is None or score < best[0]:
                best = (score, (a, b, c))
    return best[1]  # type: ignore[index]


def _add_oxidation_states(s: Structure, original: Structure) -> bool:
    """Decorate ``s`` with guessed oxidation states unless it has them; True when they came from the input."""
    if all(getattr(sp, "oxi_state", None) is not None for site in s for sp in site.species):
        return True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            s.add_oxidation_state_by_guess(max_sites=-1)
        except Exception as e:  # noqa: BLE001 - pymatgen raises several types
            raise StructureError(
                f"order=True: cannot guess oxidation states of {formula(original)} ({e}); "
                "give oxidation states in the CIF or order the structure yourself"
            ) from None
    if all((getattr(sp, "oxi_state", 0) or 0) == 0 for site in s for sp in site.species):
        raise StructureError(
            f"order=True: cannot guess oxidation states of {formula(original)} for the Ewald ranking; "
            "give oxidation states in the CIF or order the structure yourself"
        )
    return False


def order_structure(structure: Structure, *, max_sites: int = MAX_ORDER_SITES) -> tuple[Structure, dict]:
    """An ordered approximant of a partially occupied structure.

    The smallest diagonal supercell in which every group of equally occupied
    sites holds an integral number of each species is ordered with pymatgen's
    ``OrderDisorderedStructureTransformation`` (lowest Ewald energy; oxidation
    states guessed with ``add_oxidation_state_by_guess`` unless the input has them).

    Returns
    -------
    structure : pymatgen Structure (ordered, oxidation states removed)
    info : dict
        ``supercell``, ``n_atoms``, ``ewald_energy_ev``, ``oxidation_states``.

    Raises
    ------
    StructureError
        No supercell within ``max_sites`` sites, oxidation states cannot be
        guessed, or pymatgen cannot order it.
    """
    from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

    s = structure.copy()
    scale = _supercell_for(s, max_sites)
    if scale != (1, 1, 1):
        s.make_supercell(list(scale))
    from_input = _add_oxidation_states(s, structure)
    trans = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_FAST)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            best = trans.apply_transformation(s, return_ranked_list=1)[0]
    except Exception as e:  # noqa: BLE001 - pymatgen raises several types
        raise StructureError(f"order=True: pymatgen could not order {formula(structure)}: {e}") from None
    ordered = _strip_oxidation(best["structure"])
    info = {
        "supercell": list(scale),
        "n_atoms": len(ordered),
        "ewald_energy_ev": float(best.get("energy", float("nan"))),
        "oxidation_states": "input" if from_input else "guess",
    }
    return ordered, info


def prepare(structure: Structure, ion: str, framework: str, order: bool) -> tuple[Structure, dict | bool]:
    """The ordered structure to scan (oxidation states removed) and the ordering record (False: none).

    Raises
    ------
    StructureError
        No ``ion`` or nothing else in the structure, or disorder that ``framework`` and ``order`` do not allow.
    """
    s = _clean_occupancies(structure)
    present = {el for site in s for el in site_elements(site)}
    if ion not in present:
        raise StructureError(
            f"the structure ({formula(s)}) contains no {ion}; pass the mobile ion with `ion=` "
            f"(elements present: {', '.join(sorted(present))})"
        )
    if present == {ion}:
        raise StructureError(f"the structure contains only {ion}: there is no framework to scan")
    mobile_dis, fw_dis = _disorder(s, ion)
    order_info: dict | bool = False
    if fw_dis and not order:
        raise StructureError(
            f"{formula(s)} is disordered on {len(fw_dis)} framework site(s) (e.g. site {fw_dis[0]}: "
            f"{s[fw_dis[0]].species}); pass order=True to build an ordered approximant"
        )
    if mobile_dis and not fw_dis and framework == "empty":
        pass  # the partially occupied mobile-ion sites are removed anyway
    elif (mobile_dis or fw_dis) and order:
        s, order_info = order_structure(s)
    elif mobile_dis and framework == "vacancy":
        raise StructureError(
            f"{formula(s)} has partially occupied {ion} sites ({len(mobile_dis)}); framework='vacancy' needs "
            f"an ordered {ion} arrangement: use framework='empty' (removes every {ion}) or order=True"
        )
    return _strip_oxidation(s), order_info


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
