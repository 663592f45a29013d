"""Exact percolation sweep on a periodic grid graph (numba kernel, no I/O).

Nodes are activated in order of increasing energy.  When a node is activated it
is joined (union-find) to every already-active neighbour; the edge between two
nodes therefore enters at the higher of their two energies, which is the edge
weight of the method.  The union-find stores, for each node, the periodic
image (integer cell offset) of that node relative to its root, so a union that
closes a cycle reveals the cycle's *winding vector*: non-zero means the
component wraps around the periodic cell along that vector.  Each component
keeps an integer basis of its winding vectors; its rank (0..3) is the number
of independent directions along which it percolates.

One pass gives, exactly:

* the level map (minimax / bottleneck distance from the source): a node's
  level is the energy at which its component merges into the source's;
* the percolation thresholds of the source's component along 1, 2, 3
  independent directions, with the winding vectors;
* the same thresholds for *any* component (the bond-valence convention).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from .periodic import add_winding, record_rank, uf_find, union_roots

__all__ = ["stencil", "sweep"]

PREFETCH = 16  # nodes ahead whose union-find rows are prefetched
BASIN_MIN_NODES = 10  # mean basin size below which sweep(method="auto") runs on the nodes


def stencil(connectivity: int) -> np.ndarray:
    """Neighbour offsets ``(K, 3)`` for 6-, 18- or 26-connectivity (both signs)."""
    d = np.array(
        [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1) if (i, j, k) != (0, 0, 0)],
        dtype=np.int64,
    )
    l1 = np.abs(d).sum(axis=1)
    if connectivity == 6:
        return d[l1 == 1]
    if connectivity == 18:
        return d[l1 <= 2]
    if connectivity == 26:
        return d
    raise ValueError(f"`connectivity` must be 6, 18 or 26 (got {connectivity!r})")


@intrinsic
def _prefetch_row(typingctx, arr, idx):
    """Hint the CPU to load row ``idx`` of a C-contiguous array (``llvm.prefetch``; no effect on results)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        i = context.cast(builder, args[1], signature.args[1], types.intp)
        zero = ir.Constant(ir.IntType(64), 0)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [i] + [zero] * (aryty.ndim - 1), wraparound=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # read, high locality, data
        return context.get_dummy_value()

    return sig, codegen


@njit(cache=True)
def _sweep(e_sorted, shape, order, n_active, steps, periodic, src_sorted, adjm):
    na = shape[0]
    nb = shape[1]
    nc = shape[2]
    n = na * nb * nc
    nsteps = steps.shape[0]
    # Node state is stored in 4x4x4 blocks (64 consecutive rows per block) rather than
    # row-major: a node's neighbours then mostly share its memory pages, which the
    # union-find's scattered accesses need (the processing order is unchanged).
    nbb = (nb + 3) // 4
    ncb = (nc + 3) // 4
    ntot = ((na + 3) // 4) * nbb * ncb * 64

    # one 16-byte row per node, so that a union-find step touches one cache line:
    #   child: (parent, image offset a, b, c relative to the parent)
    #   root:  (itself, size, holds a source node (0/1), rank of its winding basis)
    # A node not active yet is a root of size 0, so the row read by the union-find
    # also answers "is it active" (no separate array, one cache line less per neighbour).
    po = np.zeros((ntot, 4), dtype=np.int32)
    for i in range(ntot):
        po[i, 0] = i
    size = po[:, 1]
    src = po[:, 2]
    rank = po[:, 3]
    # per node, one 8-byte row: (next member of its component's circular list,
    # processing step at which it joined a source's component, -1: not yet), so
    # painting the level map touches one cache line per node
    nl = np.empty((ntot, 2), dtype=np.int32)
    for i in range(ntot):
        nl[i, 0] = i
        nl[i, 1] = -1
    basis = np.zeros((ntot, 3, 3), dtype=np.int32)

    nbr = np.zeros((nsteps, 4), dtype=np.int64)  # per stencil step: neighbour row, image shift
    # processing step of each node in the block layout (n_active: never active), so that
    # "is this neighbour active" reads 4 bytes instead of a 16-byte union-find row
    # (only with 18/26 neighbours, where most of them are skipped; with 6 every active one is read anyway)
    use_step = False
    for s in range(nsteps):
        if adjm[s] != 0:
            use_step = True
    stepb = np.full(ntot if use_step else 1, n_active, dtype=np.int32)
    for t in range(n_active if use_step else 0):
        vf = order[t]
        vi = vf // (nb * nc)
        vj = (vf // nc) % nb
        vk = vf % nc
        stepb[(((vi >> 2) * nbb + (vj >> 2)) * ncb + (vk >> 2)) * 64 + (((vi & 3) << 4) | ((vj & 3) << 2) | (vk & 3))] = t

    thr_src = np.full(3, np.inf)
    thr_any = np.full(3, np.inf)
    dir_src = np.zeros((3, 3, 3), dtype=np.int64)
    dir_any = np.zeros((3, 3, 3), dtype=np.int64)
    any_rank = 0
    src_rank = 0

    for t in range(n_active):
        # the processing order is known: start loading the rows of the node PREFETCH
        # steps ahead, whose position in the grid is unrelated to this one's
        if t + PREFETCH < n_active:
            pf = order[t + PREFETCH]
            pi = pf // (nb * nc)
            pj = (pf // nc) % nb
            pk = pf % nc
            pw = (((pi >> 2) * nbb + (pj >> 2)) * ncb + (pk >> 2)) * 64 + (((pi & 3) << 4) | ((pj & 3) << 2) | (pk & 3))
            _prefetch_row(po, pw)
            _prefetch_row(nl, pw)
            if use_step:
                _prefetch_row(stepb, pw)
        vf = order[t]
        ev = e_sorted[t]
        vi = vf // (nb * nc)
        vj = (vf // nc) % nb
        vk = vf % nc
        v = (((vi >> 2) * nbb + (vj >> 2)) * ncb + (vk >> 2)) * 64 + (((vi & 3) << 4) | ((vj & 3) << 2) | (vk & 3))
        size[v] = 1
        if src_sorted[t]:
            src[v] = 1
            nl[v, 1] = t
        # v is a fresh singleton: its root and its image relative to it are tracked
        # through the unions below instead of being looked up again for each neighbour
        rv = v
        cv0 = 0
        cv1 = 0
        cv2 = 0
        # first the active neighbours: their rows and image shifts, one bit each in amask
        amask = 0
        for s in range(nsteps):
            ui = vi + steps[s, 0]
            uj = vj + steps[s, 1]
            uk = vk + steps[s, 2]
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
            u = (((ui >> 2) * nbb + (uj >> 2)) * ncb + (uk >> 2)) * 64 + (((ui & 3) << 4) | ((uj & 3) << 2) | (uk & 3))
            if use_step:
                if stepb[u] > t:
                    continue  # not active yet (u == v, an axis of one node, is active)
            elif po[u, 0] == u and po[u, 1] == 0:
                continue  # not active yet
            nbr[s, 0] = u
            nbr[s, 1] = s0
            nbr[s, 2] = s1
            nbr[s, 3] = s2
            amask |= np.int64(1) << s
        # Then one edge per local component of the active neighbours (neighbours adjacent to
        # each other in the stencil): the edges between them were processed when the later of
        # the two was activated, so every other edge from v into the same local component
        # closes a cycle of zero net displacement, which changes neither the components nor
        # their winding lattices.  adjm is all zeros when that does not hold (an axis of 1 node).
        rem = amask
        for s in range(nsteps):
            if (rem >> s) & 1 == 0:
                continue
            comp = np.int64(1) << s
            grown = comp | (adjm[s] & amask)
            while grown != comp:
                new = grown & ~comp
                comp = grown
                for q in range(nsteps):
                    if (new >> q) & 1:
                        grown |= adjm[q] & amask
            rem &= ~comp
            u = nbr[s, 0]
            s0 = nbr[s, 1]
            s1 = nbr[s, 2]
            s2 = nbr[s, 3]
            # v sits in cell cv relative to its root rv; its neighbour u is then in cell cv + s
            ru, cu0, cu1, cu2 = uf_find(u, po)
            w0 = cv0 + s0 - cu0
            w1 = cv1 + s1 - cu1
            w2 = cv2 + s2 - cu2
            if rv == ru:
                # closing a cycle: a non-zero winding vector means wrapping around the cell
                if not add_winding(rv, w0, w1, w2, basis, rank):
                    continue
                root = rv
            else:
                # attach the smaller tree, u's image relative to rv at cv + s; nodes joining a
                # source's component for the first time get level step t
                big, small, o0, o1, o2 = union_roots(rv, ru, w0, w1, w2, po, basis, nl[:, 0], nl[:, 1], t)
                if small == rv:  # v's tree moved under ru: shift v's image accordingly
                    cv0 += o0
                    cv1 += o1
                    cv2 += o2
                rv = big
                root = big
            if rank[root] > any_rank:
                any_rank = record_rank(root, rank, basis, thr_any, dir_any, any_rank, ev)
            if src[root] != 0 and rank[root] > src_rank:
                src_rank = record_rank(root, rank, basis, thr_src, dir_src, src_rank, ev)
    out = np.empty(n)
    for i in range(na):
        for j in range(nb):
            for k in range(nc):
                ts = nl[(((i >> 2) * nbb + (j >> 2)) * ncb + (k >> 2)) * 64 + (((i & 3) << 4) | ((j & 3) << 2) | (k & 3)), 1]
                out[(i * nb + j) * nc + k] = e_sorted[ts] if ts >= 0 else np.inf
    return out, thr_src, dir_src, thr_any, dir_any


def sweep(energies: np.ndarray, *, connectivity: int = 6, source=-1, periodic=(True, True, True),
          method: str = "auto"):
    """Run the exact sweep.

    Parameters
    ----------
    energies : (na, nb, nc) ndarray, eV
        Non-finite entries are forbidden nodes.
    connectivity : {6, 18, 26}
    source : int or (na, nb, nc) bool ndarray
        Flat index of the source node (-1: global minimum), or a mask of
        source nodes (equivalent equilibrium positions).
    periodic : 3 bools
        Wrap-around along each axis (False for the open 2x2x2 supercell variant).
    method : {'auto', 'basins', 'nodes'}
        'basins': the union-find runs on descent basins
        (:mod:`ionnet.core.descent`; no sort of the nodes, passes in memory
        order); 'nodes': on the nodes in order of energy (this module's
        kernel).  Both are exact and give identical outputs; 'auto' takes
        'basins' unless the field is so rough that basins hold fewer than
        ``BASIN_MIN_NODES`` nodes on average (noise), where 'nodes' is faster.

    Returns
    -------
    level : (na, nb, nc) ndarray
        Minimax energy from the source (+inf where unreachable).
    thr_src, thr_any : (3,) ndarray
        Percolation thresholds along 1, 2, 3 directions of the source's
        component and of any component.
    dir_src, dir_any : (3, 3, 3) int ndarray
        ``dir[d, :d+1]`` are the winding vectors found at dimensionality ``d+1``.
    """
    from .descent import basin_sweep, descent_basins

    if method not in ("auto", "basins", "nodes"):
        raise ValueError(f"`method` must be 'auto', 'basins' or 'nodes' (got {method!r})")
    e = np.ascontiguousarray(energies, dtype=np.float64)
    steps = stencil(connectivity)
    per = np.asarray(periodic, dtype=np.bool_)
    flat = e.ravel()
    finite = np.isfinite(flat)
    if np.ndim(source) == 0:
        is_source = np.zeros(flat.size, dtype=np.bool_)
        if int(source) >= 0:
            is_source[int(source)] = True
        elif finite.any():
            is_source[int(np.argmin(np.where(finite, flat, np.inf)))] = True
    else:
        is_source = np.ascontiguousarray(source, dtype=np.bool_).ravel()
    basins = None
    if method != "nodes":
        basins = descent_basins(e, steps, per)
        if method == "auto" and basins[1] * BASIN_MIN_NODES > flat.size:
            basins = None
    if basins is not None:
        level, thr_src, dir_src, thr_any, dir_any = basin_sweep(e, steps, is_source, per, basins=basins)
        return level.reshape(e.shape), thr_src, dir_src, thr_any, dir_any
    n_active = int(finite.sum())
    order = np.argsort(np.where(finite, flat, np.inf)).astype(np.int64, copy=False)
    level, thr_src, dir_src, thr_any, dir_any = _sweep(
        flat[order],  # energies and source flags in processing order: read in sequence
        np.asarray(e.shape, dtype=np.int64),
        order,
        n_active,
        steps,
        per,
        is_source[order],
        _adjacency_masks(steps, e.shape),
    )
    return level.reshape(e.shape), thr_src, dir_src, thr_any, dir_any


def _adjacency_masks(steps: np.ndarray, shape) -> np.ndarray:
    """(K,) int64: bit ``q`` of entry ``s`` is set when stencil offsets ``s`` and ``q`` are themselves
    neighbours in the stencil (all zeros when an axis has a single node: a neighbour may then be the
    node itself).

    Examples
    --------
    >>> _adjacency_masks(stencil(6), (4, 4, 4)).tolist()      # the 6 face neighbours never touch each other
    [0, 0, 0, 0, 0, 0]
    >>> bin(_adjacency_masks(stencil(26), (4, 4, 4))[0]).count("1")   # the corner (-1,-1,-1) touches 6
    6
    """
    k = len(steps)
    out = np.zeros(k, dtype=np.int64)
    if min(shape) < 2:
        return out
    offs = {tuple(int(x) for x in d) for d in steps}
    for s in range(k):
        for q in range(k):
            if q != s and tuple(int(x) for x in steps[q] - steps[s]) in offs:
                out[s] |= np.int64(1) << q
    return out
