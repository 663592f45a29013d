"""Exact dilute-limit diffusion tensor of a periodic hopping network (star–mesh elimination).

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

The plan (:func:`~ionnet.core.transport.network.prepare_network`) orders the
sites by minimum degree; the first sites go through a sparse loop over
neighbour and fill lists (all temperatures per merge), and the nearly complete
graph left at the end of the order is eliminated as a dense block
(:func:`_dense_tail`), one temperature at a time in the cache.  Both do the
same merges in the same order per edge.

:func:`corrector_diffusion` solves the same equation with one sparse linear
solve (the textbook route); it agrees with :func:`exact_diffusion` where the
rates are within ~1e8 of each other and is kept as the cross-check.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .network import Network, prepare_network  # noqa: F401 - prepare_network: the examples

__all__ = ["exact_diffusion", "corrector_diffusion"]


# ----------------------------------------------------------------------------- sparse loop
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


# ----------------------------------------------------------------------------- public
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
