"""The hopping network and its elimination plan (temperature-independent).

``n`` sites; undirected edges ``(i, j)`` with an integer periodic image
``image`` (the cell of the copy of ``j`` reached from ``i`` in cell 0).
:func:`prepare_network` finds the connected components and plans the exact
elimination of :mod:`ionnet.core.transport.elimination` once for every
temperature: sites ordered by minimum degree (the largest component last),
renumbered in that order, the neighbour and fill lists of the sites that go
through the sparse loop, and how many sites at the end of the order are
eliminated as one dense block (a cost model over the plan).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["Network", "prepare_network"]

_MAX_DENSE = 6000  # sites per connected component for the elimination plan (n² int32 work array)


# ----------------------------------------------------------------------------- plan kernels
@njit(cache=True)
def _grow(a, size):
    """``a``, or a copy twice as long if index ``size`` does not fit."""
    if size < a.shape[0]:
        return a
    b = np.empty(max(2 * a.shape[0], 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


@njit(cache=True, inline="always")
def _append(a, size, x):
    """``a`` (grown if needed) with ``a[size] = x``."""
    a = _grow(a, size)
    a[size] = x
    return a


@njit(cache=True, inline="always")
def _new_slot(slot, slot_lo, slot_hi, nslots, deg, a, b):
    """Give the site pair ``a < b`` the slot number ``nslots``; returns the (grown) slot end lists."""
    slot[a, b] = nslots
    slot[b, a] = nslots
    slot_lo = _grow(slot_lo, nslots)
    slot_hi = _grow(slot_hi, nslots)
    slot_lo[nslots] = a
    slot_hi[nslots] = b
    deg[a] += 1
    deg[b] += 1
    return slot_lo, slot_hi


@njit(cache=True)
def _slot_table(n, ei, ej):
    """One slot per joined site pair: the (n, n) slot table, each edge's slot, the slot ends and the degrees."""
    m = ei.shape[0]
    slot = np.full((n, n), -1, dtype=np.int32)
    edge_slot = np.full(m, -1, dtype=np.int64)
    slot_lo = np.empty(max(m, 16), dtype=np.int64)
    slot_hi = np.empty(max(m, 16), dtype=np.int64)
    deg = np.zeros(n, dtype=np.int64)
    nslots = 0
    for e in range(m):
        i = ei[e]
        j = ej[e]
        if i == j:
            continue
        a = min(i, j)
        b = max(i, j)
        if slot[a, b] < 0:
            slot_lo, slot_hi = _new_slot(slot, slot_lo, slot_hi, nslots, deg, a, b)
            nslots += 1
        edge_slot[e] = slot[a, b]
    return slot, edge_slot, slot_lo, slot_hi, nslots, deg


@njit(cache=True)
def _remaining(k, n, slot, elim, buf):
    """The neighbours of ``k`` not yet eliminated, in increasing order, into ``buf``; returns their number."""
    cnt = 0
    for j in range(n):
        if j != k and not elim[j] and slot[k, j] >= 0:
            buf[cnt] = j
            cnt += 1
    return cnt


@njit(cache=True)
def _min_degree_order(n, ei, ej):
    """Minimum-degree elimination order, the remaining neighbours of each step's site and their lists."""
    slot, _, _, _, _, deg = _slot_table(n, ei, ej)
    elim = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    nb_ptr = np.zeros(n + 1, dtype=np.int64)
    nb_node = np.empty(16, dtype=np.int64)
    n_nb = 0
    buf = np.empty(n, dtype=np.int64)
    for step in range(n):
        k = step
        best = np.int64(1) << 62
        for v in range(n):
            if not elim[v] and deg[v] < best:
                best = deg[v]
                k = v
        order[step] = k
        cnt = _remaining(k, n, slot, elim, buf)
        count[step] = cnt
        for p in range(cnt):
            nb_node = _append(nb_node, n_nb + p, buf[p])
        n_nb += cnt
        nb_ptr[step + 1] = n_nb
        for p in range(cnt):
            a = buf[p]
            for q in range(p + 1, cnt):
                b = buf[q]
                if slot[a, b] < 0:  # fill: the pair is joined from now on (its slot number is not needed here)
                    slot[a, b] = 0
                    slot[b, a] = 0
                    deg[a] += 1
                    deg[b] += 1
        elim[k] = True
        for p in range(cnt):
            deg[buf[p]] -= 1
    return order, count, nb_ptr, nb_node[:n_nb]


@njit(cache=True)
def _fill_lists(n, ei, ej, n_sparse):
    """Neighbour lists and fill slots of sites ``0..n_sparse-1`` eliminated in that order.

    The rest is eliminated as a dense block, which needs no lists.  Returns
    ``nb_ptr, nb_node, nb_slot`` (each site's remaining neighbours and the
    slots joining it to them), ``pair_slot`` (the slot of each neighbour pair,
    in loop order), ``edge_slot`` and the slot ends ``slot_lo, slot_hi``.
    """
    slot, edge_slot, slot_lo, slot_hi, nslots, deg = _slot_table(n, ei, ej)
    elim = np.zeros(n, dtype=np.bool_)
    nb_ptr = np.zeros(n + 1, dtype=np.int64)
    nb_node = np.empty(16, dtype=np.int64)
    nb_slot = np.empty(16, dtype=np.int64)
    pair_slot = np.empty(16, dtype=np.int64)
    n_nb = 0
    n_pair = 0
    buf = np.empty(n, dtype=np.int64)
    for k in range(n_sparse):
        cnt = _remaining(k, n, slot, elim, buf)
        for p in range(cnt):
            nb_node = _append(nb_node, n_nb + p, buf[p])
            nb_slot = _append(nb_slot, n_nb + p, slot[k, buf[p]])
        n_nb += cnt
        nb_ptr[k + 1] = n_nb
        for p in range(cnt):
            a = buf[p]
            for q in range(p + 1, cnt):
                b = buf[q]
                s = slot[a, b]
                if s < 0:
                    s = nslots
                    slot_lo, slot_hi = _new_slot(slot, slot_lo, slot_hi, nslots, deg, a, b)
                    nslots += 1
                pair_slot = _append(pair_slot, n_pair, s)
                n_pair += 1
        elim[k] = True
    nb_ptr[n_sparse + 1:] = n_nb
    return nb_ptr, nb_node[:n_nb], nb_slot[:n_nb], pair_slot[:n_pair], edge_slot, slot_lo[:nslots], slot_hi[:nslots]


# ----------------------------------------------------------------------------- network and plan
@dataclass(frozen=True, eq=False)
class Network:
    """A periodic hopping network with its temperature-independent elimination plan.

    Attributes
    ----------
    n_sites : int
    edges : (M, 2) ndarray of int
    images : (M, 3) ndarray of int
    comp : (S,) ndarray of int
        Connected component of each site (edges of any weight).
    n_comp : int
    plan : tuple or None
        The elimination plan (None: too large, :func:`~ionnet.core.transport.exact_diffusion` uses the sparse solve).
    n_dense : int
        Sites eliminated as a dense block at the end of the plan.
    """

    n_sites: int
    edges: np.ndarray
    images: np.ndarray
    comp: np.ndarray
    n_comp: int
    plan: tuple

    @property
    def edge_comp(self) -> np.ndarray:
        return self.comp[self.edges[:, 0]] if len(self.edges) else np.zeros(0, dtype=np.int64)

    @property
    def n_dense(self) -> int:
        return 0 if self.plan is None else self.n_sites - int(self.plan[1])


def prepare_network(n_sites: int, edges: np.ndarray, images: np.ndarray, *, n_dense: int | None = None) -> Network:
    """Components and the elimination plan of a network (reuse it for every temperature).

    Parameters
    ----------
    n_sites : int
    edges : (M, 2) array of int
        Sites ``(i, j)``; ``i == j`` with a non-zero image is a hop to the site's own copy.
    images : (M, 3) array of int
        Periodic image of ``j`` reached from ``i`` in cell 0.
    n_dense : int, optional
        Number of sites at the end of the elimination order to eliminate as one
        dense block (at most the size of the largest connected component; the
        result is the same, only the speed differs).  Default: the number that
        minimises the estimated work.

    Returns
    -------
    Network
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    images = np.asarray(images, dtype=np.int64).reshape(-1, 3)
    n = int(n_sites)
    if len(edges) and (edges.min() < 0 or edges.max() >= n):
        raise ValueError(f"edges refer to sites outside 0..{n - 1}")
    if n_dense is not None and not 0 <= int(n_dense) <= n:
        raise ValueError(f"`n_dense` must be in 0..{n} (got {n_dense!r})")
    a = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(n, n))
    n_comp, comp = connected_components(a, directed=False)
    comp = comp.astype(np.int64)
    sizes = np.bincount(comp, minlength=n_comp)
    if n and sizes.max() > _MAX_DENSE:
        plan = None  # too large for the dense work array: exact_diffusion falls back to the sparse solve
    else:
        plan = _make_plan(n, edges, comp, n_dense)
    return Network(n, edges, images, comp, int(n_comp), plan)


# Relative cost of one merge (all temperatures) in the sparse loop, which streams its slots from
# memory, and in the dense tail, which works in the cache (measured on the 10x10x10 cubic network),
# and of one slot of the dense tail's per-temperature set-up; the dense tail's size is capped so
# that one temperature's slots (32 bytes each) stay near the size of a last-level cache.
_SPARSE_COST = 10.0
_DENSE_COST = 1.0
_SLOT_COST = 0.5
_MAX_TAIL = 1500


def _dense_size(count: np.ndarray, dense_work: np.ndarray) -> int:
    """Length of the dense tail that minimises the estimated work of the elimination.

    Parameters
    ----------
    count : (n,) ndarray of int
        Remaining neighbours of the site eliminated at each step: the sparse
        loop does ``count (count - 1)/2`` merges there.
    dense_work : (n,) ndarray
        Merges of the same step in the dense tail: for every remaining
        neighbour ``a``, one row sweep over the sites after ``a`` (a pivot
        skips the rows of the sites it is not joined to).
    """
    n = len(count)
    c = count.astype(np.float64)
    sparse_before = np.concatenate([[0.0], np.cumsum(c * (c - 1.0) / 2.0)])  # steps < n_sparse
    dense_from = np.concatenate([np.cumsum(dense_work[::-1])[::-1], [0.0]])  # steps >= n_sparse
    r = n - np.arange(n + 1, dtype=np.float64)  # tail length for n_sparse = 0..n
    cost = _SPARSE_COST * sparse_before + _DENSE_COST * dense_from + _SLOT_COST * r * (r - 1.0) / 2.0
    cost[r > _MAX_TAIL] = np.inf
    return int(r[int(np.argmin(cost))])


def _make_plan(n: int, edges: np.ndarray, comp: np.ndarray, n_dense: int | None) -> tuple:
    """Minimum-degree order, then sites renumbered in that order and slots stored column by column.

    With the sites relabelled so that site k is eliminated at step k, the
    neighbours of each eliminated site are listed in elimination order and the
    fill slots are numbered like the columns of a sparse Cholesky factor: the
    pair loop then walks memory nearly sequentially.  The largest component
    goes last (the order inside each component is kept), so that the dense
    tail lies in it.
    """
    ei = np.ascontiguousarray(edges[:, 0])
    ej = np.ascontiguousarray(edges[:, 1])
    order, count, nb_ptr, nb_node = _min_degree_order(n, ei, ej)
    size_big = 0
    pos = np.arange(n)
    work = np.zeros(n)
    if n:
        count_of = np.empty(n, dtype=np.int64)
        count_of[order] = count
        step_of = np.repeat(order, count)  # the site each neighbour entry belongs to
        sizes = np.bincount(comp)
        big = int(np.argmax(sizes))
        size_big = int(sizes[big])
        order = order[np.argsort(comp[order] == big, kind="stable")]  # same order inside each component
        count = count_of[order]
        pos[order] = np.arange(n)
        work = np.bincount(step_of, weights=(n - 1 - pos[nb_node]).astype(np.float64), minlength=n)[order]
    nd = _dense_size(count[n - size_big:], work[n - size_big:]) if n_dense is None else min(int(n_dense), size_big)
    n_sparse = n - nd
    nb_ptr, nb_node, nb_slot, pair_slot, edge_slot, slot_lo, slot_hi = _fill_lists(n, pos[ei], pos[ej], n_sparse)
    key = slot_lo * n + slot_hi  # renumber slots column by column (lo, then hi)
    srt = np.argsort(key, kind="stable")
    new_of_old = np.empty(len(key), dtype=np.int64)
    new_of_old[srt] = np.arange(len(key))
    edge_slot = edge_slot.copy()
    edge_slot[edge_slot >= 0] = new_of_old[edge_slot[edge_slot >= 0]]
    slot_lo, slot_hi = slot_lo[srt], slot_hi[srt]
    dense = np.flatnonzero(slot_lo >= n_sparse)
    return (pos, n_sparse, nb_ptr, nb_node, new_of_old[nb_slot], new_of_old[pair_slot], edge_slot, slot_lo,
            dense, slot_lo[dense] - n_sparse, slot_hi[dense] - n_sparse)


