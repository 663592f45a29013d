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
order (the first and last run on all cores).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .periodic import add_winding, uf_find

__all__ = ["descent_basins", "basin_sweep"]


@njit(cache=True, parallel=True)
def _descent(e, na, nb, nc, steps, periodic):
    """Per node: the lowest neighbour if it is lower in (energy, index) order, else the node itself
    (-1 for a forbidden node); and the cell offset of that step."""
    n = na * nb * nc
    parent = np.empty(n, dtype=np.int64)
    shift = np.zeros((n, 3), dtype=np.int8)
    nsteps = steps.shape[0]
    for i in prange(na):
        for j in range(nb):
            for k in range(nc):
                v = (i * nb + j) * nc + k
                ev = e[v]
                if not np.isfinite(ev):
                    parent[v] = -1
                    continue
                best = v
                be = ev
                b0 = 0
                b1 = 0
                b2 = 0
                for s in range(nsteps):
                    ui = i + steps[s, 0]
                    uj = j + steps[s, 1]
                    uk = k + steps[s, 2]
                    s0 = 0
                    s1 = 0
                    s2 = 0
                    if ui < 0 or ui >= na:
                        if not periodic[0]:
                            continue
                        if ui < 0:
                            ui += na
                            s0 = -1
                        else:
                            ui -= na
                            s0 = 1
                    if uj < 0 or uj >= nb:
                        if not periodic[1]:
                            continue
                        if uj < 0:
                            uj += nb
                            s1 = -1
                        else:
                            uj -= nb
                            s1 = 1
                    if uk < 0 or uk >= nc:
                        if not periodic[2]:
                            continue
                        if uk < 0:
                            uk += nc
                            s2 = -1
                        else:
                            uk -= nc
                            s2 = 1
                    u = (ui * nb + uj) * nc + uk
                    eu = e[u]
                    if not np.isfinite(eu):
                        continue
                    if eu < be or (eu == be and u < best):
                        best = u
                        be = eu
                        b0 = s0
                        b1 = s1
                        b2 = s2
                parent[v] = best
                shift[v, 0] = b0
                shift[v, 1] = b1
                shift[v, 2] = b2
    return parent, shift


@njit(cache=True)
def _label(parent, shift):
    """Basin label of every node (minima numbered in index order; -1: forbidden), the periodic
    image of each node relative to its basin's minimum, and the number of basins."""
    n = parent.shape[0]
    lab = np.full(n, -1, dtype=np.int32)
    off = np.zeros((n, 3), dtype=np.int32)
    nbas = 0
    for v in range(n):
        if parent[v] == v:
            lab[v] = nbas
            nbas += 1
    stack = np.empty(64, dtype=np.int64)
    for v in range(n):
        if parent[v] < 0 or lab[v] >= 0:
            continue
        top = 0
        x = v
        while lab[x] < 0:
            if top == stack.shape[0]:
                bigger = np.empty(2 * top, dtype=np.int64)
                bigger[:top] = stack
                stack = bigger
            stack[top] = x
            top += 1
            x = parent[x]
        while top > 0:
            top -= 1
            y = stack[top]
            p = parent[y]
            lab[y] = lab[p]
            # the step y -> p lands in cell `shift` as seen from y, so y sits at off[p] - shift
            off[y, 0] = off[p, 0] - shift[y, 0]
            off[y, 1] = off[p, 1] - shift[y, 1]
            off[y, 2] = off[p, 2] - shift[y, 2]
    return lab, off, nbas


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
def _edges(e, na, nb, nc, half, periodic, lab, off):
    """The lowest edge per (basin a <= basin b, displacement of b's minimum frame in a's).

    Edges inside one basin count only when they close a cycle of non-zero displacement
    (stored with a == b and the displacement's sign fixed)."""
    cap = 1024
    keys = np.zeros((cap, 5), dtype=np.int64)
    used = np.zeros(cap, dtype=np.bool_)
    wmin = np.empty(cap)
    count = 0
    nsteps = half.shape[0]
    last_h = -1
    for i in range(na):
        for j in range(nb):
            for k in range(nc):
                v = (i * nb + j) * nc + k
                bv = lab[v]
                if bv < 0:
                    continue
                ev = e[v]
                for s in range(nsteps):
                    ui = i + half[s, 0]
                    uj = j + half[s, 1]
                    uk = k + half[s, 2]
                    s0 = 0
                    s1 = 0
                    s2 = 0
                    if ui < 0 or ui >= na:
                        if not periodic[0]:
                            continue
                        if ui < 0:
                            ui += na
                            s0 = -1
                        else:
                            ui -= na
                            s0 = 1
                    if uj < 0 or uj >= nb:
                        if not periodic[1]:
                            continue
                        if uj < 0:
                            uj += nb
                            s1 = -1
                        else:
                            uj -= nb
                            s1 = 1
                    if uk < 0 or uk >= nc:
                        if not periodic[2]:
                            continue
                        if uk < 0:
                            uk += nc
                            s2 = -1
                        else:
                            uk -= nc
                            s2 = 1
                    u = (ui * nb + uj) * nc + uk
                    bu = lab[u]
                    if bu < 0:
                        continue
                    # u's basin frame sits at d in v's basin frame
                    d0 = off[v, 0] + s0 - off[u, 0]
                    d1 = off[v, 1] + s1 - off[u, 1]
                    d2 = off[v, 2] + s2 - off[u, 2]
                    a = bv
                    b = bu
                    if a == b:
                        if d0 == 0 and d1 == 0 and d2 == 0:
                            continue
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
                        if 2 * count > cap:  # rehash into a table twice the size
                            old_keys = keys
                            old_used = used
                            old_w = wmin
                            cap *= 2
                            keys = np.zeros((cap, 5), dtype=np.int64)
                            used = np.zeros(cap, dtype=np.bool_)
                            wmin = np.empty(cap)
                            for q in range(old_used.shape[0]):
                                if old_used[q]:
                                    g = _slot(keys, used, old_keys[q, 0], old_keys[q, 1], old_keys[q, 2],
                                              old_keys[q, 3], old_keys[q, 4])
                                    used[g] = True
                                    keys[g] = old_keys[q]
                                    wmin[g] = old_w[q]
                            h = _slot(keys, used, a, b, d0, d1, d2)
                    last_h = h
    sel = np.flatnonzero(used)
    return keys[sel], wmin[sel]


@njit(cache=True)
def _record(root, rank, basis, thr, dirs, cur, ev):
    r = rank[root]
    for d in range(cur, r):
        thr[d] = ev
        for q in range(d + 1):
            for c in range(3):
                dirs[d, q, c] = basis[root, q, c]
    return max(cur, r)


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
    size = po[:, 1]
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
                x = root
                while True:
                    lvl[x] = ev
                    x = nxt[x]
                    if x == root:
                        break
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
                if size[ra] >= size[rb]:
                    big = ra
                    small = rb
                else:
                    big = rb
                    small = ra
                    o0 = -o0
                    o1 = -o1
                    o2 = -o2
                size_small = size[small]
                src_small = src[small]
                rank_small = rank[small]
                if src[big] != src_small:
                    other = big if src_small else small
                    x = other
                    while True:
                        lvl[x] = ev
                        x = nxt[x]
                        if x == other:
                            break
                po[small, 0] = big
                po[small, 1] = o0
                po[small, 2] = o1
                po[small, 3] = o2
                size[big] += size_small
                tmp = nxt[big]
                nxt[big] = nxt[small]
                nxt[small] = tmp
                if src_small:
                    src[big] = 1
                for r in range(rank_small):
                    add_winding(big, basis[small, r, 0], basis[small, r, 1], basis[small, r, 2], basis, rank)
                root = big
        if rank[root] > any_rank:
            any_rank = _record(root, rank, basis, thr_any, dir_any, any_rank, ev)
        if src[root] != 0 and rank[root] > src_rank:
            src_rank = _record(root, rank, basis, thr_src, dir_src, src_rank, ev)
    return lvl, thr_src, dir_src, thr_any, dir_any


@njit(cache=True, parallel=True)
def _levels(e, lab, lvl):
    n = e.shape[0]
    out = np.empty(n)
    for v in prange(n):
        b = lab[v]
        if b < 0:
            out[v] = np.inf
        else:
            lb = lvl[b]
            out[v] = e[v] if e[v] > lb else lb
    return out


@njit(cache=True)
def _source_energies(e, lab, is_source, nbas):
    out = np.full(nbas, np.inf)
    for v in range(e.shape[0]):
        if is_source[v]:
            b = lab[v]
            if b >= 0 and e[v] < out[b]:
                out[b] = e[v]
    return out


def descent_basins(energies: np.ndarray, steps: np.ndarray, periodic=(True, True, True)):
    """Basin label of each node (flat; -1 forbidden), its image relative to the basin minimum, and the count."""
    e = np.ascontiguousarray(energies, dtype=np.float64)
    na, nb, nc = e.shape
    parent, shift = _descent(e.ravel(), na, nb, nc, steps, np.asarray(periodic, dtype=np.bool_))
    return _label(parent, shift)


def basin_sweep(energies: np.ndarray, steps: np.ndarray, is_source: np.ndarray, periodic, basins=None):
    """The outputs of :func:`ionnet.core.sweep.sweep` (flat level map) computed on descent basins."""
    e = np.ascontiguousarray(energies, dtype=np.float64)
    na, nb, nc = e.shape
    per = np.asarray(periodic, dtype=np.bool_)
    lab, off, nbas = descent_basins(e, steps, per) if basins is None else basins
    flat = e.ravel()
    # each unordered neighbour pair once: the steps whose first non-zero component is positive
    half = np.array([s for s in steps if tuple(s) > (0, 0, 0)], dtype=np.int64).reshape(-1, 3)
    keys, w = _edges(flat, na, nb, nc, half, per, lab, off)
    src_e = _source_energies(flat, lab, np.ascontiguousarray(is_source, dtype=np.bool_), nbas)
    sorder = np.argsort(src_e, kind="stable")
    n_src = int(np.isfinite(src_e).sum())
    lvl, thr_src, dir_src, thr_any, dir_any = _kruskal(
        nbas, keys, w, np.argsort(w, kind="stable"), src_e, sorder, n_src)
    return _levels(flat, lab, lvl), thr_src, dir_src, thr_any, dir_any
