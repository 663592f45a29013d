"""Connected components of ``{E <= t}`` on the periodic grid (numpy/scipy only).

``scipy.ndimage.label`` labels the pieces inside the cell; pieces that touch
across a cell face are then merged.  Every crossing carries the integer cell
offset it jumps by, so walking a spanning tree of the merged pieces places
each piece at a consistent periodic image ("unwrapping"), and a crossing that
closes a loop with a non-zero offset is a winding vector: the component wraps
around the crystal (it percolates) along that direction.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import GridError

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


def _structure(connectivity: int) -> NDArray[np.bool_]:
    from scipy.ndimage import generate_binary_structure

    return generate_binary_structure(3, {6: 1, 18: 2, 26: 3}[connectivity])


def _steps(connectivity: int) -> NDArray[np.int64]:
    d = np.array(
        [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) > (0, 0, 0)],
        dtype=np.int64,
    )
    l1 = np.abs(d).sum(axis=1)
    return d[l1 <= {6: 1, 18: 2, 26: 3}[connectivity]]


def _inputs(obj: Any, connectivity: int | None):
    """(relative energies, reference, connectivity) from a result, set, grid or array."""
    from ..grid import EnergyGrid

    if hasattr(obj, "results") and hasattr(obj, "multiplicities"):
        obj = min(obj.results, key=lambda r: r.e_min)
    if hasattr(obj, "level_map") and hasattr(obj, "grid"):
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
        conn = 6 if connectivity is None else connectivity
    if conn not in (6, 18, 26):
        raise GridError(f"`connectivity` must be 6, 18 or 26 (got {conn!r})")
    return np.asarray(e, dtype=np.float64) - ref, ref, int(conn)


def periodic_components(obj: Any, threshold: float, *, connectivity: int | None = None) -> Components:
    """Connected components of the nodes at or below ``threshold`` with periodic wrap.

    Parameters
    ----------
    obj : PercolationResult, PercolationSet, EnergyGrid or (na, nb, nc) array, eV
        Energies are taken relative to the result's source energy, or to the
        grid minimum.
    threshold : float, eV
        Relative energy; nodes with ``E - e_ref <= threshold`` are kept.
    connectivity : {6, 18, 26}, optional
        Default: the result's connectivity, 6 for a grid.

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

    >>> import numpy as np
    >>> x = np.arange(8) / 8
    >>> e = (0.2 * np.cos(4 * np.pi * x) - 0.1 * np.sin(2 * np.pi * x))[:, None, None] * np.ones((8, 4, 4))
    >>> c = periodic_components(e, 0.25)
    >>> c.n_components, c.dimensionality.tolist()
    (2, [2, 2])
    >>> periodic_components(e, 0.5).dimensionality.tolist()
    [3]
    """
    rel, ref, conn = _inputs(obj, connectivity)
    t = float(threshold)
    if not np.isfinite(t):
        raise GridError(f"`threshold` must be a finite energy in eV (got {threshold!r})")
    from scipy.ndimage import label
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    shape = np.asarray(rel.shape)
    mask = np.isfinite(rel) & (rel <= t)
    pieces, n_pieces = label(mask, structure=_structure(conn))
    pieces = pieces.astype(np.int64)

    # crossings between pieces through the periodic faces: (p, q, w) = piece q at offset w touches p
    idx1d = [np.arange(n) for n in rel.shape]
    p_all, q_all, w_all = [], [], []
    for s in _steps(conn):
        wrap = [(idx1d[d] + s[d]) // shape[d] for d in range(3)]  # per-axis offset of the neighbour
        if not any(np.any(w) for w in wrap):
            continue
        nb = np.roll(pieces, shift=tuple(-s), axis=(0, 1, 2))  # nb[x] = pieces[x + s]
        W = (
            wrap[0][:, None, None] != 0
        ) | (wrap[1][None, :, None] != 0) | (wrap[2][None, None, :] != 0)
        sel = W & (pieces > 0) & (nb > 0)
        if not np.any(sel):
            continue
        ii, jj, kk = np.nonzero(sel)
        p_all.append(pieces[ii, jj, kk])
        q_all.append(nb[ii, jj, kk])
        w_all.append(np.stack([wrap[0][ii], wrap[1][jj], wrap[2][kk]], axis=1))
    if p_all:
        rows = np.unique(
            np.column_stack([np.concatenate(p_all), np.concatenate(q_all), np.concatenate(w_all)]), axis=0
        )
    else:
        rows = np.zeros((0, 5), dtype=np.int64)

    # merged components of the piece graph
    n_nodes = n_pieces + 1
    graph = coo_matrix((np.ones(len(rows)), (rows[:, 0], rows[:, 1])), shape=(n_nodes, n_nodes))
    _, comp_of_piece = connected_components(graph, directed=False)

    # unwrap each component over a spanning tree; loops with a net offset are windings
    adj: dict[int, list[tuple[int, NDArray[np.int64]]]] = {}
    for p, q, *w in rows:
        w = np.asarray(w, dtype=np.int64)
        adj.setdefault(int(p), []).append((int(q), w))
        adj.setdefault(int(q), []).append((int(p), -w))
    offsets = np.zeros((n_nodes, 3), dtype=np.int64)
    seen = np.zeros(n_nodes, dtype=bool)
    windings_of_root: dict[int, list] = {}
    for start in adj:
        if seen[start]:
            continue
        seen[start] = True
        wind: list = []
        queue = deque([start])
        while queue:
            p = queue.popleft()
            for q, w in adj[p]:
                target = offsets[p] + w
                if not seen[q]:
                    seen[q] = True
                    offsets[q] = target
                    queue.append(q)
                elif np.any(offsets[q] != target):
                    wind.append(target - offsets[q])
        windings_of_root[int(comp_of_piece[start])] = wind

    # relabel components 1..n ordered by lowest energy
    piece_ids = np.arange(1, n_nodes)
    comp_ids = comp_of_piece[piece_ids] if n_pieces else np.zeros(0, dtype=np.int64)
    uniq = np.unique(comp_ids)
    flat_pieces = pieces.ravel()
    in_any = flat_pieces > 0
    node_comp = np.zeros(rel.size, dtype=np.int64)
    node_comp[in_any] = comp_of_piece[flat_pieces[in_any]]
    flat_rel = rel.ravel()
    mins = np.full(len(uniq), np.inf)
    sizes = np.zeros(len(uniq), dtype=np.int64)
    if len(uniq):
        pos = np.searchsorted(uniq, node_comp[in_any])
        np.minimum.at(mins, pos, flat_rel[in_any])
        sizes = np.bincount(pos, minlength=len(uniq)).astype(np.int64)
    order = np.lexsort((-sizes, mins))  # lowest energy first, then larger first
    new_id = np.zeros(n_nodes if n_nodes > 0 else 1, dtype=np.int64)
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(1, len(uniq) + 1)
    comp_to_new = dict(zip(uniq.tolist(), rank.tolist()))
    for pid in piece_ids:
        new_id[pid] = comp_to_new[int(comp_of_piece[pid])]
    labels = new_id[pieces]
    windings, dims = [], []
    for old in uniq[order]:
        w = windings_of_root.get(int(old), [])
        w = np.asarray(w, dtype=np.int64).reshape(-1, 3)
        windings.append(w)
        dims.append(int(np.linalg.matrix_rank(w.astype(np.float64))) if len(w) else 0)
    return Components(
        threshold=t,
        e_ref=ref,
        labels=labels,
        pieces=pieces,
        piece_component=new_id,
        piece_offsets=offsets,
        dimensionality=np.asarray(dims, dtype=np.int64),
        windings=windings,
        sizes=sizes[order],
        min_energy=mins[order],
        connectivity=conn,
    )
