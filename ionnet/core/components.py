"""Connected components of ``{E <= t}`` on the periodic grid, with their winding vectors.

``scipy.ndimage.label`` labels the pieces inside the cell; pieces that touch
across a cell face are then merged.  Every crossing carries the integer cell
offset it jumps by, so walking a spanning tree of the merged pieces places each
piece at a consistent periodic image ("unwrapping"), and a crossing that closes
a loop with a non-zero offset is a winding vector: the component wraps around
the crystal (it percolates) along that direction.

Array in, array out; :func:`ionnet.render.periodic_components` wraps it for
results and grids.
"""
from __future__ import annotations

from collections import deque
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from .graph import forward_steps
from .sweep import stencil

__all__ = ["ComponentArrays", "periodic_components"]


class ComponentArrays(NamedTuple):
    """What :func:`periodic_components` returns (see :class:`ionnet.render.Components`)."""

    labels: NDArray[np.int64]           # (na, nb, nc): 0 above the threshold, else component id 1..n
    pieces: NDArray[np.int64]           # (na, nb, nc): non-periodic pieces, 0 = none
    piece_component: NDArray[np.int64]  # (P + 1,): component id of each piece
    piece_offsets: NDArray[np.int64]    # (P + 1, 3): cell offset of each piece, unwrapped
    dimensionality: NDArray[np.int64]   # (n,): 0 pocket, else rank of the winding vectors
    windings: list                      # n arrays (k, 3) of int
    sizes: NDArray[np.int64]            # (n,): nodes per component
    min_energy: NDArray[np.float64]     # (n,): lowest energy per component


def _structure(connectivity: int) -> NDArray[np.bool_]:
    """The 3x3x3 neighbourhood of ``scipy.ndimage.label`` for a connectivity."""
    s = np.zeros((3, 3, 3), dtype=bool)
    s[1, 1, 1] = True
    s[tuple((stencil(connectivity) + 1).T)] = True
    return s


def _crossings(pieces: NDArray[np.int64], connectivity: int) -> NDArray[np.int64]:
    """(C, 5) unique rows ``(p, q, wa, wb, wc)``: piece q at cell offset w touches piece p."""
    shape = np.asarray(pieces.shape)
    idx1d = [np.arange(n) for n in pieces.shape]
    rows = []
    for s in forward_steps(connectivity):
        wrap = [(idx1d[d] + s[d]) // shape[d] for d in range(3)]  # per-axis offset of the neighbour
        if not any(np.any(w) for w in wrap):
            continue
        nb = np.roll(pieces, shift=tuple(-s), axis=(0, 1, 2))  # nb[x] = pieces[x + s]
        crosses = (wrap[0][:, None, None] != 0) | (wrap[1][None, :, None] != 0) | (wrap[2][None, None, :] != 0)
        ii, jj, kk = np.nonzero(crosses & (pieces > 0) & (nb > 0))
        if ii.size:
            rows.append(np.column_stack([pieces[ii, jj, kk], nb[ii, jj, kk], wrap[0][ii], wrap[1][jj], wrap[2][kk]]))
    return np.unique(np.concatenate(rows), axis=0) if rows else np.zeros((0, 5), dtype=np.int64)


def _unwrap(rows: NDArray[np.int64], comp_of_piece: NDArray[np.int64], n_nodes: int):
    """Offsets of the pieces over a spanning tree of each component, and the windings of each component."""
    adj: dict[int, list[tuple[int, NDArray[np.int64]]]] = {}
    for p, q, *w in rows:
        w = np.asarray(w, dtype=np.int64)
        adj.setdefault(int(p), []).append((int(q), w))
        adj.setdefault(int(q), []).append((int(p), -w))
    offsets = np.zeros((n_nodes, 3), dtype=np.int64)
    seen = np.zeros(n_nodes, dtype=bool)
    windings: dict[int, list] = {}
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
        windings[int(comp_of_piece[start])] = wind
    return offsets, windings


def periodic_components(rel_energies: NDArray[np.float64], threshold: float, connectivity: int) -> ComponentArrays:
    """Connected components of the nodes with ``rel_energies <= threshold``, with periodic wrap.

    Parameters
    ----------
    rel_energies : (na, nb, nc) ndarray, eV
        Energies relative to a reference (non-finite: never kept).
    threshold : float, eV
    connectivity : {6, 18, 26}

    Returns
    -------
    ComponentArrays
        Components ordered by their lowest energy (then the larger first): id 1
        holds the lowest node.

    Examples
    --------
    >>> e = np.zeros((4, 4, 4)); e[:, 2:, :] = 1.0          # a slab, open along a and c
    >>> c = periodic_components(e, 0.5, 6)
    >>> c.dimensionality.tolist(), c.sizes.tolist()
    ([2], [32])
    """
    from scipy.ndimage import label
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    mask = np.isfinite(rel_energies) & (rel_energies <= threshold)
    pieces, n_pieces = label(mask, structure=_structure(connectivity))
    pieces = pieces.astype(np.int64)
    rows = _crossings(pieces, connectivity)
    n_nodes = n_pieces + 1
    graph = coo_matrix((np.ones(len(rows)), (rows[:, 0], rows[:, 1])), shape=(n_nodes, n_nodes))
    _, comp_of_piece = connected_components(graph, directed=False)
    offsets, windings_of = _unwrap(rows, comp_of_piece, n_nodes)

    # relabel components 1..n: lowest energy first, then larger first
    uniq = np.unique(comp_of_piece[1:]) if n_pieces else np.zeros(0, dtype=np.int64)
    flat_pieces = pieces.ravel()
    inside = flat_pieces > 0
    pos = np.searchsorted(uniq, comp_of_piece[flat_pieces[inside]])
    mins = np.full(len(uniq), np.inf)
    np.minimum.at(mins, pos, rel_energies.ravel()[inside])
    sizes = np.bincount(pos, minlength=len(uniq)).astype(np.int64)
    order = np.lexsort((-sizes, mins))
    rank = np.empty(len(uniq), dtype=np.int64)
    rank[order] = np.arange(1, len(uniq) + 1)
    new_id = np.zeros(max(n_nodes, 1), dtype=np.int64)
    new_id[1:n_nodes] = rank[np.searchsorted(uniq, comp_of_piece[1:n_nodes])] if n_pieces else 0
    windings = [np.asarray(windings_of.get(int(old), []), dtype=np.int64).reshape(-1, 3) for old in uniq[order]]
    dims = [int(np.linalg.matrix_rank(w.astype(np.float64))) if len(w) else 0 for w in windings]
    return ComponentArrays(
        labels=new_id[pieces], pieces=pieces, piece_component=new_id, piece_offsets=offsets,
        dimensionality=np.asarray(dims, dtype=np.int64), windings=windings, sizes=sizes[order],
        min_energy=mins[order],
    )
