"""Transport kernels: exact dilute-limit diffusion on a periodic hopping network, and KMC.

Array in, array out; no I/O.  Units are whatever the caller passes: flux
weights ``w`` in 1/s and lattices in Å give ``D`` in Å²/s.

The network
-----------
``n`` sites; undirected edges ``(i, j)`` with an integer periodic image
``image`` (the cell of the copy of ``j`` reached from ``i`` in cell 0) and a
flux weight ``w = π_i k_ij = π_j k_ji`` (detailed balance makes it symmetric;
``π`` is normalised to one carrier).  The hop vector is
``d = (frac_j + image - frac_i) @ lattice``.

Exact D
-------
With the periodic corrector ``χ`` (one 3-vector per site) that solves
``Σ_j w_ij (d_ij + χ_j - χ_i) = 0`` for every site,

    D = Σ_edges w (d + χ_j - χ_i)(d + χ_j - χ_i)ᵀ

(each undirected edge stands for the two directed hops of the usual
``D = ½ Σ_{i→j} π_i k_ij u uᵀ``).  ``D`` is the minimum over ``χ`` of that
quadratic form, so it can be computed by eliminating sites one at a time
(star–mesh transform, i.e. Gaussian elimination of the corrector equation):
eliminating site ``k`` joins each pair of its neighbours ``a, b`` by a new
edge of weight ``w_ak w_kb / Σ_c w_kc`` whose image is the sum of the two
images; two parallel edges ``(w0, n0)``, ``(w1, n1)`` between the same sites
merge into one of weight ``w0 + w1`` and image ``(w0 n0 + w1 n1)/(w0 + w1)``
plus a fixed contribution ``w0 w1/(w0 + w1) (n0 - n1)(n0 - n1)ᵀ`` to ``D``;
a self-loop (a site joined to its own image) contributes ``w n nᵀ``.  Every
operation is a product, quotient or sum of positive numbers: no subtraction of
weights, so ``D`` keeps full relative precision when the rates span hundreds
of decades (the GTH idea for Markov chains).  Site positions cancel exactly:
only the integer images enter, ``D`` lives in the span of the cycles'
winding vectors, and a direction the network does not percolate along gets an
exact zero.

The plan (:func:`prepare_network`) orders the sites by minimum degree; the
first sites go through a sparse loop over neighbour and fill lists (all
temperatures per merge), and the nearly complete graph left at the end of the
order is eliminated as a dense block (:func:`_dense_tail`), one temperature at
a time in the cache.  Both do the same merges in the same order per edge.

:func:`corrector_diffusion` solves the same equation with one sparse linear
solve (the textbook route); it agrees with :func:`exact_diffusion` where the
rates are within ~1e8 of each other and is kept as the cross-check.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = [
    "Network",
    "prepare_network",
    "exact_diffusion",
    "corrector_diffusion",
    "kmc_diffusion",
    "network_percolation",
    "basin_images",
    "basin_crossings",
    "descent_path",
    "basin_path",
]

_MAX_DENSE = 6000  # sites per connected component for the elimination plan (n² int32 work array)


# ----------------------------------------------------------------------------- growable arrays
@njit(cache=True)
def _grow(a, size):
    if size < a.shape[0]:
        return a
    b = np.empty(max(2 * a.shape[0], 16), dtype=a.dtype)
    b[: a.shape[0]] = a
    return b


# ----------------------------------------------------------------------------- elimination plan
@njit(cache=True)
def _plan(n, ei, ej, natural, n_sparse):
    """Elimination order (minimum degree, or 0..n-1 if ``natural``) and its fill pattern.

    The ordering pass returns the order and the number of remaining
    neighbours of each step's site; the ``natural`` pass records the
    neighbour lists and fill slots of the first ``n_sparse`` steps only (the
    rest is eliminated as a dense block, which needs no lists).
    """
    m = ei.shape[0]
    slot = np.full((n, n), -1, dtype=np.int32)
    edge_slot = np.full(m, -1, dtype=np.int64)
    slot_lo = np.empty(max(m, 16), dtype=np.int64)
    slot_hi = np.empty(max(m, 16), dtype=np.int64)
    nslots = 0
    deg = np.zeros(n, dtype=np.int64)
    for e in range(m):
        i = ei[e]
        j = ej[e]
        if i == j:
            continue
        a = min(i, j)
        b = max(i, j)
        if slot[a, b] < 0:
            slot[a, b] = nslots
            slot[b, a] = nslots
            slot_lo = _grow(slot_lo, nslots)
            slot_hi = _grow(slot_hi, nslots)
            slot_lo[nslots] = a
            slot_hi[nslots] = b
            nslots += 1
            deg[a] += 1
            deg[b] += 1
        edge_slot[e] = slot[a, b]
    elim = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    count = np.zeros(n, dtype=np.int64)
    nb_ptr = np.zeros(n + 1, dtype=np.int64)
    nb_node = np.empty(16, dtype=np.int64)
    nb_slot = np.empty(16, dtype=np.int64)
    pair_slot = np.empty(16, dtype=np.int64)
    n_nb = 0
    n_pair = 0
    buf = np.empty(n, dtype=np.int64)
    for step in range(n):
        if natural and step >= n_sparse:
            nb_ptr[step + 1] = n_nb
            continue
        k = step
        if not natural:
            best = np.int64(1) << 62
            for v in range(n):
                if not elim[v] and deg[v] < best:
                    best = deg[v]
                    k = v
        order[step] = k
        cnt = 0
        for j in range(n):
            if j != k and not elim[j] and slot[k, j] >= 0:
                buf[cnt] = j
                cnt += 1
        count[step] = cnt
        if not natural:  # ordering pass: the degrees, and the neighbours for the cost of the dense tail
            for p in range(cnt):
                nb_node = _grow(nb_node, n_nb)
                nb_node[n_nb] = buf[p]
                n_nb += 1
            nb_ptr[step + 1] = n_nb
            for p in range(cnt):
                a = buf[p]
                for q in range(p + 1, cnt):
                    b = buf[q]
                    if slot[a, b] < 0:
                        slot[a, b] = 0
                        slot[b, a] = 0
                        deg[a] += 1
                        deg[b] += 1
            elim[k] = True
            for p in range(cnt):
                deg[buf[p]] -= 1
            continue
        for p in range(cnt):
            nb_node = _grow(nb_node, n_nb)
            nb_slot = _grow(nb_slot, n_nb)
            nb_node[n_nb] = buf[p]
            nb_slot[n_nb] = slot[k, buf[p]]
            n_nb += 1
        nb_ptr[step + 1] = n_nb
        for p in range(cnt):
            a = buf[p]
            for q in range(p + 1, cnt):
                b = buf[q]
                s = slot[a, b]
                if s < 0:
                    s = nslots
                    slot[a, b] = s
                    slot[b, a] = s
                    slot_lo = _grow(slot_lo, nslots)
                    slot_hi = _grow(slot_hi, nslots)
                    slot_lo[nslots] = a
                    slot_hi[nslots] = b
                    nslots += 1
                    deg[a] += 1
                    deg[b] += 1
                pair_slot = _grow(pair_slot, n_pair)
                pair_slot[n_pair] = s
                n_pair += 1
        elim[k] = True
        for p in range(cnt):
            deg[buf[p]] -= 1
    return (order, count, nb_ptr, nb_node[:n_nb], nb_slot[:n_nb], pair_slot[:n_pair], edge_slot,
            slot_lo[:nslots], slot_hi[:nslots])


@njit(cache=True, fastmath={"contract", "arcp", "nsz"})
def _eliminate(ei, ej, eimg, w, comp, n_comp, n_sparse, nb_ptr, nb_node, nb_slot, pair_slot, edge_slot, slot_lo,
               dense_slot, dense_lo, dense_hi):
    """Star–mesh elimination of every site, for all temperatures in one pass.

    ``w`` is (M, nT) (entries below 1e-300 must be zeroed); returns D as
    (nT, n_comp, 3, 3) in lattice (fractional) units.  Sites ``0..n_sparse-1``
    are eliminated through the plan's neighbour and fill lists; the inner loops
    run over temperature without branches (the merge of a new edge into an
    empty slot is the general merge with ``g0 = 0``), so they vectorise.  The
    remaining sites (the plan's nearly complete tail) go to :func:`_dense_tail`.
    """
    nslots = slot_lo.shape[0]
    n = nb_ptr.shape[0] - 1
    nt = w.shape[1]
    g = np.zeros((nslots, nt))
    im = np.zeros((nslots, 3, nt))
    dfr = np.zeros((n_comp, 6, nt))  # xx xy xz yy yz zz
    v = np.empty((3, nt))
    for e in range(ei.shape[0]):
        i = ei[e]
        j = ej[e]
        c = comp[i]
        if i == j:
            for t in range(nt):
                we = w[e, t]
                dfr[c, 0, t] += we * eimg[e, 0] * eimg[e, 0]
                dfr[c, 1, t] += we * eimg[e, 0] * eimg[e, 1]
                dfr[c, 2, t] += we * eimg[e, 0] * eimg[e, 2]
                dfr[c, 3, t] += we * eimg[e, 1] * eimg[e, 1]
                dfr[c, 4, t] += we * eimg[e, 1] * eimg[e, 2]
                dfr[c, 5, t] += we * eimg[e, 2] * eimg[e, 2]
            continue
        sg = 1.0 if i < j else -1.0
        for a in range(3):
            for t in range(nt):
                v[a, t] = sg * eimg[e, a]
        _merge_row(edge_slot[e], w[e], v, g, im, dfr, c, nt)
    kg = np.empty((n, nt))
    kimg = np.empty((n, 3, nt))
    gt = np.empty(nt)
    gp = np.empty(nt)
    gn = np.empty(nt)
    pp = 0
    for k in range(n_sparse):  # sites are numbered in elimination order
        c = comp[k]
        start = nb_ptr[k]
        cnt = nb_ptr[k + 1] - start
        for t in range(nt):
            gt[t] = 0.0
        for p in range(cnt):
            jn = nb_node[start + p]
            s = nb_slot[start + p]
            sg = 1.0 if k < jn else -1.0
            for t in range(nt):
                kg[p, t] = g[s, t]
                gt[t] += g[s, t]
            for a in range(3):
                for t in range(nt):
                    kimg[p, a, t] = sg * im[s, a, t]
        for p in range(cnt):
            for t in range(nt):
                gp[t] = kg[p, t] / gt[t] if gt[t] > 0.0 else 0.0
            for q in range(p + 1, cnt):
                s = pair_slot[pp]
                pp += 1
                # neighbours are listed in increasing site order, so p -> q is lo -> hi
                for t in range(nt):
                    gn[t] = kg[q, t] * gp[t]
                for a in range(3):
                    for t in range(nt):
                        v[a, t] = kimg[q, a, t] - kimg[p, a, t]
                _merge_row(s, gn, v, g, im, dfr, c, nt)
    if n > n_sparse:
        _dense_tail(g, im, dense_slot, dense_lo, dense_hi, n - n_sparse, comp[n_sparse], dfr)
    out = np.empty((nt, n_comp, 3, 3))
    for t in range(nt):
        for c in range(n_comp):
            out[t, c, 0, 0] = dfr[c, 0, t]
            out[t, c, 0, 1] = dfr[c, 1, t]
            out[t, c, 1, 0] = dfr[c, 1, t]
            out[t, c, 0, 2] = dfr[c, 2, t]
            out[t, c, 2, 0] = dfr[c, 2, t]
            out[t, c, 1, 1] = dfr[c, 3, t]
            out[t, c, 1, 2] = dfr[c, 4, t]
            out[t, c, 2, 1] = dfr[c, 4, t]
            out[t, c, 2, 2] = dfr[c, 5, t]
    return out


@njit(cache=True, inline="always", fastmath={"contract", "arcp", "nsz"})
def _merge_row(s, gn, v, g, im, dfr, c, nt):
    """Merge an edge (weights gn (nT,), image v (3, nT) oriented lo->hi) into slot s.

    Parallel edges ``(g0, n0)`` and ``(gn, v)`` become one edge of weight
    ``g0 + gn`` and image ``n0 - r (n0 - v)`` with ``r = gn/(g0 + gn)``, plus
    ``g0 r (n0 - v)(n0 - v)ᵀ`` added to D.  An empty slot (``g0 = 0``) takes
    ``v`` exactly (``r = 1``, ``im = 0``); equal images stay exactly equal.
    """
    for t in range(nt):
        g0 = g[s, t]
        x = gn[t]
        tot = g0 + x
        r = x / max(tot, 1e-300)  # tot == 0 only when x == 0: r = 0
        f = g0 * r
        d0 = im[s, 0, t] - v[0, t]
        d1 = im[s, 1, t] - v[1, t]
        d2 = im[s, 2, t] - v[2, t]
        dfr[c, 0, t] += f * d0 * d0
        dfr[c, 1, t] += f * d0 * d1
        dfr[c, 2, t] += f * d0 * d2
        dfr[c, 3, t] += f * d1 * d1
        dfr[c, 4, t] += f * d1 * d2
        dfr[c, 5, t] += f * d2 * d2
        im[s, 0, t] -= r * d0
        im[s, 1, t] -= r * d1
        im[s, 2, t] -= r * d2
        g[s, t] = tot


# ----------------------------------------------------------------------------- dense tail
_BLOCK = 32  # pivots per block in the dense tail
_FAST = {"contract", "arcp", "nsz", "reassoc"}


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _dense_tail(g, im, dense_slot, dense_lo, dense_hi, nd, c, dfr):
    """Eliminate the last ``nd`` sites (one component, ``c``) as a dense block: the same merges, blocked.

    The tail of a minimum-degree order is (nearly) a clique, where the sparse
    loop streams every remaining slot from memory once per eliminated site.
    Here each temperature in turn has the slots among the tail sites in a
    packed upper triangle (row ``a`` holds the slots ``(a, b > a)``), and
    sites are eliminated in blocks of ``_BLOCK``: the block's own rows are
    brought up to date pivot by pivot (the panel), then every later row takes
    the block's merges one pivot after the other while it sits in the cache.
    Every slot receives the same merges in the same order as in the sparse
    loop; an absent edge is a slot of weight 0, whose merges change nothing.
    The row loops run over unsigned indices so that they vectorise.
    """
    if nd < 2:
        return
    nt = g.shape[1]
    off = np.empty(nd, dtype=np.int64)  # slot (a, b), a < b, at off[a] + b
    for a in range(nd):
        off[a] = a * (2 * nd - a - 1) // 2 - a - 1
    npk = nd * (nd - 1) // 2
    sg = np.empty(npk)  # weight
    s0 = np.empty(npk)  # image x, y, z (oriented a -> b)
    s1 = np.empty(npk)
    s2 = np.empty(npk)
    pn = np.empty((_BLOCK, nd))  # for each block pivot k and site b: g_kb / G_k,
    pg = np.empty((_BLOCK, nd))  # g_kb
    p0 = np.empty((_BLOCK, nd))  # and the image k -> b
    p1 = np.empty((_BLOCK, nd))
    p2 = np.empty((_BLOCK, nd))
    acc = np.empty(6)
    for t in range(nt):
        _dense_one(g, im, dense_slot, dense_lo, dense_hi, nd, off, t, sg, s0, s1, s2, pn, pg, p0, p1, p2, acc)
        for j in range(6):
            dfr[c, j, t] += acc[j]


@njit(cache=True, fastmath=_FAST, error_model="numpy")
def _dense_one(g, im, dense_slot, dense_lo, dense_hi, nd, off, t, sg, s0, s1, s2, pn, pg, p0, p1, p2, acc):
    """The dense tail at temperature ``t`` in the work arrays; its six D sums (xx xy xz yy yz zz) go to ``acc``."""
    sg[:] = 0.0
    s0[:] = 0.0
    s1[:] = 0.0
    s2[:] = 0.0
    acc[:] = 0.0
    for e in range(dense_slot.shape[0]):
        s = dense_slot[e]
        x = off[dense_lo[e]] + dense_hi[e]
        sg[x] = g[s, t]
        s0[x] = im[s, 0, t]
        s1[x] = im[s, 1, t]
        s2[x] = im[s, 2, t]
    for k0 in range(0, nd, _BLOCK):
        k1 = min(k0 + _BLOCK, nd)
        for k in range(k0, k1):  # panel: the block's rows, pivot by pivot
            kk = k - k0
            ok = np.uint64(off[k])
            tot = 0.0
            for b in range(np.uint64(k + 1), np.uint64(nd)):
                tot += sg[ok + b]
            _dense_pivot(sg, s0, s1, s2, pn, pg, p0, p1, p2, kk, k, off[k], nd, tot)
            for a in range(k + 1, k1):
                _dense_row(sg, s0, s1, s2, pn, pg, p0, p1, p2, kk, a, off[a], nd, acc)
        for a in range(k1, nd):  # the rest: each row takes the block's merges in order
            for kk in range(k1 - k0):
                _dense_row(sg, s0, s1, s2, pn, pg, p0, p1, p2, kk, a, off[a], nd, acc)


@njit(cache=True)
def _dense_pivot(sg, s0, s1, s2, pn, pg, p0, p1, p2, kk, k, ok, nd, tot):
    """Copy pivot ``k``'s row to the block arrays, with ``g_kb / G_k`` by true division.

    No fast-math here: a reciprocal of a subnormal total would overflow.
    """
    for b in range(k + 1, nd):
        x = ok + b
        pn[kk, b] = sg[x] / tot if tot > 0.0 else 0.0
        pg[kk, b] = sg[x]
        p0[kk, b] = s0[x]
        p1[kk, b] = s1[x]
        p2[kk, b] = s2[x]


@njit(cache=True, inline="always", fastmath=_FAST, error_model="numpy")
def _dense_row(sg, s0, s1, s2, pn, pg, p0, p1, p2, kk, a, o, nd, acc):
    """Merge the edges ``a -> k -> b`` of block pivot ``kk`` into the slots ``(a, b)``, ``b > a`` (:func:`_merge_row`)."""
    ga = pn[kk, a]
    a0 = p0[kk, a]
    a1 = p1[kk, a]
    a2 = p2[kk, a]
    if ga == 0.0:  # a is not joined to k: every merge is empty
        return
    c0 = 0.0
    c1 = 0.0
    c2 = 0.0
    c3 = 0.0
    c4 = 0.0
    c5 = 0.0
    base = np.uint64(o)
    for b in range(np.uint64(a + 1), np.uint64(nd)):
        x = base + b
        xg = ga * pg[kk, b]
        g0 = sg[x]
        tot = g0 + xg
        r = xg / max(tot, 1e-300)  # tot == 0 only when xg == 0: r = 0
        f = g0 * r
        d0 = s0[x] - (p0[kk, b] - a0)
        d1 = s1[x] - (p1[kk, b] - a1)
        d2 = s2[x] - (p2[kk, b] - a2)
        c0 += f * d0 * d0
        c1 += f * d0 * d1
        c2 += f * d0 * d2
        c3 += f * d1 * d1
        c4 += f * d1 * d2
        c5 += f * d2 * d2
        s0[x] -= r * d0
        s1[x] -= r * d1
        s2[x] -= r * d2
        sg[x] = tot
    acc[0] += c0
    acc[1] += c1
    acc[2] += c2
    acc[3] += c3
    acc[4] += c4
    acc[5] += c5


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
        The elimination plan (None: too large, :func:`exact_diffusion` uses the sparse solve).
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
    order, count, nb_ptr, nb_node = _plan(n, ei, ej, False, n)[:4]
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
    plan = _plan(n, pos[ei], pos[ej], True, n_sparse)
    nb_ptr, nb_node, nb_slot, pair_slot, edge_slot, slot_lo, slot_hi = plan[2:]
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


def exact_diffusion(
    net: Network, log_w: np.ndarray, lattice: np.ndarray, frac_coords: np.ndarray | None = None
) -> np.ndarray:
    """Exact dilute-limit tracer diffusion tensor of one carrier on the network.

    Parameters
    ----------
    net : Network
        From :func:`prepare_network`.
    log_w : (M,) or (nT, M) ndarray
        Natural log of each edge's flux weight ``π_i k_ij`` (1/s), ``π`` normalised
        over all sites; ``-inf`` removes an edge.  A 2D array computes every
        row (temperature) in one pass over the elimination plan.
    lattice : (3, 3) ndarray, Å
        Rows a, b, c.
    frac_coords : (S, 3) ndarray, optional
        Only used by the sparse fallback for networks with more than
        6000 sites in one component.

    Returns
    -------
    (3, 3) or (nT, 3, 3) ndarray, Å²/s
        ``D = Σ_edges w (d + Δχ)(d + Δχ)ᵀ``.

    Examples
    --------
    Simple cubic lattice, one site per cell, six hops of rate k = 2/s: D = k a².

    >>> import numpy as np
    >>> net = prepare_network(1, [[0, 0]] * 3, np.eye(3, dtype=int))
    >>> np.round(exact_diffusion(net, np.log([2.0, 2.0, 2.0]), 3.0 * np.eye(3)), 12)
    array([[18.,  0.,  0.],
           [ 0., 18.,  0.],
           [ 0.,  0., 18.]])
    """
    log_w = np.asarray(log_w, dtype=np.float64)
    lattice = np.asarray(lattice, dtype=np.float64)
    single = log_w.ndim == 1
    lw = np.atleast_2d(log_w)  # (nT, M)
    nt = lw.shape[0]
    if len(net.edges) == 0:
        out = np.zeros((nt, 3, 3))
        return out[0] if single else out
    if net.plan is None:
        if frac_coords is None:
            raise ValueError("a network this large needs `frac_coords` for the sparse solve")
        out = np.stack([corrector_diffusion(net.n_sites, net.edges, net.images, x, frac_coords, lattice) for x in lw])
        return out[0] if single else out
    ce = net.edge_comp
    top = np.full((nt, net.n_comp), -np.inf)
    for t in range(nt):
        np.maximum.at(top[t], ce, lw[t])
    finite_top = np.where(np.isfinite(top), top, 0.0)
    w = np.exp(lw - finite_top[:, ce])  # each component scaled by its strongest edge, per temperature
    w[~(w >= 1e-300)] = 0.0  # no subnormals (and no NaN) in the elimination
    pos, n_sparse = net.plan[:2]
    comp = np.empty_like(net.comp)
    comp[pos] = net.comp
    dfr = _eliminate(
        pos[net.edges[:, 0]], pos[net.edges[:, 1]],
        net.images.astype(np.float64), np.ascontiguousarray(w.T), comp, net.n_comp, n_sparse, *net.plan[2:],
    )
    scale = np.where(np.isfinite(top), np.exp(top), 0.0)
    d_frac = np.einsum("tc,tcab->tab", scale, dfr)
    out = np.einsum("ia,tab,bj->tij", lattice.T, d_frac, lattice)
    return out[0] if single else out


def corrector_diffusion(
    n_sites: int,
    edges: np.ndarray,
    images: np.ndarray,
    log_w: np.ndarray,
    frac_coords: np.ndarray,
    lattice: np.ndarray,
) -> np.ndarray:
    """The same ``D`` from one sparse solve of the corrector equation (reference route).

    ``Σ_j w_ij (d_ij + χ_j − χ_i) = 0`` is the weighted graph Laplacian
    ``L χ = b`` with ``b_i = Σ_j w_ij d_ij``; ``χ`` is fixed at one site of
    every connected component and the system is symmetrically (Jacobi) scaled
    before the LU solve.  Accurate while the weights of one component span
    less than ~1e8; :func:`exact_diffusion` has no such limit.

    Returns
    -------
    (3, 3) ndarray, Å²/s
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import splu

    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    images = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    lattice = np.asarray(lattice, dtype=np.float64)
    frac = np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3)
    log_w = np.asarray(log_w, dtype=np.float64)
    n = int(n_sites)
    if len(edges) == 0:
        return np.zeros((3, 3))
    keep = np.isfinite(log_w)
    edges, images, log_w = edges[keep], images[keep], log_w[keep]
    top = log_w.max() if log_w.size else 0.0
    w = np.exp(log_w - top)
    i, j = edges[:, 0], edges[:, 1]
    d = (frac[j] + images - frac[i]) @ lattice
    off = i != j
    a = coo_matrix(
        (np.concatenate([-w[off], -w[off]]), (np.concatenate([i[off], j[off]]), np.concatenate([j[off], i[off]]))),
        shape=(n, n),
    ).tocsr()
    deg = -np.asarray(a.sum(axis=1)).ravel()
    lap = (a + coo_matrix((deg, (np.arange(n), np.arange(n))), shape=(n, n))).tocsc()
    b = np.zeros((n, 3))
    np.add.at(b, i[off], w[off, None] * d[off])
    np.add.at(b, j[off], -w[off, None] * d[off])
    _, comp = connected_components(a, directed=False)
    pinned = np.zeros(n, dtype=bool)
    pinned[np.unique(comp, return_index=True)[1]] = True
    free = np.flatnonzero(~pinned)
    chi = np.zeros((n, 3))
    if free.size:
        s = 1.0 / np.sqrt(np.where(deg[free] > 0, deg[free], 1.0))
        sub = lap[free][:, free]
        sub = coo_matrix(sub).tocsr().multiply(s[:, None]).multiply(s[None, :]).tocsc()
        chi[free] = s[:, None] * splu(sub).solve(s[:, None] * b[free])
    u = d + chi[j] - chi[i]
    return np.exp(top) * np.einsum("e,ea,eb->ab", w, u, u)


# ----------------------------------------------------------------------------- percolation of the network
@njit(cache=True)
def _uf_find(x, parent, off):
    """Root of x and x's image offset relative to it (path compression keeps offsets)."""
    r = x
    o0 = 0
    o1 = 0
    o2 = 0
    while parent[r] != r:
        o0 += off[r, 0]
        o1 += off[r, 1]
        o2 += off[r, 2]
        r = parent[r]
    # second pass: point every node on the path at the root, with its offset to the root
    y = x
    p0 = o0
    p1 = o1
    p2 = o2
    while parent[y] != r and parent[y] != y:
        nxt = parent[y]
        n0 = p0 - off[y, 0]
        n1 = p1 - off[y, 1]
        n2 = p2 - off[y, 2]
        parent[y] = r
        off[y, 0] = p0
        off[y, 1] = p1
        off[y, 2] = p2
        p0 = n0
        p1 = n1
        p2 = n2
        y = nxt
    return r, o0, o1, o2


@njit(cache=True)
def _insert(basis, rank, r, w0, w1, w2):
    """Add winding w to component r's basis if independent (exact integer tests)."""
    k = rank[r]
    if k >= 3 or (w0 == 0 and w1 == 0 and w2 == 0):
        return False
    if k == 1:
        b0 = basis[r, 0, 0]
        b1 = basis[r, 0, 1]
        b2 = basis[r, 0, 2]
        if b1 * w2 - b2 * w1 == 0 and b2 * w0 - b0 * w2 == 0 and b0 * w1 - b1 * w0 == 0:
            return False
    elif k == 2:
        a0 = basis[r, 0, 0]
        a1 = basis[r, 0, 1]
        a2 = basis[r, 0, 2]
        c0 = basis[r, 1, 0]
        c1 = basis[r, 1, 1]
        c2 = basis[r, 1, 2]
        det = a0 * (c1 * w2 - c2 * w1) - a1 * (c0 * w2 - c2 * w0) + a2 * (c0 * w1 - c1 * w0)
        if det == 0:
            return False
    basis[r, k, 0] = w0
    basis[r, k, 1] = w1
    basis[r, k, 2] = w2
    rank[r] = k + 1
    return True


@njit(cache=True)
def _kruskal(n, ei, ej, img, order):
    parent = np.arange(n)
    off = np.zeros((n, 3), dtype=np.int64)
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
        i = ei[e]
        j = ej[e]
        ri, a0, a1, a2 = _uf_find(i, parent, off)
        rj, b0, b1, b2 = _uf_find(j, parent, off)
        r = ri
        if ri != rj:
            is_tree[e] = True
            # pos(j) = pos(i) + img: offset of rj relative to ri
            d0 = a0 + img[e, 0] - b0
            d1 = a1 + img[e, 1] - b1
            d2 = a2 + img[e, 2] - b2
            if size[ri] < size[rj]:  # attach the smaller tree: ri under rj with the opposite offset
                parent[ri] = rj
                off[ri, 0] = -d0
                off[ri, 1] = -d1
                off[ri, 2] = -d2
                size[rj] += size[ri]
                big = rj
                small = ri
            else:
                parent[rj] = ri
                off[rj, 0] = d0
                off[rj, 1] = d1
                off[rj, 2] = d2
                size[ri] += size[rj]
                big = ri
                small = rj
            for k in range(rank[small]):
                _insert(basis, rank, big, basis[small, k, 0], basis[small, k, 1], basis[small, k, 2])
            r = big
        else:
            w0 = a0 + img[e, 0] - b0
            w1 = a1 + img[e, 1] - b1
            w2 = a2 + img[e, 2] - b2
            if w0 == 0 and w1 == 0 and w2 == 0:
                continue
            if cycle_edge < 0:
                cycle_edge = e
                winding[0] = w0
                winding[1] = w1
                winding[2] = w2
            _insert(basis, rank, ri, w0, w1, w2)
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


# ----------------------------------------------------------------------------- kinetic Monte Carlo
@njit(cache=True)
def _kmc_walk(indptr, target, cum_rate, hop_cart, start, t_check, seed, max_hops):
    """Walk every walker until t_check[-1]; displacement (nw, K, 3) at each checkpoint time."""
    np.random.seed(seed)
    nw = start.shape[0]
    nk = t_check.shape[0]
    out = np.zeros((nw, nk, 3))
    hops = np.zeros(nw, dtype=np.int64)
    for w in range(nw):
        i = start[w]
        t = 0.0
        nh = 0
        d0 = 0.0
        d1 = 0.0
        d2 = 0.0
        kc = 0
        while kc < nk:
            lo = indptr[i]
            hi = indptr[i + 1]
            k = cum_rate[hi - 1] if hi > lo else 0.0
            if k > 0.0 and nh < max_hops:
                t_next = t - np.log(1.0 - np.random.random()) / k
            else:
                t_next = np.inf
            while kc < nk and t_check[kc] < t_next:  # checkpoints passed before the next hop
                out[w, kc, 0] = d0
                out[w, kc, 1] = d1
                out[w, kc, 2] = d2
                kc += 1
            if kc >= nk:
                break
            t = t_next
            r = np.random.random() * k
            a = lo
            b = hi - 1
            while a < b:  # first hop whose cumulative rate exceeds r
                mid = (a + b) // 2
                if cum_rate[mid] > r:
                    b = mid
                else:
                    a = mid + 1
            d0 += hop_cart[a, 0]
            d1 += hop_cart[a, 1]
            d2 += hop_cart[a, 2]
            i = target[a]
            nh += 1
        hops[w] = nh
    return out, hops


def kmc_diffusion(
    n_sites: int,
    edges: np.ndarray,
    images: np.ndarray,
    log_w: np.ndarray,
    log_pi: np.ndarray,
    frac_coords: np.ndarray,
    lattice: np.ndarray,
    *,
    n_walkers: int = 2000,
    n_hops: int = 20000,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Tracer D from kinetic Monte Carlo (rejection-free, BKL) on the same network.

    Walkers start from ``π`` and run for the time ``t`` in which an equilibrium
    walker makes ``n_hops`` hops on average.  ``D`` is the slope of the mean
    squared displacement between ``t/2`` and ``t``,
    ``<Δr Δrᵀ>(t) - <Δr Δrᵀ>(t/2) = 2 D t/2``, which cancels the bounded
    local (rattling) part of the displacement that biases ``<Δr Δrᵀ>/(2t)``
    along slow directions; the standard error is over walkers.

    Parameters
    ----------
    log_w : (M,) ndarray
        ln of the flux weights ``π_i k_ij`` (1/s); the rate of ``i -> j`` is
        ``exp(log_w - log_pi[i])``.
    log_pi : (S,) ndarray
        ln of the normalised site occupation ``π``.
    frac_coords : (S, 3) ndarray, fractional
    lattice : (3, 3) ndarray, Å

    Returns
    -------
    D : (3, 3) ndarray, Å²/s
    stderr : (3, 3) ndarray, Å²/s
    info : dict
        ``t_end_s``, ``mean_hops``, ``n_walkers``.
    """
    rng = np.random.default_rng(seed)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    images = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    frac = np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3)
    lattice = np.asarray(lattice, dtype=np.float64)
    log_pi = np.asarray(log_pi, dtype=np.float64)
    log_w = np.asarray(log_w, dtype=np.float64)
    i, j = edges[:, 0], edges[:, 1]
    d = (frac[j] + images - frac[i]) @ lattice
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    hop = np.concatenate([d, -d])
    with np.errstate(invalid="ignore"):
        rate = np.exp(np.concatenate([log_w - log_pi[i], log_w - log_pi[j]]))
    rate = np.where(np.isfinite(rate), rate, 0.0)
    order = np.argsort(src, kind="stable")
    src, dst, hop, rate = src[order], dst[order], hop[order], rate[order]
    indptr = np.zeros(n_sites + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    indptr = np.cumsum(indptr)
    cum = np.empty_like(rate)
    for s in range(n_sites):
        lo, hi = indptr[s], indptr[s + 1]
        cum[lo:hi] = np.cumsum(rate[lo:hi])
    pi = np.exp(log_pi - log_pi.max())
    pi /= pi.sum()
    total = np.zeros(n_sites)
    np.add.at(total, src, rate)
    mean_rate = float(np.dot(pi, total))
    if not mean_rate > 0:
        return np.zeros((3, 3)), np.zeros((3, 3)), {"t_end_s": float("inf"), "mean_hops": 0.0, "n_walkers": n_walkers}
    t_end = float(n_hops) / mean_rate
    start = rng.choice(n_sites, size=int(n_walkers), p=pi).astype(np.int64)
    t_check = np.array([0.5 * t_end, t_end])
    disp, hops = _kmc_walk(
        indptr, dst.astype(np.int64), cum, hop, start, t_check, int(rng.integers(2**31 - 1)), int(50 * n_hops + 1000)
    )
    x1, x2 = disp[:, 0], disp[:, 1]
    m = (np.einsum("wa,wb->wab", x2, x2) - np.einsum("wa,wb->wab", x1, x1)) / (2.0 * (t_end - t_check[0]))
    dmean = m.mean(axis=0)
    se = m.std(axis=0, ddof=1) / np.sqrt(len(m)) if len(m) > 1 else np.full((3, 3), np.inf)
    return dmean, se, {"t_end_s": t_end, "mean_hops": float(hops.mean()), "n_walkers": int(n_walkers)}


# ----------------------------------------------------------------------------- grid helpers
@njit(cache=True)
def _step(v, s, shape, steps):
    nb = shape[1]
    nc = shape[2]
    i = v // (nb * nc) + steps[s, 0]
    j = (v // nc) % nb + steps[s, 1]
    k = v % nc + steps[s, 2]
    w0 = 0
    w1 = 0
    w2 = 0
    if i < 0:
        i += shape[0]
        w0 = -1
    elif i >= shape[0]:
        i -= shape[0]
        w0 = 1
    if j < 0:
        j += nb
        w1 = -1
    elif j >= nb:
        j -= nb
        w1 = 1
    if k < 0:
        k += nc
        w2 = -1
    elif k >= nc:
        k -= nc
        w2 = 1
    return (i * nb + j) * nc + k, w0, w1, w2


@njit(cache=True)
def _basin_images(label, is_root, shape, steps):
    n = label.shape[0]
    img = np.zeros((n, 3), dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n, dtype=np.int64)
    for pass_ in range(2):
        for start in range(n):
            if seen[start] or label[start] < 0:
                continue
            if pass_ == 0 and not is_root[start]:
                continue
            seen[start] = True
            head = 0
            tail = 1
            queue[0] = start
            while head < tail:
                x = queue[head]
                head += 1
                for s in range(steps.shape[0]):
                    y, w0, w1, w2 = _step(x, s, shape, steps)
                    if seen[y] or label[y] != label[x]:
                        continue
                    seen[y] = True
                    img[y, 0] = img[x, 0] + w0
                    img[y, 1] = img[x, 1] + w1
                    img[y, 2] = img[x, 2] + w2
                    queue[tail] = y
                    tail += 1
    return img


def basin_images(site_label: np.ndarray, site_nodes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Periodic image of every node relative to its site's minimum node.

    The breadth-first search of :mod:`ionnet.core.sites` (same roots, same
    stencil order), so crossing images match the site graph's ``images``.

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


@njit(cache=True)
def _crossings(label, img, shape, steps):
    n = label.shape[0]
    cap = 1024
    xs = np.empty(cap, dtype=np.int64)
    ys = np.empty(cap, dtype=np.int64)
    ss = np.empty(cap, dtype=np.int64)
    ims = np.empty((cap, 3), dtype=np.int64)
    m = 0
    for x in range(n):
        if label[x] < 0:
            continue
        for s in range(steps.shape[0]):
            y, w0, w1, w2 = _step(x, s, shape, steps)
            if label[y] < 0:
                continue
            i0 = img[x, 0] + w0 - img[y, 0]
            i1 = img[x, 1] + w1 - img[y, 1]
            i2 = img[x, 2] + w2 - img[y, 2]
            if label[x] == label[y] and i0 == 0 and i1 == 0 and i2 == 0:
                continue
            if m == cap:
                cap *= 2
                t = np.empty(cap, dtype=np.int64)
                t[:m] = xs[:m]
                xs = t
                t = np.empty(cap, dtype=np.int64)
                t[:m] = ys[:m]
                ys = t
                t = np.empty(cap, dtype=np.int64)
                t[:m] = ss[:m]
                ss = t
                t2 = np.empty((cap, 3), dtype=np.int64)
                t2[:m] = ims[:m]
                ims = t2
            xs[m] = x
            ys[m] = y
            ss[m] = s
            ims[m, 0] = i0
            ims[m, 1] = i1
            ims[m, 2] = i2
            m += 1
    return xs[:m], ys[:m], ss[:m], ims[:m]


def basin_crossings(site_label: np.ndarray, img: np.ndarray, steps: np.ndarray):
    """Every grid step from one site's basin into another site's (or its own image's).

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


@njit(cache=True)
def _descent(start, label, img, energies, shape, steps, step_len):
    n = energies.shape[0]
    path = np.empty(n, dtype=np.int64)
    path[0] = start
    m = 1
    cur = start
    while m < n:
        best = -1
        best_slope = 0.0
        for s in range(steps.shape[0]):
            y, w0, w1, w2 = _step(cur, s, shape, steps)
            if label[y] != label[cur]:
                continue
            if img[cur, 0] + w0 != img[y, 0] or img[cur, 1] + w1 != img[y, 1] or img[cur, 2] + w2 != img[y, 2]:
                continue
            slope = (energies[y] - energies[cur]) / step_len[s]
            if slope < best_slope:
                best_slope = slope
                best = y
        if best < 0:
            break
        path[m] = best
        m += 1
        cur = best
    return path[:m]


def descent_path(start, site_label, img, energies, steps, step_len) -> np.ndarray:
    """Steepest-descent node path from ``start`` inside its basin (stops at a local minimum).

    Each step goes to the neighbour (same basin, same periodic frame) with the
    most negative energy change per Å.
    """
    shape = np.asarray(site_label.shape, dtype=np.int64)
    return _descent(
        int(start), np.ascontiguousarray(site_label, dtype=np.int64).ravel(), img,
        np.ascontiguousarray(energies, dtype=np.float64).ravel(), shape,
        np.ascontiguousarray(steps, dtype=np.int64), np.asarray(step_len, dtype=np.float64),
    )


@njit(cache=True)
def _basin_dijkstra(start, goal, label, img, energies, shape, steps, step_len):
    """Lowest-maximum path (ties: shortest) from start to goal inside one basin frame."""
    n = energies.shape[0]
    best_max = np.full(n, np.inf)
    best_len = np.full(n, np.inf)
    prev = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    heap = [(energies[start], 0.0, start)]
    best_max[start] = energies[start]
    best_len[start] = 0.0
    while len(heap) > 0:
        bm, bl, x = heapq.heappop(heap)
        if done[x]:
            continue
        done[x] = True
        if x == goal:
            break
        for s in range(steps.shape[0]):
            y, w0, w1, w2 = _step(x, s, shape, steps)
            if label[y] != label[x] or done[y]:
                continue
            if img[x, 0] + w0 != img[y, 0] or img[x, 1] + w1 != img[y, 1] or img[x, 2] + w2 != img[y, 2]:
                continue
            nm = max(bm, energies[y])
            nl = bl + step_len[s]
            if nm < best_max[y] or (nm == best_max[y] and nl < best_len[y]):
                best_max[y] = nm
                best_len[y] = nl
                prev[y] = x
                heapq.heappush(heap, (nm, nl, y))
    out = np.empty(n, dtype=np.int64)
    m = 0
    x = goal
    while x >= 0 and m < n:
        out[m] = x
        m += 1
        if x == start:
            break
        x = prev[x]
    return out[:m][::-1]


def basin_path(start, site_label, img, energies, steps, step_len, site_nodes) -> np.ndarray:
    """Node path from ``start`` down to its site's minimum node, in the basin's periodic frame.

    Steepest descent first; if that stops at a local minimum that is not the
    site's (a shallow basin merged by ``min_depth``), the rest is the
    lowest-maximum path to the site minimum.
    """
    lab = np.ascontiguousarray(site_label, dtype=np.int64).ravel()
    e = np.ascontiguousarray(energies, dtype=np.float64).ravel()
    shape = np.asarray(site_label.shape, dtype=np.int64)
    st = np.ascontiguousarray(steps, dtype=np.int64)
    sl = np.asarray(step_len, dtype=np.float64)
    goal = int(site_nodes[lab[int(start)]])
    p = _descent(int(start), lab, img, e, shape, st, sl)
    if p[-1] != goal:
        rest = _basin_dijkstra(int(p[-1]), goal, lab, img, e, shape, st, sl)
        p = np.concatenate([p, rest[1:]])
    return p
