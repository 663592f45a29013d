"""Connected components of ``{E <= t}`` on the periodic grid, for results, grids and arrays.

The algorithm (pieces labelled inside the cell, merged across the faces,
unwrapped, winding vectors) is :func:`ionnet.core.components.periodic_components`;
this module takes its inputs from a result or a grid and returns a :class:`Components`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import GridError
from ..settings import DEFAULT_CONNECTIVITY, check_connectivity

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from ..analysis import Percolation
    from ..grid import EnergyGrid, ScanResult

    Energies = Percolation | EnergyGrid | ScanResult | ArrayLike

__all__ = ["Components", "periodic_components"]


@dataclass(frozen=True, eq=False)
class Components:
    """Connected components of the nodes with relative energy ``<= threshold``.

    Attributes
    ----------
    threshold : float, eV
        Relative to ``e_ref``.
    e_ref : float, eV
        Reference energy (the source energy of a result, else the grid minimum).
    labels : (na, nb, nc) ndarray of int
        0 for nodes above the threshold, else the component id ``1..n``;
        components are ordered by their lowest energy (id 1 holds the minimum).
    pieces : (na, nb, nc) ndarray of int
        Non-periodic pieces (``scipy.ndimage.label`` inside the cell), 0 = none.
    piece_component : (P + 1,) ndarray of int
        Component id of each piece (index 0 unused).
    piece_offsets : (P + 1, 3) ndarray of int
        Cell offset at which each piece is placed when its component is unwrapped.
    dimensionality : (n,) ndarray of int
        0 for a finite pocket, else the number (1-3) of independent directions
        along which the component wraps around the periodic cell.
    windings : list of (k, 3) int ndarrays
        Winding vectors found for each component (lattice units).
    sizes : (n,) ndarray of int
        Nodes in each component.
    min_energy : (n,) ndarray, eV
        Lowest relative energy in each component.
    connectivity : int
        6, 18 or 26.
    """

    threshold: float
    e_ref: float
    labels: NDArray[np.int64]
    pieces: NDArray[np.int64]
    piece_component: NDArray[np.int64]
    piece_offsets: NDArray[np.int64]
    dimensionality: NDArray[np.int64]
    windings: list
    sizes: NDArray[np.int64]
    min_energy: NDArray[np.float64]
    connectivity: int

    @property
    def n_components(self) -> int:
        """Number of components."""
        return int(len(self.sizes))

    @property
    def percolating(self) -> NDArray[np.bool_]:
        """(n,) bool: the component wraps around the cell."""
        return self.dimensionality > 0

    def unwrapped_indices(self, component: int) -> NDArray[np.int64]:
        """(M, 3) integer node indices of ``component`` (1-based id), unwrapped.

        Index ``(i, j, k) + offset * (na, nb, nc)``: the component's pieces at
        consistent periodic images, so the node set is connected without
        periodic wrap.  A percolating component is cut open along one copy of
        its winding directions.
        """
        if not 1 <= component <= self.n_components:
            raise GridError(f"`component` must be 1..{self.n_components} (got {component!r})")
        ijk = np.argwhere(self.labels == component)
        off = self.piece_offsets[self.pieces[tuple(ijk.T)]]
        return ijk + off * np.asarray(self.labels.shape)


def _inputs(obj: Energies, connectivity: int | None) -> tuple[NDArray[np.float64], float, int]:
    """(relative energies, reference, connectivity) from a result, set, grid or array."""
    from ..analysis import Percolation
    from ..grid import EnergyGrid, ScanResult

    if isinstance(obj, (ScanResult, Percolation)):
        obj = obj.lowest()
    if isinstance(obj, Percolation):
        e = obj.grid.energies
        ref = float(obj.e_min)
        conn = obj.connectivity if connectivity is None else connectivity
    else:
        e = obj.energies if isinstance(obj, EnergyGrid) else np.asarray(obj, dtype=np.float64)
        if e.ndim != 3:
            raise GridError(f"energies must be a 3D (na, nb, nc) array in eV (got shape {e.shape})")
        fin = e[np.isfinite(e)]
        if fin.size == 0:
            raise GridError("energies has no finite value")
        ref = float(fin.min())
        conn = DEFAULT_CONNECTIVITY if connectivity is None else connectivity
    return np.asarray(e, dtype=np.float64) - ref, ref, check_connectivity(conn)


def periodic_components(obj: Energies, threshold: float, *, connectivity: int | None = None) -> Components:
    """Connected components of the nodes at or below ``threshold`` with periodic wrap.

    Parameters
    ----------
    obj : PercolationResult, PercolationSet, EnergyGrid, ScanResult or (na, nb, nc) array, eV
        Energies are taken relative to the result's source energy, or to the
        grid minimum; of several maps, the lowest is used.
    threshold : float, eV
        Relative energy; nodes with ``E - e_ref <= threshold`` are kept.
    connectivity : {6, 18, 26}, optional
        Default: the result's connectivity, else :data:`ionnet.settings.DEFAULT_CONNECTIVITY`.

    Returns
    -------
    Components

    Raises
    ------
    GridError
        Bad array, connectivity or non-finite threshold.

    Examples
    --------
    Two wells along x, 0.2 eV apart, joined across ``x = 0``/``x = 1/2`` by
    0.4 eV barriers; along y and z they are channels that wrap:

    >>> from ionnet.data import two_well_field
    >>> e = two_well_field((8, 4, 4), barrier=0.2, tilt=0.1, amplitudes=(0.0, 0.0))
    >>> c = periodic_components(e, 0.25)
    >>> c.n_components, c.dimensionality.tolist()
    (2, [2, 2])
    >>> periodic_components(e, 0.5).dimensionality.tolist()
    [3]
    """
    from ..core.components import periodic_components as components_of

    rel, ref, conn = _inputs(obj, connectivity)
    t = float(threshold)
    if not np.isfinite(t):
        raise GridError(f"`threshold` must be a finite energy in eV (got {threshold!r})")
    return Components(t, ref, *components_of(rel, t, conn), connectivity=conn)
