"""Site graph kernel: basins (local minima) of a periodic grid merged by saddles.

Flooding watershed on the same sweep order as :mod:`ionnet.core.sweep`: a node
activated with no active neighbour starts a basin; otherwise it takes the basin
of its lowest active neighbour.  When two components meet at a node, the
shallower one's basin is absorbed into the deeper one's if its depth (saddle
energy minus its minimum) is below ``min_depth`` (persistence filtering of
grid noise).  Then every grid edge joining two different basins (or a basin to
a periodic image of itself) is a candidate saddle; the lowest one per
``(site_i, site_j, image)`` is kept.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .sweep import stencil

__all__ = ["basins", "site_graph_arrays"]


@njit(cache=True)
def _root(x, parent):
    r = x
    while parent[r] != r:
        r = parent[r]
    while parent[x] != r:
        nx = parent[x]
        parent[x] = r
        x = nx
    return r


@njit(cache=True)
def _wrap(i, n):
    """Index ``i`` folded into ``0..n-1`` (one step at most) and the cell offset it crossed."""
    if i < 0:
        return i + n, -1
    if i >= n:
        return i - n, 1
    return i, 0


@njit(cache=True)
def _grow(a, cap):
    """A copy of ``a`` with room for ``cap`` rows."""
    out = np.empty((cap,) + a.shape[1:], dtype=a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _neighbour(v, s, shape, steps):
    nb = shape[1]
    nc = shape[2]
    i, s0 = _wrap(v // (nb * nc) + steps[s, 0], shape[0])
    j, s1 = _wrap((v // nc) % nb + steps[s, 1], nb)
    k, s2 = _wrap(v % nc + steps[s, 2], nc)
    return (i * nb + j) * nc + k, s0, s1, s2


@njit(cache=True)
def _flood(energies, shape, order, n_active, steps, min_depth):
    n = energies.shape[0]
    nsteps = steps.shape[0]
    label = np.full(n, -1, dtype=np.int64)  # basin id = node index of its minimum
    comp = np.arange(n).astype(np.int64)  # component union-find (no offsets needed)
    comp_min = np.arange(n).astype(np.int64)  # deepest minimum node of each component
    bparent = np.arange(n).astype(np.int64)  # basin union-find (persistence merges)
    active = np.zeros(n, dtype=np.bool_)
    for t in range(n_active):
        v = order[t]
        ev = energies[v]
        best = -1
        for s in range(nsteps):
            u, s0, s1, s2 = _neighbour(v, s, shape, steps)
            if active[u] and (best < 0 or energies[u] < energies[best]):
                best = u
        active[v] = True
        if best < 0:
            label[v] = v
            continue
        label[v] = label[best]
        comp[v] = _root(best, comp)  # v joins its basin's component first, so label[v] is on v's side
        rv = _root(v, comp)
        for s in range(nsteps):
            u, s0, s1, s2 = _neighbour(v, s, shape, steps)
            if not active[u] or u == v:
                continue
            ru = _root(u, comp)
            rv = _root(v, comp)
            if ru == rv:
                continue
            mu = comp_min[ru]
            mv = comp_min[rv]
            if energies[mu] <= energies[mv]:
                deep = ru
                shallow = rv
            else:
                deep = rv
                shallow = ru
            dmin = comp_min[deep]
            smin = comp_min[shallow]
            if ev - energies[smin] < min_depth:
                # merge into the basin that touches it here (on the deep side of the
                # step v-u), not into the deep component's global minimum: that basin
                # may lie elsewhere, and a label split into pieces gets false images
                a = _root(smin, bparent)
                b = _root(label[u] if deep == ru else label[v], bparent)
                if a != b:
                    if energies[b] <= energies[a]:
                        bparent[a] = b
                    else:
                        bparent[b] = a
            comp[shallow] = deep
            comp_min[deep] = dmin
    for v in range(n):
        if label[v] >= 0:
            label[v] = _root(label[v], bparent)
    return label


@njit(cache=True)
def _images(label, shape, steps):
    """Periodic image of each node relative to its basin's minimum (BFS inside each basin)."""
    n = label.shape[0]
    nsteps = steps.shape[0]
    img = np.zeros((n, 3), dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n, dtype=np.int64)
    # start from basin minima first (label[v] == v), then any leftover piece
    for pass_ in range(2):
        for start in range(n):
            if seen[start] or label[start] < 0:
                continue
            if pass_ == 0 and label[start] != start:
                continue
            seen[start] = True
            head = 0
            tail = 0
            queue[tail] = start
            tail += 1
            while head < tail:
                x = queue[head]
                head += 1
                for s in range(nsteps):
                    y, s0, s1, s2 = _neighbour(x, s, shape, steps)
                    if seen[y] or label[y] != label[x]:
                        continue
                    seen[y] = True
                    img[y, 0] = img[x, 0] + s0
                    img[y, 1] = img[x, 1] + s1
                    img[y, 2] = img[x, 2] + s2
                    queue[tail] = y
                    tail += 1
    return img


@njit(cache=True)
def _saddle_candidates(energies, label, img, shape, steps):
    n = label.shape[0]
    nsteps = steps.shape[0]
    cap = 1024
    out_a = np.empty(cap, dtype=np.int64)
    out_b = np.empty(cap, dtype=np.int64)
    out_img = np.empty((cap, 3), dtype=np.int64)
    out_w = np.empty(cap, dtype=np.float64)
    out_node = np.empty(cap, dtype=np.int64)
    m = 0
    for x in range(n):
        if label[x] < 0:
            continue
        for s in range(nsteps):
            y, s0, s1, s2 = _neighbour(x, s, shape, steps)
            if label[y] < 0:
                continue
            i0 = img[x, 0] + s0 - img[y, 0]
            i1 = img[x, 1] + s1 - img[y, 1]
            i2 = img[x, 2] + s2 - img[y, 2]
            if label[x] == label[y] and i0 == 0 and i1 == 0 and i2 == 0:
                continue
            if m == cap:
                cap *= 2
                out_a, out_b, out_img = _grow(out_a, cap), _grow(out_b, cap), _grow(out_img, cap)
                out_w, out_node = _grow(out_w, cap), _grow(out_node, cap)
            out_a[m] = label[x]
            out_b[m] = label[y]
            out_img[m, 0] = i0
            out_img[m, 1] = i1
            out_img[m, 2] = i2
            if energies[x] >= energies[y]:
                out_w[m] = energies[x]
                out_node[m] = x
            else:
                out_w[m] = energies[y]
                out_node[m] = y
            m += 1
    return out_a[:m], out_b[:m], out_img[:m], out_w[:m], out_node[:m]


def basins(energies: np.ndarray, *, connectivity: int = 6, min_depth: float = 0.0) -> np.ndarray:
    """Basin label (flat index of the basin's minimum node) of every node; -1 for forbidden nodes."""
    flat = np.ascontiguousarray(energies, dtype=np.float64).ravel()
    finite = np.isfinite(flat)
    order = np.argsort(np.where(finite, flat, np.inf), kind="stable").astype(np.int64)
    label = _flood(
        flat, np.asarray(energies.shape, dtype=np.int64), order, int(finite.sum()), stencil(connectivity), float(min_depth)
    )
    return label.reshape(energies.shape)


def site_graph_arrays(energies: np.ndarray, *, connectivity: int = 6, min_depth: float = 0.0):
    """Sites and saddles of a periodic energy grid.

    Returns
    -------
    site_nodes : (S,) int
        Flat index of each site's minimum node.
    label : (na, nb, nc) int
        Site number (0..S-1) of each node, -1 for forbidden nodes.
    edges : (M, 2) int
        Site numbers ``(i, j)`` joined by a saddle; ``i <= j``.
    images : (M, 3) int
        Periodic image of site ``j`` reached from site ``i`` in cell (0, 0, 0).
    saddle_energy : (M,) float
        Energy of the saddle (highest node along the lowest crossing), absolute.
    saddle_node : (M,) int
        Flat index of the saddle node.
    """
    e = np.ascontiguousarray(energies, dtype=np.float64)
    shape = np.asarray(e.shape, dtype=np.int64)
    steps = stencil(connectivity)
    label = basins(e, connectivity=connectivity, min_depth=min_depth).ravel()
    img = _images(label, shape, steps)
    a, b, im, w, node = _saddle_candidates(e.ravel(), label, img, shape, steps)
    site_nodes = np.unique(label[label >= 0])
    # renumber sites by increasing energy
    site_nodes = site_nodes[np.argsort(e.ravel()[site_nodes], kind="stable")]
    lookup = np.full(label.size, -1, dtype=np.int64)
    lookup[site_nodes] = np.arange(site_nodes.size)
    ia = lookup[a]
    ib = lookup[b]
    # canonical orientation: i < j, or i == j with the image's first non-zero component positive
    flip = (ia > ib) | ((ia == ib) & _negative_first(im))
    ia2 = np.where(flip, ib, ia)
    ib2 = np.where(flip, ia, ib)
    im2 = np.where(flip[:, None], -im, im)
    if ia2.size:
        keys = np.column_stack([ia2, ib2, im2])
        order = np.lexsort((w, *keys.T[::-1]))
        keys = keys[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = np.any(keys[1:] != keys[:-1], axis=1)
        sel = order[first]
    else:
        sel = np.zeros(0, dtype=np.int64)
    edges = np.column_stack([ia2[sel], ib2[sel]]).astype(np.int64).reshape(-1, 2)
    images = im2[sel].astype(np.int64).reshape(-1, 3)
    saddle_energy = w[sel]
    saddle_node = node[sel]
    srt = np.lexsort((saddle_energy, edges[:, 1], edges[:, 0])) if len(sel) else sel
    site_label = lookup[np.where(label >= 0, label, 0)]
    site_label[label < 0] = -1
    return (
        site_nodes,
        site_label.reshape(e.shape),
        edges[srt],
        images[srt],
        saddle_energy[srt],
        saddle_node[srt],
    )


def _negative_first(im: np.ndarray) -> np.ndarray:
    nz = im != 0
    has = nz.any(axis=1)
    first = np.argmax(nz, axis=1)
    val = im[np.arange(len(im)), first]
    return has & (val < 0)
