"""Exact percolation sweep reduced to descent basins (numba kernels, no I/O).

Every node is joined to its lowest neighbour when that neighbour is lower (in
the total order of (energy, flat index)); following these steps from any node
descends strictly to a local minimum.  The nodes that descend to the same
minimum form its *basin*, and the part of a basin below any energy ``t`` is
connected (each node's descent path stays below its own energy).  The
components of the grid below ``t`` are therefore unions of basins, joined by
the edges between basins whose higher end is below ``t``, and a component
wraps around the cell exactly when some edge closes a cycle of non-zero
displacement -- an edge between basins, or an edge inside one basin whose ends
sit in different periodic images of the basin's descent tree.

So the sweep of :mod:`ionnet.core.sweep` can run on the basins instead of the
nodes: one pass over the grid in memory order finds each node's descent step,
one labels the basins (with each node's periodic image relative to its
minimum), one collects the lowest edge per pair of basins and relative
displacement; a union-find over the (few) basins, in order of edge energy,
then gives the same level map and thresholds:

* a node's level is ``max(E, level of its basin)`` (the minimax path to it can
  end with its descent path, which stays below ``E``);
* the thresholds are the energies at which the unions and the cycles raise a
  component's winding rank, exactly as in the node sweep.

No global sort of the nodes is needed, and the passes read the grid in memory
order.  (They run on one core: with numba's ``parallel=True`` the descent took
0.10 s instead of 0.11 s at 128³ and compiled 4 s longer.)
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .periodic import add_winding, paint_members, record_rank, uf_find, union_roots, wrap

__all__ = ["descent_basins", "basin_sweep"]


@njit(cache=True)
def _rows(i, j, na, nb, nc, steps, periodic, base, sh):
    """For the nodes of row (i, j): per stencil step, the flat index of the neighbour row (k = 0) and
    the cell offsets crossed along a and b (base = -1: off an open boundary)."""
    for s in range(steps.shape[0]):
        ui = i + steps[s, 0]
        uj = j + steps[s, 1]
        s0 = 0
        s1 = 0
        if ui < 0 or ui >= na:
            if not periodic[0]:
                base[s] = -1
                continue
            s0 = -1 if ui < 0 else 1
            ui -= s0 * na
        if uj < 0 or uj >= nb:
            if not periodic[1]:
                base[s] = -1
                continue
            s1 = -1 if uj < 0 else 1
            uj -= s1 * nb
        base[s] = (ui * nb + uj) * nc
        sh[s, 0] = s0
        sh[s, 1] = s1


@njit(cache=True)
def _node_at(base_s, k, dk, nc, periodic_c):
    """Neighbour of node k of a row along one stencil step (``base_s`` from :func:`_rows`):
    its flat index and the offset crossed along c (-1, 0: off an open boundary)."""
    if base_s < 0:
        return -1, 0
    uk = k + dk
    if 0 <= uk < nc:
        return base_s + uk, 0
    if not periodic_c:
        return -1, 0
    if uk < 0:
        return base_s + uk + nc, -1
    return base_s + uk - nc, 1


@njit(cache=True)
def _descent(e, na, nb, nc, steps, periodic):
    """Per node: the lowest neighbour if it is lower in (energy, index) order, else the node itself
    (-1 for a forbidden node); and the cell offset of that step."""
    n = na * nb * nc
    parent = np.empty(n, dtype=np.int32)
    shift = np.zeros((n, 3), dtype=np.int8)
    nsteps = steps.shape[0]
    for i in range(na):
        base = np.empty(nsteps, dtype=np.int64)
        sh = np.zeros((nsteps, 2), dtype=np.int64)
        for j in range(nb):
            _rows(i, j, na, nb, nc, steps, periodic, base, sh)
            row = (i * nb + j) * nc
            for k in range(nc):
                v = row + k
                ev = e[v]
                if not np.isfinite(ev):
                    parent[v] = -1
                    continue
                best = v
                be = ev
                bs = -1
                bk = 0
                for s in range(nsteps):
                    u, s2 = _node_at(base[s], k, steps[s, 2], nc, periodic[2])
                    if u < 0:
                        continue
                    eu = e[u]
                    if eu < be or (eu == be and u < best):
                        if np.isfinite(eu):
                            best = u
                            be = eu
                            bs = s
                            bk = s2
                parent[v] = best
                if bs >= 0:
                    shift[v, 0] = sh[bs, 0]
                    shift[v, 1] = sh[bs, 1]
                    shift[v, 2] = bk
    return parent, shift


@njit(cache=True)
def _label(parent, shift):
    """Per node one row (basin label, periodic image a, b, c relative to the basin's minimum)
    (minima numbered in index order; label -1: forbidden), and the number of basins."""
    n = parent.shape[0]
    lo = np.zeros((n, 4), dtype=np.int32)
    nbas = 0
    for v in range(n):
        if parent[v] == v:
            lo[v, 0] = nbas
            nbas += 1
        else:
            lo[v, 0] = -1
    stack = np.empty(n, dtype=np.int32)  # a descent path visits each node at most once
    for v in range(n):
        if parent[v] < 0 or lo[v, 0] >= 0:
            continue
        top = 0
        x = v
        while lo[x, 0] < 0:
            stack[top] = x
            top += 1
            x = parent[x]
        while top > 0:
            top -= 1
            y = stack[top]
            p = parent[y]
            lo[y, 0] = lo[p, 0]
            # the step y -> p lands in cell `shift` as seen from y, so y sits at off[p] - shift
            lo[y, 1] = lo[p, 1] - shift[y, 0]
            lo[y, 2] = lo[p, 2] - shift[y, 1]
            lo[y, 3] = lo[p, 3] - shift[y, 2]
    return lo, nbas


@njit(cache=True)
def _slot(keys, used, a, b, d0, d1, d2):
    mask = keys.shape[0] - 1
    h = (a * 0x9E3779B1 + b * 0x85EBCA77 + d0 * 0xC2B2AE3D + d1 * 0x27D4EB2F + d2 * 0x165667B1) & mask
    while used[h]:
        if keys[h, 0] == a and keys[h, 1] == b and keys[h, 2] == d0 and keys[h, 3] == d1 and keys[h, 4] == d2:
            return h
        h = (h + 1) & mask
    return h


@njit(cache=True)
def _rehash(keys, used, wmin):
    """The table's entries in a table twice the size."""
    cap = 2 * keys.shape[0]
    new_keys = np.zeros((cap, 5), dtype=keys.dtype)
    new_used = np.zeros(cap, dtype=np.bool_)
    new_w = np.empty(cap)
    for q in range(used.shape[0]):
        if used[q]:
            g = _slot(new_keys, new_used, keys[q, 0], keys[q, 1], keys[q, 2], keys[q, 3], keys[q, 4])
            new_used[g] = True
            new_keys[g] = keys[q]
            new_w[g] = wmin[q]
    return new_keys, new_used, new_w


@njit(cache=True)
def _boundary(na, nb, nc, half, periodic, lo):
    """Per node, a bit per half-stencil step whose edge matters: it joins two basins, or closes
    a cycle of non-zero displacement inside one."""
    n = na * nb * nc
    mask = np.zeros(n, dtype=np.int16)
    nsteps = half.shape[0]
    for i in range(na):
        base = np.empty(nsteps, dtype=np.int64)
        sh = np.zeros((nsteps, 2), dtype=np.int64)
        for j in range(nb):
            _rows(i, j, na, nb, nc, half, periodic, base, sh)
            row = (i * nb + j) * nc
            for k in range(nc):
                v = row + k
                bv = lo[v, 0]
                if bv < 0:
                    continue
                m = 0
                for s in range(nsteps):
                    u, s2 = _node_at(base[s], k, half[s, 2], nc, periodic[2])
                    if u < 0:
                        continue
                    bu = lo[u, 0]
                    if bu < 0:
                        continue
                    if (bu != bv or lo[v, 1] + sh[s, 0] != lo[u, 1] or lo[v, 2] + sh[s, 1] != lo[u, 2]
                            or lo[v, 3] + s2 != lo[u, 3]):
                        m |= 1 << s
                mask[v] = m
    return mask


@njit(cache=True)
def _edges(e, na, nb, nc, half, periodic, lo, mask):
    """The lowest edge per (basin a <= basin b, displacement of b's minimum frame in a's), over the
    edges flagged by :func:`_boundary`.

    Edges inside one basin are stored with a == b and the displacement's sign fixed."""
    keys = np.zeros((1024, 5), dtype=np.int64)
    used = np.zeros(1024, dtype=np.bool_)
    wmin = np.empty(1024)
    count = 0
    nsteps = half.shape[0]
    last_h = -1
    for v in range(na * nb * nc):
        mv = mask[v]
        if mv == 0:
            continue
        i = v // (nb * nc)
        j = (v // nc) % nb
        k = v % nc
        bv = lo[v, 0]
        ev = e[v]
        for s in range(nsteps):
            if (mv >> s) & 1 == 0:
                continue
            ui, s0 = wrap(i + half[s, 0], na)  # flagged steps never cross an open boundary
            uj, s1 = wrap(j + half[s, 1], nb)
            uk, s2 = wrap(k + half[s, 2], nc)
            u = (ui * nb + uj) * nc + uk
            bu = lo[u, 0]
            # u's basin frame sits at d in v's basin frame
            d0 = lo[v, 1] + s0 - lo[u, 1]
            d1 = lo[v, 2] + s1 - lo[u, 2]
            d2 = lo[v, 3] + s2 - lo[u, 3]
            a = bv
            b = bu
            if a == b:
                if d0 < 0 or (d0 == 0 and (d1 < 0 or (d1 == 0 and d2 < 0))):
                    d0 = -d0
                    d1 = -d1
                    d2 = -d2
            elif a > b:
                a = bu
                b = bv
                d0 = -d0
                d1 = -d1
                d2 = -d2
            w = max(ev, e[u])
            if (last_h >= 0 and keys[last_h, 0] == a and keys[last_h, 1] == b and keys[last_h, 2] == d0
                    and keys[last_h, 3] == d1 and keys[last_h, 4] == d2):
                h = last_h
            else:
                h = _slot(keys, used, a, b, d0, d1, d2)
            if used[h]:
                if w < wmin[h]:
                    wmin[h] = w
            else:
                used[h] = True
                keys[h, 0] = a
                keys[h, 1] = b
                keys[h, 2] = d0
                keys[h, 3] = d1
                keys[h, 4] = d2
                wmin[h] = w
                count += 1
                if 2 * count > keys.shape[0]:
                    keys, used, wmin = _rehash(keys, used, wmin)
                    h = _slot(keys, used, a, b, d0, d1, d2)
            last_h = h
    sel = np.flatnonzero(used)
    return keys[sel], wmin[sel]


@njit(cache=True)
def _kruskal(nbas, ekeys, ew, eorder, src_e, sorder, n_src):
    """Union-find over basins, edges in order of energy, source activations merged in.

    Returns each basin's level (energy at which it joins a source's component)
    and the thresholds / winding vectors of the source's component and of any.
    """
    po = np.zeros((nbas, 4), dtype=np.int32)
    for i in range(nbas):
        po[i, 0] = i
        po[i, 1] = 1
    src = po[:, 2]
    rank = po[:, 3]
    nxt = np.arange(nbas).astype(np.int32)  # circular list of each component's basins
    lvl = np.full(nbas, np.inf)
    basis = np.zeros((nbas, 3, 3), dtype=np.int32)
    thr_src = np.full(3, np.inf)
    thr_any = np.full(3, np.inf)
    dir_src = np.zeros((3, 3, 3), dtype=np.int64)
    dir_any = np.zeros((3, 3, 3), dtype=np.int64)
    any_rank = 0
    src_rank = 0
    m = eorder.shape[0]
    i = 0
    j = 0
    while i < m or j < n_src:
        take_src = j < n_src and (i >= m or src_e[sorder[j]] <= ew[eorder[i]])
        if take_src:
            b = sorder[j]
            j += 1
            ev = src_e[b]
            root, _, _, _ = uf_find(b, po)
            if src[root] == 0:
                src[root] = 1
                paint_members(root, nxt, lvl, ev)
        else:
            q = eorder[i]
            i += 1
            ev = ew[q]
            a = ekeys[q, 0]
            b = ekeys[q, 1]
            ra, ca0, ca1, ca2 = uf_find(a, po)
            rb, cb0, cb1, cb2 = uf_find(b, po)
            # b's frame sits at d in a's frame, so rb's frame sits at o in ra's
            o0 = ca0 + ekeys[q, 2] - cb0
            o1 = ca1 + ekeys[q, 3] - cb1
            o2 = ca2 + ekeys[q, 4] - cb2
            if ra == rb:
                if not add_winding(ra, o0, o1, o2, basis, rank):
                    continue
                root = ra
            else:
                root = union_roots(ra, rb, o0, o1, o2, po, basis, nxt, lvl, ev)[0]
        if rank[root] > any_rank:
            any_rank = record_rank(root, rank, basis, thr_any, dir_any, any_rank, ev)
        if src[root] != 0 and rank[root] > src_rank:
            src_rank = record_rank(root, rank, basis, thr_src, dir_src, src_rank, ev)
    return lvl, thr_src, dir_src, thr_any, dir_any


@njit(cache=True)
def _levels(e, lo, lvl):
    n = e.shape[0]
    out = np.empty(n)
    for v in range(n):
        b = lo[v, 0]
        if b < 0:
            out[v] = np.inf
        else:
            lb = lvl[b]
            out[v] = e[v] if e[v] > lb else lb
    return out


@njit(cache=True)
def _source_energies(e, lo, is_source, nbas):
    out = np.full(nbas, np.inf)
    for v in range(e.shape[0]):
        if is_source[v]:
            b = lo[v, 0]
            if b >= 0 and e[v] < out[b]:
                out[b] = e[v]
    return out


def descent_basins(energies: np.ndarray, steps: np.ndarray, periodic=(True, True, True)):
    """Per node (flat) a row (basin label or -1 if forbidden, image a, b, c relative to the
    basin's minimum), and the number of basins."""
    e = np.ascontiguousarray(energies, dtype=np.float64)
    if e.size >= 2**31:
        raise ValueError(f"grid of {e.size} nodes: at most 2**31 - 1")
    na, nb, nc = e.shape
    parent, shift = _descent(e.ravel(), na, nb, nc, steps, np.asarray(periodic, dtype=np.bool_))
    return _label(parent, shift)


def basin_sweep(energies: np.ndarray, steps: np.ndarray, is_source: np.ndarray, periodic, basins=None):
    """The outputs of :func:`ionnet.core.sweep.sweep` (flat level map) computed on descent basins."""
    e = np.ascontiguousarray(energies, dtype=np.float64)
    na, nb, nc = e.shape
    per = np.asarray(periodic, dtype=np.bool_)
    lo, nbas = descent_basins(e, steps, per) if basins is None else basins
    flat = e.ravel()
    # each unordered neighbour pair once: the steps whose first non-zero component is positive
    half = np.array([s for s in steps if tuple(s) > (0, 0, 0)], dtype=np.int64).reshape(-1, 3)
    keys, w = _edges(flat, na, nb, nc, half, per, lo, _boundary(na, nb, nc, half, per, lo))
    src_e = _source_energies(flat, lo, np.ascontiguousarray(is_source, dtype=np.bool_), nbas)
    sorder = np.argsort(src_e, kind="stable")
    n_src = int(np.isfinite(src_e).sum())
    lvl, thr_src, dir_src, thr_any, dir_any = _kruskal(
        nbas, keys, w, np.argsort(w, kind="stable"), src_e, sorder, n_src)
    return _levels(flat, lo, lvl), thr_src, dir_src, thr_any, dir_any
