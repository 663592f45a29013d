"""The grid plan of a scan: the frozen frameworks, their symmetry operations, the grid shape, the exclusions.

``framework='empty'`` (the default) removes every mobile ion and freezes one
framework; ``'occupied'`` (old name ``'vacancy'``) freezes one framework per
symmetry orbit of mobile ions (that ion is the probe, every other atom, the
other mobile ions included, stays).
"""
from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..memory import check_grid_memory
from ..settings import ScanSettings, framework_name
from .exclusion import excluded_mask, radii
from ..io.structures import site_elements
from .symmetry import SYMPREC, Operations, grid_shape, operations, plan_shape

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["Framework", "GridPlan", "frameworks", "plan_grid"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Framework:
    """One frozen framework (the probe excluded) and what its map records about it."""

    structure: Structure
    meta: dict = field(default_factory=dict)


def _equivalent_sites(s: Structure, symprec: float) -> list[list[int]]:
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return SpacegroupAnalyzer(s, symprec=symprec).get_symmetrized_structure().equivalent_indices
    except Exception:  # noqa: BLE001 - spglib failure: every site distinct
        return [[i] for i in range(len(s))]


def frameworks(s: Structure, ion: str, mode: str, symprec: float = SYMPREC, *, group: bool = True) -> list[Framework]:
    """The frameworks to scan: the empty one, or one per symmetry orbit of ``ion`` (``'occupied'``; one per ion without ``group``)."""
    mode = framework_name(mode)
    mobile = [i for i, site in enumerate(s) if ion in site_elements(site)]
    if mode == "empty":
        fw = s.copy()
        fw.remove_sites(mobile)
        return [Framework(fw, {"framework": "empty", "n_removed": len(mobile)})]
    out = []
    for g in (_equivalent_sites(s, symprec) if group else [[i] for i in range(len(s))]):
        k = int(g[0])
        if k not in mobile:
            continue
        fw = s.copy()
        fw.remove_sites([k])
        out.append(Framework(fw, {
            "framework": "occupied", "site_index": k, "start_frac": [float(x) for x in s[k].frac_coords],
            "multiplicity": len(g), "equivalent_sites": [int(i) for i in g],
        }))
    return out


@dataclass(frozen=True)
class GridPlan:
    """What a scan evaluates: one map per framework, all on one grid.

    Attributes
    ----------
    structure : pymatgen Structure
        The prepared structure, moved to a standard origin when the symmetry needs it.
    frameworks : list of Framework
    operations : list of Operations
        Per map, only those that map the grid onto itself.
    shape, requested_shape : (3,) ints
    origin_shift : (3,) list of float, fractional
    radii : dict element -> Å
        Exclusion radii used.
    excluded : list of (na, nb, nc) bool ndarray
        Per map, the nodes inside an exclusion sphere.
    """

    structure: Structure
    frameworks: list[Framework]
    operations: list[Operations]
    shape: tuple[int, int, int]
    requested_shape: tuple[int, int, int]
    origin_shift: list[float]
    radii: dict[str, float]
    excluded: list[NDArray[np.bool_]]


def _symmetric(s: Structure, ion: str, settings: ScanSettings) -> tuple[Structure, list[Framework], list[Operations], list[float]]:
    """Frameworks and their operations, after moving ``s`` to spglib's standard origin when needed."""
    fws = frameworks(s, ion, settings.framework, group=settings.symmetry)
    shift = [0.0, 0.0, 0.0]
    if not settings.symmetry:
        return s, fws, [Operations.identity() for _ in fws], shift
    _, origin = operations(fws[0].structure if settings.framework == "empty" else s)
    if origin is not None and np.any(np.abs((origin + 0.5) % 1.0 - 0.5) > 1e-9):
        s = s.copy()
        s.translate_sites(list(range(len(s))), origin, frac_coords=True, to_unit_cell=True)
        shift = [float(x) for x in origin]
        fws = frameworks(s, ion, settings.framework, group=settings.symmetry)
    return s, fws, [operations(fw.structure)[0] for fw in fws], shift


def plan_grid(s: Structure, ion: str, settings: ScanSettings) -> GridPlan:
    """The frameworks, operations, grid shape and exclusion masks of a scan of ``s``.

    Raises
    ------
    ResourceError
        The grids would not fit in memory.
    GridError
        Every node of a map is excluded.
    """
    s, fws, op_sets, shift = _symmetric(s, ion, settings)
    if settings.shape is not None:
        requested = shape = settings.shape
    else:
        requested = grid_shape(s.lattice.matrix, settings.spacing)
        # the whole structure's operations too, so they carry each ion's map onto its orbit's (Xi's union)
        whole = [operations(s)[0]] if settings.symmetry and settings.framework != "empty" else []
        shape = plan_shape(requested, op_sets + whole, symmetry=settings.symmetry, refine=settings.refine)
        if shape != requested:
            logger.info("grid %s rounded to %s for the symmetry / refine", requested, shape)
    check_grid_memory(shape, len(fws), None if settings.shape is not None else settings.spacing)
    elements = sorted({site.specie.symbol for fw in fws for site in fw.structure})
    r = radii(ion, elements, settings.radii)
    masks = [excluded_mask(fw.structure, shape, r, label=f"map {j + 1}") for j, fw in enumerate(fws)]
    return GridPlan(s, fws, [ops.on_grid(shape) for ops in op_sets], tuple(shape), tuple(requested), shift, r, masks)
