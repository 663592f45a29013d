"""Percolation of a periodic hopping network: Kruskal's order over the saddles, with cell offsets.

Saddles are added in increasing energy to a union-find that keeps each site's
periodic image relative to its root (:func:`ionnet.core.periodic.uf_find`, the
grid sweep's); a saddle that joins a site to a copy of its own component in
another cell closes a cycle with that winding vector
(:func:`ionnet.core.periodic.add_winding`).  The first saddle at which some
component has 1, 2, 3 independent winding vectors is the 1D, 2D, 3D threshold.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..periodic import add_winding, uf_find

__all__ = ["network_percolation"]


@njit(cache=True)
def _kruskal(n, ei, ej, img, order):
    po = np.zeros((n, 4), dtype=np.int64)  # (parent, image offset relative to the parent)
    po[:, 0] = np.arange(n)
    size = np.ones(n, dtype=np.int64)
    basis = np.zeros((n, 3, 3), dtype=np.int64)
    rank = np.zeros(n, dtype=np.int64)
    m = ei.shape[0]
    is_tree = np.zeros(m, dtype=np.bool_)
    first = np.full(3, -1, dtype=np.int64)  # edge at which some component first has rank 1, 2, 3
    dirs = np.zeros((3, 3, 3), dtype=np.int64)  # that component's basis at that moment
    cycle_edge = -1
    winding = np.zeros(3, dtype=np.int64)
    for e in order:
        ri, a0, a1, a2 = uf_find(ei[e], po)
        rj, b0, b1, b2 = uf_find(ej[e], po)
        # pos(j) = pos(i) + img: offset of rj relative to ri, or the winding of the cycle closed
        d0 = a0 + img[e, 0] - b0
        d1 = a1 + img[e, 1] - b1
        d2 = a2 + img[e, 2] - b2
        r = ri
        if ri != rj:
            is_tree[e] = True
            if size[ri] < size[rj]:  # attach the smaller tree: ri under rj with the opposite offset
                big, small = rj, ri
                d0, d1, d2 = -d0, -d1, -d2
            else:
                big, small = ri, rj
            po[small, 0] = big
            po[small, 1] = d0
            po[small, 2] = d1
            po[small, 3] = d2
            size[big] += size[small]
            for k in range(rank[small]):
                add_winding(big, basis[small, k, 0], basis[small, k, 1], basis[small, k, 2], basis, rank)
            r = big
        else:
            if d0 == 0 and d1 == 0 and d2 == 0:
                continue
            if cycle_edge < 0:
                cycle_edge = e
                winding[0] = d0
                winding[1] = d1
                winding[2] = d2
            add_winding(ri, d0, d1, d2, basis, rank)
        k = rank[r]
        if k > 0 and first[k - 1] < 0:
            for d in range(k):
                if first[d] < 0:
                    first[d] = e
                    dirs[d] = basis[r]
    return is_tree, first, dirs, cycle_edge, winding


def network_percolation(n_sites: int, edges: np.ndarray, images: np.ndarray, energies: np.ndarray):
    """Kruskal's order over the saddles with periodic offsets: thresholds and the first winding cycle.

    Parameters
    ----------
    energies : (M,) ndarray
        Saddle energies (the order in which edges are added).

    Returns
    -------
    first : (3,) int
        Edge at which some component first has 1, 2, 3 independent winding
        vectors (-1: never).
    dirs : (3, 3, 3) int
        The winding basis of that component at that moment (rows; first d used).
    cycle_edge : int
        The edge that closes the first cycle with a non-zero winding (-1: none).
    winding : (3,) int
    is_tree : (M,) bool
        Edges of the spanning forest.
    order : (M,) int
        The processing order.
    """
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    order = np.argsort(np.asarray(energies, dtype=np.float64), kind="stable").astype(np.int64)
    is_tree, first, dirs, cycle_edge, winding = _kruskal(
        int(n_sites), np.ascontiguousarray(edges[:, 0]), np.ascontiguousarray(edges[:, 1]),
        np.ascontiguousarray(np.asarray(images, dtype=np.int64).reshape(-1, 3)), order,
    )
    return first, dirs, int(cycle_edge), winding, is_tree, order

