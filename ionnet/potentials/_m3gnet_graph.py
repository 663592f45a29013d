"""Crystal graphs of framework + probe, built once per framework (numba kernels, numpy only).

matgl 1.x lists the bonds of a structure with pymatgen's
``find_points_in_spheres`` (a linked cell list), and M3GNet's three-body term as
trained depends, at the 1e-4 eV level, on the order of that list (see
:mod:`ionnet.potentials._m3gnet_torch`).  When a probe ion moves through a
frozen framework, the framework-framework bonds are the same at every node; only
the probe's own bonds and the *order* of the list change.  :class:`FrameworkGraph`
therefore finds the framework bonds once, and for each probe position adds the
probe's bonds and reproduces pymatgen's order exactly:

* pymatgen expands the cell into periodic images, image by image
  (``i, j, k`` ascending) and atom by atom, and bins the image points into cubes
  of edge ``r`` anchored at ``valid_min`` (the lowest Cartesian coordinate of all
  atoms minus ``r + tol``);
* for each centre atom it visits the 27 neighbouring cubes in lexicographic
  order of their offset, and within a cube the points in *reverse* insertion
  order (a linked list built by prepending).

So the bonds of centre ``c`` are sorted by ``(slot, -rank)``: ``slot`` is the
offset of the neighbour's cube from the centre's cube (0..26) and ``rank`` the
position of the neighbour's image point in the expansion.  Only ``valid_min``
depends on the probe, and only when the probe lies below every framework atom
along some axis; then the framework bonds are re-sorted.  Every floating-point
step that decides a cube or a bond is done in pymatgen's own order of
operations, so the list is identical to pymatgen's (checked against it in the
tests), not just equivalent.

The three-body triples are enumerated per graph as matgl 1.x does, quirks
included (:func:`triples`, in :mod:`._m3gnet_kernels`).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ._m3gnet_kernels import (  # noqa: F401  (re-exported: the triples and kernels live there)
    _triples,
    add_gathered,
    assemble_basis_w,
    framework_triple_rows,
    gather_add,
    scatter_add_rows,
    scatter_gather_mul_add,
    triples,
)

__all__ = ["FrameworkGraph", "triples"]

_TOL = 1e-8


# --------------------------------------------------------------------------- pymatgen arithmetic
@njit(cache=True)
def _pmg_inv(m):
    """3x3 inverse with pymatgen's ``matrix_inv`` operation order (cofactors times 1/det)."""
    m00, m01, m02 = m[0, 0], m[0, 1], m[0, 2]
    m10, m11, m12 = m[1, 0], m[1, 1], m[1, 2]
    m20, m21, m22 = m[2, 0], m[2, 1], m[2, 2]
    inv_det = 1.0 / (m00 * (m11 * m22 - m12 * m21) + m01 * (m12 * m20 - m10 * m22) + m02 * (m10 * m21 - m11 * m20))
    inv = np.empty((3, 3))
    inv[0, 0] = (m11 * m22 - m12 * m21) * inv_det
    inv[0, 1] = (m02 * m21 - m01 * m22) * inv_det
    inv[0, 2] = (m01 * m12 - m02 * m11) * inv_det
    inv[1, 0] = (m12 * m20 - m10 * m22) * inv_det
    inv[1, 1] = (m00 * m22 - m02 * m20) * inv_det
    inv[1, 2] = (m02 * m10 - m00 * m12) * inv_det
    inv[2, 0] = (m10 * m21 - m11 * m20) * inv_det
    inv[2, 1] = (m01 * m20 - m00 * m21) * inv_det
    inv[2, 2] = (m00 * m11 - m01 * m10) * inv_det
    return inv


@njit(cache=True)
def _pmg_row(x, m, out):
    """``out = x @ m`` for one row, summed in pymatgen's ``matmul`` order."""
    for j in range(3):
        out[j] = x[0] * m[0, j] + x[1] * m[1, j] + x[2] * m[2, j]


@njit(cache=True)
def _wrap_atom(cart, lattice, inv, cic, corr):
    """pymatgen's periodic wrapping of one atom: coordinates in the cell and the lattice shift removed."""
    f = np.empty(3)
    _pmg_row(cart, inv, f)
    w = np.empty(3)
    for d in range(3):
        w[d] = f[d] - math.floor(f[d])
        corr[d] = f[d] - w[d]
    _pmg_row(w, lattice, cic)


@njit(cache=True)
def _image_point(i, j, k, lattice, cic, out):
    for d in range(3):
        out[d] = float(i) * lattice[0, d] + float(j) * lattice[1, d] + float(k) * lattice[2, d] + cic[d]


@njit(cache=True)
def _dist2(x, c):
    s = 0.0
    for d in range(3):
        s += (x[d] - c[d]) * (x[d] - c[d])
    return s


@njit(cache=True)
def _cube(x, vmin, ledge):
    return math.floor((x - vmin + 1e-8) / ledge)


@njit(cache=True)
def _slot(x, c, vmin, ledge):
    s = 0
    for d in range(3):
        s = s * 3 + (_cube(x[d], vmin[d], ledge) - _cube(c[d], vmin[d], ledge) + 1)
    return s


# --------------------------------------------------------------------------- framework bonds
@njit(cache=True)
def _wrapped_atoms(cart, lattice, inv):
    """Each atom wrapped into the cell (``cic``) and the correction that wrapping applied (``corr``)."""
    n = cart.shape[0]
    cic = np.empty((n, 3))
    corr = np.empty((n, 3))
    for a in range(n):
        _wrap_atom(cart[a], lattice, inv, cic[a], corr[a])
    return cic, corr


@njit(cache=True)
def _framework_bonds(cart, lattice, inv, r, lo, hi, n_slots_atom):
    """All framework-framework bonds, unsorted, with what is needed to sort them later."""
    n = cart.shape[0]
    cic, corr = _wrapped_atoms(cart, lattice, inv)
    ni = hi[0] - lo[0]
    nj = hi[1] - lo[1]
    nk = hi[2] - lo[2]
    r2 = r * r
    cap = 1024
    c_out = np.empty(cap, np.int64)
    a_out = np.empty(cap, np.int64)
    rank_out = np.empty(cap, np.int64)
    x_out = np.empty((cap, 3))
    img_out = np.empty((cap, 3))
    d_out = np.empty(cap)
    count = 0
    x = np.empty(3)
    for i in range(lo[0], hi[0]):
        for j in range(lo[1], hi[1]):
            for k in range(lo[2], hi[2]):
                for a in range(n):
                    _image_point(i, j, k, lattice, cic[a], x)
                    rank = (((i - lo[0]) * nj + (j - lo[1])) * nk + (k - lo[2])) * n_slots_atom + a
                    for c in range(n):
                        d2 = _dist2(x, cart[c])
                        if not d2 < r2 + _TOL:
                            continue
                        if a == c and math.sqrt(d2) <= 1e-8:
                            continue  # the atom itself (matgl drops self pairs)
                        if count == cap:
                            cap *= 2
                            c_out = _grow_i(c_out, cap)
                            a_out = _grow_i(a_out, cap)
                            rank_out = _grow_i(rank_out, cap)
                            x_out = _grow_f(x_out, cap)
                            img_out = _grow_f(img_out, cap)
                            d_out = _grow_d(d_out, cap)
                        c_out[count] = c
                        a_out[count] = a
                        rank_out[count] = rank
                        x_out[count] = x
                        img_out[count, 0] = i - corr[a, 0]
                        img_out[count, 1] = j - corr[a, 1]
                        img_out[count, 2] = k - corr[a, 2]
                        d_out[count] = math.sqrt(d2)
                        count += 1
    return c_out[:count], a_out[:count], rank_out[:count], x_out[:count], img_out[:count], d_out[:count], ni * nj * nk


@njit(cache=True)
def _grow_i(a, cap):
    out = np.empty(cap, a.dtype)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow_d(a, cap):
    out = np.empty(cap)
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _grow_f(a, cap):
    out = np.empty((cap, 3))
    out[: a.shape[0]] = a
    return out


@njit(cache=True)
def _slots(center, x, cart, vmin, ledge):
    """Cube offset (0..26) of every bond's neighbour point from its centre, for the anchor ``vmin``."""
    m = center.shape[0]
    out = np.empty(m, np.int64)
    for b in range(m):
        out[b] = _slot(x[b], cart[center[b]], vmin, ledge)
    return out


@njit(cache=True)
def _order_by_slot(slot, cstart, order):
    """Stable counting sort of each centre's bonds (already in ``-rank`` order) by slot; writes ``order``."""
    count = np.empty(28, np.int64)
    for c in range(cstart.shape[0] - 1):
        count[:] = 0
        for b in range(cstart[c], cstart[c + 1]):
            count[slot[b] + 1] += 1
        for q in range(27):
            count[q + 1] += count[q]
        for b in range(cstart[c], cstart[c + 1]):
            order[cstart[c] + count[slot[b]]] = b
            count[slot[b]] += 1


@njit(cache=True)
def _probe_bonds(pc, cart, lattice, inv, r, lo, nj, nk, n_slots_atom, pt_x, pt_a, pt_rank, pt_img, flo, fhi,
                 out_c, out_a, out_rank, out_x, out_img, out_d):
    """Bonds that involve the probe (atom ``n``), unsorted: probe -> framework or probe image, framework -> probe image.

    Writes into the ``out_*`` buffers and returns the count.
    """
    n = cart.shape[0]
    r2 = r * r
    count = 0
    for q in range(pt_x.shape[0]):  # framework image points around the probe
        d2 = _dist2(pt_x[q], pc)
        if d2 < r2 + _TOL:
            out_d[count] = math.sqrt(d2)
            out_c[count] = n
            out_a[count] = pt_a[q]
            out_rank[count] = pt_rank[q]
            for d in range(3):
                out_x[count, d] = pt_x[q, d]
                out_img[count, d] = pt_img[q, d]
            count += 1
    cic = np.empty(3)
    corr = np.empty(3)
    _wrap_atom(pc, lattice, inv, cic, corr)
    w = np.empty(3)
    _pmg_row(cic, inv, w)  # about the wrapped fractional position: bounds the probe images visited
    ilo = np.empty(3, np.int64)
    ihi = np.empty(3, np.int64)
    for d in range(3):
        ilo[d] = math.floor(flo[d] - w[d]) - 1
        ihi[d] = math.ceil(fhi[d] - w[d]) + 1
    x = np.empty(3)
    for i in range(ilo[0], ihi[0] + 1):
        for j in range(ilo[1], ihi[1] + 1):
            for k in range(ilo[2], ihi[2] + 1):
                _image_point(i, j, k, lattice, cic, x)
                rank = (((i - lo[0]) * nj + (j - lo[1])) * nk + (k - lo[2])) * n_slots_atom + n
                for c in range(n + 1):
                    if c < n:
                        d2 = _dist2(x, cart[c])
                    else:
                        d2 = _dist2(x, pc)
                    if not d2 < r2 + _TOL:
                        continue
                    if c == n and math.sqrt(d2) <= 1e-8:
                        continue  # the probe itself
                    out_c[count] = c
                    out_a[count] = n
                    out_rank[count] = rank
                    for d in range(3):
                        out_x[count, d] = x[d]
                    out_img[count, 0] = i - corr[0]
                    out_img[count, 1] = j - corr[1]
                    out_img[count, 2] = k - corr[2]
                    out_d[count] = math.sqrt(d2)
                    count += 1
    return count


@njit(cache=True)
def _batch_bonds(pcs, cart, lattice, inv, r, lo, hi, n_slots_atom, cmin, fw_c, fw_a, fw_rank, fw_x, fw_img, fw_d,
                 cstart, fw_order, fw_slot, pt_x, pt_a, pt_rank, pt_img, flo, fhi, cap):
    """Sorted bond lists of framework + probe for each probe position (Cartesian ``pcs``, (B, 3) Å).

    Framework bonds come grouped by centre in ``-rank`` order (``cstart``: first bond of
    each centre); ``fw_order`` is their pymatgen order when ``valid_min`` is the
    framework's own.  Returns global ``src``, ``dst`` (n + 1 atoms per graph), image
    shifts, framework-bond id (-1: probe bond), the first bond of each graph and the
    bond lengths as pymatgen computes them (float64, Å).
    """
    n = cart.shape[0]
    nb = pcs.shape[0]
    nf = fw_c.shape[0]
    nj = hi[1] - lo[1]
    nk = hi[2] - lo[2]
    n_rank = (hi[0] - lo[0]) * nj * nk * n_slots_atom
    # probe bonds of all graphs, graph after graph (pstart), computed in a scratch buffer of size cap
    sc_c = np.empty(cap, np.int64)
    sc_a = np.empty(cap, np.int64)
    sc_rank = np.empty(cap, np.int64)
    sc_x = np.empty((cap, 3))
    sc_img = np.empty((cap, 3))
    sc_d = np.empty(cap)
    size = nb * 128
    pb_c = np.empty(size, np.int64)
    pb_a = np.empty(size, np.int64)
    pb_rank = np.empty(size, np.int64)
    pb_x = np.empty((size, 3))
    pb_img = np.empty((size, 3))
    pb_d = np.empty(size)
    pstart = np.zeros(nb + 1, np.int64)
    first = np.zeros(nb + 1, np.int64)
    for g in range(nb):
        m = _probe_bonds(pcs[g], cart, lattice, inv, r, lo, nj, nk, n_slots_atom, pt_x, pt_a, pt_rank, pt_img,
                         flo, fhi, sc_c, sc_a, sc_rank, sc_x, sc_img, sc_d)
        p0 = pstart[g]
        if p0 + m > size:
            size = 2 * (p0 + m)
            pb_c = _grow_i(pb_c, size)
            pb_a = _grow_i(pb_a, size)
            pb_rank = _grow_i(pb_rank, size)
            pb_x = _grow_f(pb_x, size)
            pb_img = _grow_f(pb_img, size)
            pb_d = _grow_d(pb_d, size)
        pb_c[p0:p0 + m] = sc_c[:m]
        pb_a[p0:p0 + m] = sc_a[:m]
        pb_rank[p0:p0 + m] = sc_rank[:m]
        pb_x[p0:p0 + m] = sc_x[:m]
        pb_img[p0:p0 + m] = sc_img[:m]
        pb_d[p0:p0 + m] = sc_d[:m]
        pstart[g + 1] = p0 + m
        first[g + 1] = first[g] + nf + m
    e = first[nb]
    src = np.empty(e, np.int64)
    dst = np.empty(e, np.int64)
    img = np.empty((e, 3))
    fwid = np.empty(e, np.int64)
    dist = np.empty(e)
    vmin = np.empty(3)
    order = np.empty(nf, np.int64)
    for g in range(nb):
        pc = pcs[g]
        moved = False
        for d in range(3):
            lowest = cmin[d] if cmin[d] <= pc[d] else pc[d]
            vmin[d] = lowest - r - _TOL
            if lowest != cmin[d]:
                moved = True
        if moved:
            fslot = _slots(fw_c, fw_x, cart, vmin, r)
            _order_by_slot(fslot, cstart, order)
            forder = order
        else:
            fslot = fw_slot
            forder = fw_order
        m = pstart[g + 1] - pstart[g]
        p0 = pstart[g]
        # probe bonds sorted by (centre, slot, -rank): few, insertion sort
        pkey = np.empty(m, np.int64)
        for b in range(m):
            c = pb_c[p0 + b]
            if c == n:
                sl = _slot(pb_x[p0 + b], pc, vmin, r)
            else:
                sl = _slot(pb_x[p0 + b], cart[c], vmin, r)
            pkey[b] = (c * 27 + sl) * n_rank + (n_rank - 1 - pb_rank[p0 + b])
        porder = np.arange(m)
        for b in range(1, m):
            v = porder[b]
            q = b - 1
            while q >= 0 and pkey[porder[q]] > pkey[v]:
                porder[q + 1] = porder[q]
                q -= 1
            porder[q + 1] = v
        # merge centre by centre: within a centre, (slot, -rank) decides
        off = g * (n + 1)
        t = first[g]
        j = 0
        for c in range(n + 1):
            lo_b = cstart[c] if c < n else nf
            hi_b = cstart[c + 1] if c < n else nf
            i = lo_b
            while i < hi_b or (j < m and pb_c[p0 + porder[j]] == c):
                take_fw = False
                if i < hi_b:
                    if j < m and pb_c[p0 + porder[j]] == c:
                        b = forder[i]
                        fkey = (c * 27 + fslot[b]) * n_rank + (n_rank - 1 - fw_rank[b])
                        take_fw = fkey < pkey[porder[j]]
                    else:
                        take_fw = True
                if take_fw:
                    b = forder[i]
                    src[t] = c + off
                    dst[t] = fw_a[b] + off
                    for d in range(3):
                        img[t, d] = fw_img[b, d]
                    fwid[t] = b
                    dist[t] = fw_d[b]
                    i += 1
                else:
                    b = porder[j]
                    src[t] = c + off
                    dst[t] = pb_a[p0 + b] + off
                    for d in range(3):
                        img[t, d] = pb_img[p0 + b, d]
                    fwid[t] = -1
                    dist[t] = pb_d[p0 + b]
                    j += 1
                t += 1
    return src, dst, img, fwid, first, dist


@njit(cache=True)
def _image_points(cart, lattice, inv, lo, hi, n_slots_atom, fmin, fmax):
    """Image points of the framework atoms whose fractional coordinates lie in [fmin, fmax]."""
    n = cart.shape[0]
    cic, corr = _wrapped_atoms(cart, lattice, inv)
    nj = hi[1] - lo[1]
    nk = hi[2] - lo[2]
    tot = (hi[0] - lo[0]) * nj * nk * n
    xs = np.empty((tot, 3))
    at = np.empty(tot, np.int64)
    rk = np.empty(tot, np.int64)
    im = np.empty((tot, 3))
    f = np.empty(3)
    x = np.empty(3)
    count = 0
    for i in range(lo[0], hi[0]):
        for j in range(lo[1], hi[1]):
            for k in range(lo[2], hi[2]):
                for a in range(n):
                    _image_point(i, j, k, lattice, cic[a], x)
                    _pmg_row(x, inv, f)
                    if f[0] < fmin[0] or f[0] > fmax[0] or f[1] < fmin[1] or f[1] > fmax[1] or f[2] < fmin[2] or f[2] > fmax[2]:
                        continue
                    xs[count] = x
                    at[count] = a
                    rk[count] = (((i - lo[0]) * nj + (j - lo[1])) * nk + (k - lo[2])) * n_slots_atom + a
                    im[count, 0] = i - corr[a, 0]
                    im[count, 1] = j - corr[a, 1]
                    im[count, 2] = k - corr[a, 2]
                    count += 1
    return xs[:count], at[:count], rk[:count], im[:count]


class FrameworkGraph:
    """Bonds of a frozen framework, found once; bonds of framework + probe per position.

    Parameters
    ----------
    cart : (N, 3) ndarray, Å
        Framework atoms, Cartesian, as the structure gives them.
    lattice : (3, 3) ndarray, Å
        Rows a, b, c.
    cutoff : float, Å
        Bond cutoff (M3GNet: 5 Å).

    Notes
    -----
    :meth:`bonds` returns, for a batch of probe positions, exactly the bond list
    (order included) that pymatgen's ``find_points_in_spheres`` gives for the
    structure framework + probe (probe last), self pairs removed: the list
    matgl 1.x's ``Atoms2Graph`` builds.
    """

    def __init__(self, cart: NDArray[np.float64], lattice: NDArray[np.float64], cutoff: float) -> None:
        self.cart = np.array(cart, dtype=np.float64, order="C")  # writable copies: one numba signature
        self.lattice = np.array(lattice, dtype=np.float64, order="C")
        self.cutoff = float(cutoff)
        self.n_atoms = n = len(self.cart)
        self.inv = _pmg_inv(self.lattice)
        # periodic images to expand: pymatgen's range for any probe in the cell, plus a margin
        spacing = 1.0 / np.linalg.norm(np.linalg.inv(self.lattice), axis=0)  # interplanar distances, Å
        max_r = np.ceil((self.cutoff + 0.15) / spacing)
        frac = self.cart @ np.linalg.inv(self.lattice)
        fmin = np.minimum(frac.min(axis=0), 0.0)
        fmax = np.maximum(frac.max(axis=0), 1.0)
        self.lo = (np.floor(fmin - max_r - 1e-8) - 1).astype(np.int64)
        self.hi = (np.ceil(fmax + max_r + 1e-8) + 1).astype(np.int64)
        self.n_slots_atom = n + 1  # the probe is atom N
        c, a, rank, x, img, d, _ = _framework_bonds(self.cart, self.lattice, self.inv, self.cutoff, self.lo, self.hi, n + 1)
        # group by centre, in -rank order (pymatgen's order within one cube)
        grp = np.lexsort((-rank, c))
        self.fw_center, self.fw_atom, self.fw_rank = c[grp], a[grp], rank[grp]
        self.fw_x, self.fw_img = np.ascontiguousarray(x[grp]), np.ascontiguousarray(img[grp])
        self.fw_dist = np.ascontiguousarray(d[grp])  # pymatgen's bond lengths (float64, Å)
        self.cstart = np.searchsorted(self.fw_center, np.arange(n + 1)).astype(np.int64)
        self.cmin = self.cart.min(axis=0)
        vmin = self.cmin - self.cutoff - _TOL
        self.fw_order = np.empty(len(c), np.int64)
        self.fw_slot = _slots(self.fw_center, self.fw_x, self.cart, vmin, self.cutoff)
        _order_by_slot(self.fw_slot, self.cstart, self.fw_order)
        # framework image points within reach of a probe anywhere in the cell (each once)
        margin = (self.cutoff + 1e-6) / spacing  # fractional, along each axis
        self.flo = fmin - margin
        self.fhi = fmax + margin
        self.pt_x, self.pt_atom, self.pt_rank, self.pt_img = _image_points(
            self.cart, self.lattice, self.inv, self.lo, self.hi, n + 1, self.flo, self.fhi
        )
        n_img = int(np.prod(np.ceil(self.fhi - self.flo) + 3))
        self._cap = len(self.pt_x) + (n + 1) * n_img

    @property
    def n_framework_bonds(self) -> int:
        """Bonds between framework atoms (directed, both directions listed)."""
        return len(self.fw_center)

    def bonds(self, probe_frac: NDArray[np.float64], *, probe_cart: NDArray[np.float64] | None = None,
              distances: bool = False):
        """Sorted bond lists of framework + probe for a batch of probe positions.

        Parameters
        ----------
        probe_frac : (B, 3) ndarray, fractional
            Probe positions (the probe is appended as atom N of each graph), in [0, 1).
        probe_cart : (B, 3) ndarray, Å, optional
            The same positions, Cartesian, when the caller needs them computed a
            particular way (pymatgen's ``Site.coords`` multiplies one row at a time,
            which may differ from ``probe_frac @ lattice`` in the last bit).
            Default: ``probe_frac @ lattice``.
        distances : bool, default False
            Also return the bond lengths.

        Returns
        -------
        src, dst : (E,) int64 ndarray
            Bond ``src -> dst``, atoms numbered graph after graph (N + 1 per graph).
        image : (E, 3) float64 ndarray
            Lattice translation of ``dst`` (matgl's ``pbc_offset``).
        fw_bond : (E,) int64 ndarray
            Index of the bond in :attr:`fw_center` & co., -1 for bonds of the probe.
        first : (B + 1,) int64 ndarray
            First bond of each graph.
        dist : (E,) float64 ndarray, Å
            Only with ``distances=True``: bond lengths, bit for bit as pymatgen's
            ``find_points_in_spheres`` returns them.
        """
        if probe_cart is None:
            p = np.ascontiguousarray(probe_frac, dtype=np.float64).reshape(-1, 3)
            probe_cart = np.dot(p, self.lattice)
        pcs = np.ascontiguousarray(probe_cart, dtype=np.float64).reshape(-1, 3)
        out = _batch_bonds(
            pcs, self.cart, self.lattice, self.inv, self.cutoff, self.lo, self.hi, self.n_slots_atom, self.cmin,
            self.fw_center, self.fw_atom, self.fw_rank, self.fw_x, self.fw_img, self.fw_dist, self.cstart,
            self.fw_order, self.fw_slot, self.pt_x, self.pt_atom, self.pt_rank, self.pt_img, self.flo, self.fhi,
            self._cap,
        )
        return out if distances else out[:5]
