"""Three-body triples and the gather/scatter kernels of the M3GNet forward (numba, numpy only).

The triples are enumerated per graph as matgl 1.x does, quirks included
(:func:`triples`); the kernels serve :mod:`ionnet.potentials._m3gnet_torch`.
Split out of :mod:`ionnet.potentials._m3gnet_graph`, which re-exports every name.
"""
from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

__all__ = ["triples", "gather_add", "add_gathered", "scatter_gather_mul_add", "scatter_add_rows",
           "framework_triple_rows", "assemble_basis_w"]


@njit(cache=True)
def _triples(src, first, keep):
    n_graphs = first.shape[0] - 1
    e = src.shape[0]
    # pass 1: kept positions per graph, group sizes, total count
    kept = np.empty(e, np.int64)
    kfirst = np.zeros(n_graphs + 1, np.int64)
    nk = 0
    for g in range(n_graphs):
        for b in range(first[g], first[g + 1]):
            if keep[b]:
                kept[nk] = b
                nk += 1
        kfirst[g + 1] = nk
    gstart = np.empty(nk, np.int64)  # first kept position (global) of the bond's source group
    gsize = np.empty(nk, np.int64)
    total = 0
    q = 0
    while q < nk:
        s = src[kept[q]]
        q2 = q
        while q2 < nk and src[kept[q2]] == s:
            q2 += 1
        for t in range(q, q2):
            gstart[t] = q
            gsize[t] = q2 - q
        total += (q2 - q) * (q2 - q - 1)
        q = q2
    ka = np.empty(total, np.int64)
    kb = np.empty(total, np.int64)
    ia = np.empty(total, np.int64)
    ib = np.empty(total, np.int64)
    tg = np.empty(total, np.int64)
    t = 0
    for g in range(n_graphs):
        e0 = first[g]
        k0 = kfirst[g]
        zeros = 0  # partnerless kept bonds at local positions 1 .. p-1
        for a in range(k0, kfirst[g + 1]):
            p = a - k0
            if p >= 2 and gsize[a - 1] == 1:
                zeros += 1
            if gsize[a] < 2:
                continue
            seg = p - zeros
            for b in range(gstart[a], gstart[a] + gsize[a]):
                if b == a:
                    continue
                ka[t] = kept[a]
                kb[t] = kept[b]
                ia[t] = e0 + p
                ib[t] = e0 + (b - k0)
                tg[t] = e0 + seg
                t += 1
    return ka, kb, ia, ib, tg


def triples(src: NDArray[np.int64], first: NDArray[np.int64], keep: NDArray[np.bool_]):
    """Three-body triples of a batch of graphs, exactly as matgl 1.x (DGL) forms them.

    Parameters
    ----------
    src : (E,) int64 ndarray
        Source atom of each bond; graphs contiguous, bonds sorted by source within a graph.
    first : (G + 1,) int64 ndarray
        First bond of each graph.
    keep : (E,) bool ndarray
        Bonds short enough for the three-body term (``dist <= threebody_cutoff``).

    Returns
    -------
    ka, kb, ia, ib, target : (T,) int64 ndarrays
        For each triple (ordered pair of kept bonds ``a != b`` with the same source,
        ``a`` major): the true bonds ``ka``, ``kb`` (angle and radial basis), and the
        ids matgl 1.x uses for the cutoff weights (``ia``, ``ib``), the neighbour atom
        (``dst[ib]``) and the receiving bond (``target``): positions in the kept list
        read as positions in the full list, and ``target`` counted by
        ``get_segment_indices_from_n``.  Same order as
        :meth:`ionnet.potentials._m3gnet_torch.LegacyM3GNet._triples`.
    """
    return _triples(
        np.ascontiguousarray(src, dtype=np.int64),
        np.ascontiguousarray(first, dtype=np.int64),
        np.ascontiguousarray(keep, dtype=np.bool_),
    )


# --------------------------------------------------------------------------- dense helpers for the forward
@njit(cache=True, nogil=True)
def gather_add(out, a, ia, b, ib):
    """``out[e] = a[ia[e]] + b[ib[e]]`` row by row (float32 or float64 2-D arrays), no temporaries."""
    m = out.shape[1]
    for e in range(out.shape[0]):
        ra = ia[e]
        rb = ib[e]
        for k in range(m):
            out[e, k] = a[ra, k] + b[rb, k]


@njit(cache=True, nogil=True)
def add_gathered(ha, hg, p, ia, q, ib):
    """In place, row by row: ``ha[e] += p[ia[e], :h] + q[ib[e], :h]`` and ``hg[e] += p[ia[e], h:] + q[ib[e], h:]``.

    ``ha``, ``hg`` are (C, h); ``p``, ``q`` (N, 2h); float32 or float64.  The gathered
    rows are summed first, then added: ``ha + (p + q)``.
    """
    h = ha.shape[1]
    for e in range(ha.shape[0]):
        ra = ia[e]
        rb = ib[e]
        for k in range(h):
            ha[e, k] += p[ra, k] + q[rb, k]
        for k in range(h):
            hg[e, k] += p[ra, h + k] + q[rb, h + k]


@njit(cache=True, nogil=True)
def scatter_gather_mul_add(out, a, b, ib, index):
    """``out[index[t]] += a[t] * b[ib[t]]`` row by row, in order of ``t`` (the three-body message sum)."""
    m = out.shape[1]
    for t in range(index.shape[0]):
        r = index[t]
        s = ib[t]
        for k in range(m):
            out[r, k] += a[t, k] * b[s, k]


@njit(cache=True, nogil=True)
def scatter_add_rows(out, rows, index, n):
    """``out[index[e]] += rows[e]`` for ``e < n``, row by row, in order of ``e`` (as ``index_add_`` sums)."""
    m = out.shape[1]
    for e in range(n):
        r = index[e]
        for k in range(m):
            out[r, k] += rows[e, k]


@njit(cache=True)
def framework_triple_rows(ka, kb, fw_bond, fw_center, local, offset, size):
    """Row of each triple in the framework's three-body basis table, -1 where the triple involves the probe.

    ``ka``, ``kb`` are the triples' true bonds, ``fw_bond`` the framework bond id of
    each bond (-1: the probe's); the basis of framework bonds ``p``, ``q`` of centre
    ``c`` is row ``offset[c] + local[p] * size[c] + local[q]``.
    """
    rows = np.empty(ka.shape[0], np.int64)
    for t in range(ka.shape[0]):
        rows[t] = -1
        fa = fw_bond[ka[t]]
        fb = fw_bond[kb[t]]
        if fa >= 0 and fb >= 0:
            la = local[fa]
            lb = local[fb]
            if la >= 0 and lb >= 0:
                c = fw_center[fa]
                rows[t] = offset[c] + la * size[c] + lb
    return rows


@njit(cache=True, nogil=True)
def assemble_basis_w(out, table, rows, vals, fcut, ia, ib):
    """Weighted three-body basis: ``out[t] = basis[t] * (fcut[ia[t]] * fcut[ib[t]])``.

    ``basis[t]`` is ``table[rows[t]]``, or for the triples with ``rows[t] < 0`` the next
    row of ``vals`` (computed for them, in order).
    """
    j = 0
    m = out.shape[1]
    for t in range(rows.shape[0]):
        w = fcut[ia[t]] * fcut[ib[t]]
        r = rows[t]
        if r >= 0:
            for k in range(m):
                out[t, k] = table[r, k] * w
        else:
            for k in range(m):
                out[t, k] = vals[j, k] * w
            j += 1
