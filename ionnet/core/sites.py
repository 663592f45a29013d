"""Site graph kernel: basins (local minima) of a periodic grid merged by saddles.

Flooding watershed on the same sweep order as :mod:`ionnet.core.sweep`: a node
activated with no active neighbour starts a basin; otherwise it takes the basin
of its lowest active neighbour.  When two components meet at a node, the
shallower one's basin is absorbed into the deeper one's if its depth (saddle
energy minus its minimum) is below ``min_depth`` (persistence filtering of
grid noise).  Then every grid edge joining two different basins (or a basin to
a periodic image of itself) is a candidate saddle; the lowest one per
``(site_i, site_j, image)`` is kept.

:func:`basin_images` (each node's cell relative to its basin's minimum) and
:func:`basin_crossings` (the grid steps between basins) are the two passes the
site graph is built from; :mod:`ionnet.core.transport` reuses them to follow
the ion through the grid, so its crossings carry the site graph's images.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .periodic import grow_rows, neighbour
from .sweep import stencil

__all__ = ["basins", "site_graph_arrays", "basin_images", "basin_crossings"]


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
            u, s0, s1, s2 = neighbour(v, s, shape, steps)
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
            u, s0, s1, s2 = neighbour(v, s, shape, steps)
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
def _basin_images(label, is_root, shape, steps):
    """Periodic image of each node relative to its basin's root (BFS inside each basin, roots first)."""
    n = label.shape[0]
    nsteps = steps.shape[0]
    img = np.zeros((n, 3), dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n, dtype=np.int64)
    # start from the roots (basin minima) first, then any leftover piece
    for pass_ in range(2):
        for start in range(n):
            if seen[start] or label[start] < 0:
                continue
            if pass_ == 0 and not is_root[start]:
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
                    y, s0, s1, s2 = neighbour(x, s, shape, steps)
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
def _crossings(label, img, shape, steps):
    """Grid steps ``x -> y`` between two basins (or a basin and its own image) and the image they cross."""
    n = label.shape[0]
    nsteps = steps.shape[0]
    cap = 1024
    out_x = np.empty(cap, dtype=np.int64)
    out_y = np.empty(cap, dtype=np.int64)
    out_s = np.empty(cap, dtype=np.int64)
    out_img = np.empty((cap, 3), dtype=np.int64)
    m = 0
    for x in range(n):
        if label[x] < 0:
            continue
        for s in range(nsteps):
            y, s0, s1, s2 = neighbour(x, s, shape, steps)
            if label[y] < 0:
                continue
            i0 = img[x, 0] + s0 - img[y, 0]
            i1 = img[x, 1] + s1 - img[y, 1]
            i2 = img[x, 2] + s2 - img[y, 2]
            if label[x] == label[y] and i0 == 0 and i1 == 0 and i2 == 0:
                continue
            if m == cap:
                cap *= 2
                out_x, out_y, out_s, out_img = (grow_rows(out_x, cap), grow_rows(out_y, cap), grow_rows(out_s, cap),
                                                grow_rows(out_img, cap))
            out_x[m] = x
            out_y[m] = y
            out_s[m] = s
            out_img[m, 0] = i0
            out_img[m, 1] = i1
            out_img[m, 2] = i2
            m += 1
    return out_x[:m], out_y[:m], out_s[:m], out_img[:m]


def basin_images(site_label: np.ndarray, site_nodes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Periodic image of every node relative to its site's minimum node.

    The breadth-first search that gives the site graph its ``images`` (roots
    first, in node order; the stencil's order), so crossing images match them.

    Parameters
    ----------
    site_label : (na, nb, nc) int
        Site number of each node, -1 for forbidden nodes.
    site_nodes : (S,) int
        Flat index of each site's minimum node.
    steps : (K, 3) int
        The stencil (``ionnet.core.sweep.stencil(connectivity)``).

    Returns
    -------
    (N, 3) ndarray of int
    """
    shape = np.asarray(site_label.shape, dtype=np.int64)
    lab = np.ascontiguousarray(site_label, dtype=np.int64).ravel()
    is_root = np.zeros(lab.size, dtype=np.bool_)
    is_root[np.asarray(site_nodes, dtype=np.int64)] = True
    return _basin_images(lab, is_root, shape, np.ascontiguousarray(steps, dtype=np.int64))


def basin_crossings(site_label: np.ndarray, img: np.ndarray, steps: np.ndarray):
    """Every grid step from one site's basin into another site's (or its own image's).

    Parameters
    ----------
    site_label : (na, nb, nc) int
        Site (or basin) label of each node, -1 for forbidden nodes.
    img : (N, 3) int
        :func:`basin_images`.
    steps : (K, 3) int
        The stencil.

    Returns
    -------
    x, y : (C,) int
        Flat node indices, ``x`` in site ``label[x]``, ``y`` in ``label[y]``.
    step : (C,) int
        Index into ``steps``.
    image : (C, 3) int
        Image of ``label[y]``'s cell reached from ``label[x]``'s (the site graph's convention).
    """
    shape = np.asarray(site_label.shape, dtype=np.int64)
    lab = np.ascontiguousarray(site_label, dtype=np.int64).ravel()
    return _crossings(lab, np.ascontiguousarray(img, dtype=np.int64), shape, np.ascontiguousarray(steps, dtype=np.int64))


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
    img = _basin_images(label, label == np.arange(label.size), shape, steps)
    x, y, _, im = _crossings(label, img, shape, steps)
    a, b = label[x], label[y]
    ex, ey = e.ravel()[x], e.ravel()[y]
    higher = ex >= ey  # the saddle of a step is its higher node
    w = np.where(higher, ex, ey)
    node = np.where(higher, x, y)
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
