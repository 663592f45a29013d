"""Space-group operations of a framework (spglib) and the grid shapes they allow.

The integer arithmetic on grid nodes is :mod:`ionnet.core.symmetry`; this
module finds the operations of a pymatgen structure in its own basis, with
rational translations, and how far the structure is from being exactly symmetric.
"""
from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..core import symmetry as core

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["SYMPREC", "MAX_DENOMINATOR", "MAX_SHAPE_GROWTH", "Operations", "operations", "grid_shape", "plan_shape",
           "orbit_node_ops"]

#: Symmetry tolerance (Å) for spglib / pymatgen.  Tight on purpose: node
#: energies are copied between symmetry-equivalent nodes, which is exact only
#: if the framework really has that symmetry.
SYMPREC = 1e-3
#: Largest translation denominator accepted for a grid-compatible symmetry operation.
MAX_DENOMINATOR = 24
#: Symmetry may grow the node count by at most this factor; beyond it the grid keeps
#: the requested shape and only the operations compatible with it are used.
MAX_SHAPE_GROWTH = 1.5


@dataclass(frozen=True)
class Operations:
    """Space-group operations ``x -> R x + num / den`` in the basis of the structure's cell.

    Attributes
    ----------
    rotations : (k, 3, 3) ndarray of int
    num, den : (k, 3) ndarray of int
        Translations as reduced fractions.
    n_dropped : int
        Operations left out (irrational translation, or not compatible with the grid).
    spacegroup : str
    deviation_ang : float, Å
        Largest distance of an atom's image under an operation from the nearest equal atom.
    """

    rotations: NDArray[np.int64]
    num: NDArray[np.int64]
    den: NDArray[np.int64]
    n_dropped: int = 0
    spacegroup: str = "P1"
    deviation_ang: float = 0.0

    @classmethod
    def identity(cls, spacegroup: str = "(not used)") -> "Operations":
        """The trivial group (symmetry off)."""
        return cls(np.eye(3, dtype=np.int64)[None], np.zeros((1, 3), np.int64), np.ones((1, 3), np.int64),
                   spacegroup=spacegroup)

    def __len__(self) -> int:
        return len(self.rotations)

    def on_grid(self, shape: Sequence[int]) -> "Operations":
        """The operations that map the grid ``shape`` onto itself (always a subgroup)."""
        keep = core.compatible(shape, self.rotations, self.den)
        return Operations(self.rotations[keep], self.num[keep], self.den[keep],
                          self.n_dropped + int((~keep).sum()), self.spacegroup, self.deviation_ang)

    def integer_ops(self, shape: Sequence[int]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """``(M, T)``: the operations acting on node indices of ``shape`` (see :mod:`ionnet.core.symmetry`)."""
        return core.integer_ops(shape, self.rotations, self.num, self.den)


def _cell(structure: Structure) -> tuple:
    return (np.asarray(structure.lattice.matrix, dtype=np.float64),
            np.asarray(structure.frac_coords, dtype=np.float64), [site.specie.Z for site in structure])


def _deviation(structure: Structure, rotations: NDArray[np.int64], translations: NDArray[np.float64]) -> float:
    """Largest distance (Å) between an atom's image under an operation and the nearest equal atom."""
    f = np.asarray(structure.frac_coords, dtype=np.float64)
    lat = np.asarray(structure.lattice.matrix, dtype=np.float64)
    Z = np.asarray([site.specie.Z for site in structure])
    worst = 0.0
    for R, t in zip(rotations, translations):
        g = f @ R.T + t
        for z in np.unique(Z):
            d = (g[Z == z][:, None, :] - f[Z == z][None, :, :] + 0.5) % 1.0 - 0.5
            worst = max(worst, float(np.linalg.norm(d @ lat, axis=-1).min(axis=1).max()))
    return worst


def operations(structure: Structure, symprec: float = SYMPREC) -> tuple[Operations, NDArray[np.float64] | None]:
    """spglib operations of ``structure`` with rational translations.

    Returns
    -------
    ops : Operations
    origin_shift : (3,) ndarray, fractional, or None
        When some translations are irrational in this origin (an arbitrary
        origin shift of the input), the vector to add to every atom so the
        standard origin is used; None when not needed.
    """
    import spglib

    cell = _cell(structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's OLD_ERROR_HANDLING notice
        sym = spglib.get_symmetry(cell, symprec=symprec)
        if sym is None:  # spglib failure: no symmetry
            return Operations.identity("P1"), None
        num, den, ok = core.rational_translations(sym["translations"], max_denominator=MAX_DENOMINATOR)
        shift = None
        if not ok.all():
            ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
            if ds is not None:
                shift = np.linalg.solve(np.asarray(ds.transformation_matrix, dtype=np.float64),
                                        np.asarray(ds.origin_shift, dtype=np.float64)) % 1.0
        spacegroup = spglib.get_spacegroup(cell, symprec=symprec) or "P1"
    rot = np.asarray(sym["rotations"], dtype=np.int64)[ok]
    dev = _deviation(structure, rot, num[ok] / den[ok])
    return Operations(rot, num[ok], den[ok], int((~ok).sum()), spacegroup, dev), shift


def grid_shape(lattice: ArrayLike, spacing: float) -> tuple[int, int, int]:
    """Nodes along a, b, c for a target ``spacing`` (Å): ``ceil(|a_i| / spacing)``.

    Examples
    --------
    >>> grid_shape([[10.0, 0, 0], [0, 6.0, 0], [0, 0, 4.7]], 0.5)
    (20, 12, 10)

    Raises
    ------
    GridError
        An axis would get fewer than 2 nodes (no barrier can be seen along it).
    """
    lengths = np.linalg.norm(np.asarray(lattice, dtype=np.float64), axis=1)
    if not np.all(lengths / spacing < 1e6):
        from ..errors import GridError

        raise GridError(f"`spacing` {spacing:g} Å gives over a million nodes along a cell vector; use 0.1 Å or more")
    shape = tuple(max(1, int(math.ceil(L / spacing - 1e-9))) for L in lengths)
    if min(shape) < 2:
        from ..errors import GridError

        raise GridError(f"`spacing` {spacing:g} Å gives {shape[0]}x{shape[1]}x{shape[2]} nodes; every axis needs "
                        f"at least 2 (the shortest cell vector is {min(lengths):.3g} Å): use a smaller spacing")
    return shape  # type: ignore[return-value]


def plan_shape(
    requested: Sequence[int], op_sets: Sequence[Operations], *, symmetry: bool, refine: bool
) -> tuple[int, int, int]:
    """The grid shape for a requested one: rounded up to fit every operation set (unless that
    grows the grid by more than :data:`MAX_SHAPE_GROWTH`), and even along every axis for ``refine``.
    """
    rot = np.concatenate([ops.rotations for ops in op_sets])
    den = np.concatenate([ops.den for ops in op_sets])
    shp = tuple(int(x) for x in requested)
    if symmetry:
        cand = core.compatible_shape(shp, rot, den)
        if np.prod(cand) <= MAX_SHAPE_GROWTH * np.prod(shp):
            shp = cand
    if refine:
        shp = tuple(x + (x % 2) for x in shp)
        if symmetry:
            shp = core.compatible_shape(shp, rot, den)
        shp = tuple(x + (x % 2) for x in shp)
    return shp  # type: ignore[return-value]


def orbit_node_ops(
    structure: Structure, site_index: int, equivalent_sites: Sequence[int], shape: Sequence[int],
    *, symprec: float = SYMPREC,
) -> list[list[list[int]] | None]:
    """Node operations that carry the map of one mobile ion onto the map of each equivalent ion.

    The map of ion ``k'`` (``structure[k']`` removed) is the map of ion ``k``
    moved by an operation ``g`` of the whole structure with ``g(site k) = site k'``:
    ``E_k'[M i + T] = E_k[i]`` on node indices (:func:`ionnet.core.symmetry.integer_ops`).

    Parameters
    ----------
    structure : pymatgen Structure
        The whole structure, every mobile ion present, in the grid's basis and origin.
    site_index : int
        The scanned ion ``k``.
    equivalent_sites : sequence of int
        The ions ``k'`` of its orbit.
    shape : (3,) ints
        The grid.

    Returns
    -------
    list
        Per ``k'``: ``[M row 0, M row 1, M row 2, T]`` (four 3-lists of int), or
        None where no operation of the structure maps the grid onto itself and
        ``k`` onto ``k'``.
    """
    ops, _ = operations(structure, symprec)
    ops = ops.on_grid(shape)
    out: list[list[list[int]] | None] = [None] * len(equivalent_sites)
    if not len(ops):
        return out
    M, T = ops.integer_ops(shape)
    frac = np.asarray(structure.frac_coords, dtype=np.float64)
    lat = np.asarray(structure.lattice.matrix, dtype=np.float64)
    images = frac[site_index] @ ops.rotations.transpose(0, 2, 1) + ops.num / ops.den  # (k, 3): g(site k)
    for q, kk in enumerate(equivalent_sites):
        d = (images - frac[int(kk)] + 0.5) % 1.0 - 0.5
        dist = np.linalg.norm(d @ lat, axis=1)
        hit = np.flatnonzero(dist < max(10 * symprec, 1e-2))
        if hit.size:
            j = int(hit[np.argmin(dist[hit])])
            out[q] = [[int(x) for x in M[j, r]] for r in range(3)] + [[int(x) for x in T[j]]]
    return out
