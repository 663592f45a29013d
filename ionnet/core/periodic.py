"""Periodic bookkeeping shared by the grid and network kernels (numba, no I/O).

* :func:`neighbour`: a grid node's neighbour along one stencil step, with the
  cell offset the step crosses (periodic wrap, one cell at most);
* :func:`uf_find` and :func:`add_winding`: union-find that keeps each node's
  periodic image relative to its root, and the integer basis of winding
  vectors a component collects when a union closes a cycle (used by the grid
  sweep, :mod:`ionnet.core.sweep`, and by the site-graph percolation of
  :mod:`ionnet.core.transport`);
* :func:`grow_rows`: room for more rows in an output array of unknown length.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["wrap", "neighbour", "uf_find", "add_winding", "paint_members", "union_roots", "record_rank", "grow_rows"]


@njit(cache=True)
def wrap(i, n):
    """Index ``i`` folded into ``0..n-1`` (one step at most) and the cell offset it crossed."""
    if i < 0:
        return i + n, -1
    if i >= n:
        return i - n, 1
    return i, 0


@njit(cache=True)
def neighbour(v, s, shape, steps):
    """Flat index of node ``v`` moved by ``steps[s]`` on a periodic grid of ``shape``, and the offset crossed.

    Returns ``(u, o0, o1, o2)``: ``u`` lies in cell ``(o0, o1, o2)`` as seen from ``v``'s cell.
    """
    nb = shape[1]
    nc = shape[2]
    i, o0 = wrap(v // (nb * nc) + steps[s, 0], shape[0])
    j, o1 = wrap((v // nc) % nb + steps[s, 1], nb)
    k, o2 = wrap(v % nc + steps[s, 2], nc)
    return (i * nb + j) * nc + k, o0, o1, o2


@njit(cache=True)
def grow_rows(a, cap):
    """A copy of ``a`` with room for ``cap`` rows."""
    out = np.empty((cap,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def uf_find(x, po):
    """Root of ``x`` and the periodic image of ``x`` relative to it; compresses the path.

    ``po[y] = (parent, offset_a, offset_b, offset_c)``: the offset of ``y``
    relative to its parent (read for non-roots only, so a root's row may hold
    other data).  Parent and offset share one row, so each step of the walk
    touches one cache line.
    """
    # first pass: locate the root and the offset of x relative to it
    r = x
    o0 = 0
    o1 = 0
    o2 = 0
    while po[r, 0] != r:
        o0 += po[r, 1]
        o1 += po[r, 2]
        o2 += po[r, 3]
        r = po[r, 0]
    # second pass: path compression, rewriting each offset to point at the root
    y = x
    c0 = o0
    c1 = o1
    c2 = o2
    while po[y, 0] != r and po[y, 0] != y:
        nxt = po[y, 0]
        n0 = c0 - po[y, 1]
        n1 = c1 - po[y, 2]
        n2 = c2 - po[y, 3]
        po[y, 0] = r
        po[y, 1] = c0
        po[y, 2] = c1
        po[y, 3] = c2
        c0 = n0
        c1 = n1
        c2 = n2
        y = nxt
    return r, o0, o1, o2


@njit(cache=True)
def add_winding(root, w0, w1, w2, basis, rank):
    """Insert winding vector w into the basis of ``root`` if independent (exact integer tests).

    ``basis[root, :rank[root]]`` are the component's independent winding
    vectors.  Returns True if the rank grew.
    """
    if w0 == 0 and w1 == 0 and w2 == 0:
        return False
    rk = rank[root]
    if rk >= 3:
        return False
    if rk == 1:
        b0 = basis[root, 0, 0]
        b1 = basis[root, 0, 1]
        b2 = basis[root, 0, 2]
        # independent iff cross(b, w) != 0
        if b1 * w2 - b2 * w1 == 0 and b2 * w0 - b0 * w2 == 0 and b0 * w1 - b1 * w0 == 0:
            return False
    elif rk == 2:
        a0 = basis[root, 0, 0]
        a1 = basis[root, 0, 1]
        a2 = basis[root, 0, 2]
        b0 = basis[root, 1, 0]
        b1 = basis[root, 1, 1]
        b2 = basis[root, 1, 2]
        n0 = a1 * b2 - a2 * b1
        n1 = a2 * b0 - a0 * b2
        n2 = a0 * b1 - a1 * b0
        if n0 * w0 + n1 * w1 + n2 * w2 == 0:
            return False
    basis[root, rk, 0] = w0
    basis[root, rk, 1] = w1
    basis[root, rk, 2] = w2
    rank[root] = rk + 1
    return True


@njit(cache=True)
def record_rank(root, rank, basis, thr, dirs, cur, ev):
    """Record energy ``ev`` and the winding basis of ``root`` for every dimensionality its rank
    newly reaches above ``cur``; returns the new highest rank recorded."""
    r = rank[root]
    for d in range(cur, r):
        thr[d] = ev
        for q in range(d + 1):
            for c in range(3):
                dirs[d, q, c] = basis[root, q, c]
    return max(cur, r)


@njit(cache=True)
def paint_members(start, nxt, level, value):
    """``level[x] = value`` for every member ``x`` of the circular list through ``start``."""
    x = start
    while True:
        level[x] = value
        x = nxt[x]
        if x == start:
            break


@njit(cache=True)
def union_roots(r1, r2, o0, o1, o2, po, basis, nxt, level, value):
    """Join the components of roots ``r1 != r2``, ``r2``'s frame at ``(o0, o1, o2)`` in ``r1``'s.

    The smaller tree is attached under the larger one.  ``po[root] = (root, size,
    holds a source, winding rank)``; afterwards the attached root's row holds its
    parent and offset.  The circular member lists ``nxt`` are spliced, the winding
    bases merged, and when exactly one side holds a source the members of the other
    get ``level[x] = value`` (they join a source's component now).

    Returns ``(big, small, s0, s1, s2)``: the new root, the attached one and its
    frame in the new root's.
    """
    if po[r1, 1] >= po[r2, 1]:
        big = r1
        small = r2
    else:
        big = r2
        small = r1
        o0 = -o0
        o1 = -o1
        o2 = -o2
    src_small = po[small, 2]
    if po[big, 2] != src_small:
        paint_members(big if src_small else small, nxt, level, value)
    size_small = po[small, 1]
    rank_small = po[small, 3]
    po[small, 0] = big  # small's size/src/rank fields become its offset
    po[small, 1] = o0
    po[small, 2] = o1
    po[small, 3] = o2
    po[big, 1] += size_small
    tmp = nxt[big]
    nxt[big] = nxt[small]
    nxt[small] = tmp
    if src_small:
        po[big, 2] = 1
    rank = po[:, 3]
    for q in range(rank_small):
        add_winding(big, basis[small, q, 0], basis[small, q, 1], basis[small, q, 2], basis, rank)
    return big, small, o0, o1, o2
