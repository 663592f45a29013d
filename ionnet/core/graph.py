"""The periodic grid graph as arrays: one orientation of each neighbour step, and its edge list.

Edges join each node to its 6, 18 or 26 neighbours with periodic wrap
(:func:`ionnet.core.sweep.stencil`); an edge crossing a cell face carries the
cell offset (image) of its second node.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from .sweep import stencil

__all__ = ["forward_steps", "grid_edges"]


def forward_steps(connectivity: int) -> NDArray[np.int64]:
    """(K/2, 3) neighbour steps with ``tuple(step) > (0, 0, 0)``: one orientation per edge.

    Examples
    --------
    >>> forward_steps(6).tolist()
    [[0, 0, 1], [0, 1, 0], [1, 0, 0]]
    >>> len(forward_steps(18)), len(forward_steps(26))
    (9, 13)
    """
    steps = stencil(connectivity)
    return steps[[tuple(s) > (0, 0, 0) for s in steps]]


def grid_edges(
    keep: NDArray[np.bool_], connectivity: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Nodes and edges of the periodic grid graph restricted to the nodes in ``keep``.

    Parameters
    ----------
    keep : (na, nb, nc) ndarray of bool
        Nodes to keep; an edge is kept when both its nodes are.
    connectivity : {6, 18, 26}

    Returns
    -------
    nodes : (V,) ndarray of int
        Flat indices of the kept nodes.
    src, dst : (E,) ndarray of int
        Flat indices of the two nodes of each edge.
    images : (E, 3) ndarray of int
        Cell offset of ``dst`` as reached from ``src`` in cell 0.

    Examples
    --------
    >>> nodes, src, dst, img = grid_edges(np.ones((4, 4, 4), dtype=bool), 6)
    >>> len(nodes), len(src), int(np.abs(img).sum())
    (64, 192, 48)
    """
    shape = np.asarray(keep.shape)
    flat_keep = keep.ravel()
    nodes = np.flatnonzero(flat_keep)
    ijk = np.stack(np.unravel_index(nodes, keep.shape), axis=1)
    src, dst, img = [], [], []
    for s in forward_steps(connectivity):
        nb = ijk + s
        wrap = np.floor_divide(nb, shape)
        nb_flat = np.ravel_multi_index(tuple((nb % shape).T), keep.shape)
        ok = flat_keep[nb_flat]
        src.append(nodes[ok])
        dst.append(nb_flat[ok])
        img.append(wrap[ok])
    return nodes, np.concatenate(src), np.concatenate(dst), np.concatenate(img).reshape(-1, 3)
