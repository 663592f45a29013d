"""CHGNet crystal graphs of framework + probe, built from a framework graph found once.

CHGNet's ``CrystalGraphConverter`` turns every structure into a graph in three
steps, all in Python or Cython per structure (about 40 ms for 25 atoms):

1. pymatgen's ``get_neighbor_list`` (``find_points_in_spheres``, 6 Å) lists the
   directed bonds, sorted by centre atom in pymatgen's cell-list order;
2. ``make_graph`` pairs each directed bond ``i -> j`` (image ``n``) with its
   reverse ``j -> i`` (image ``-n``): the *undirected* bond is numbered when the
   first of the two appears, and maps back to that first directed bond;
3. ``line_graph_adjacency_list`` forms the angles: for every undirected bond no
   longer than 3 Å (the length of its first directed bond), for each of its two
   ends and the directed bond leaving that end, every *other* directed bond of the
   same centre shorter than 3 Å, visited grouped by neighbour atom (in the order
   the neighbours first appear) and in list order within a group.

When a probe moves through a frozen framework, step 1 is
:class:`ionnet.potentials._m3gnet_graph.FrameworkGraph`: framework bonds found once,
the probe's bonds added per position in pymatgen's exact order, with pymatgen's
own bond lengths (they decide the 3 Å test).  The pairing of framework bonds with
their reverses is fixed and computed once; per position only the probe's bonds are
paired, and steps 2 and 3 are one linear pass in numba (:func:`_chgnet_indices`).
The result is the converter's graph, index for index, so CHGNet's forward gives the
same energies bit for bit when fed the same batch.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from ._m3gnet_graph import FrameworkGraph

__all__ = ["CHGNetFrameworkGraph"]


@njit(cache=True)
def _reverse_framework(center, atom, img):
    """Framework bond id of the reverse of each framework bond (-1: none), ``img`` integer images."""
    m = center.shape[0]
    out = np.full(m, -1, np.int64)
    # bonds grouped by centre: search the neighbour's group for (atom -> center, -img)
    n = 0
    for b in range(m):
        n = max(n, center[b] + 1, atom[b] + 1)
    start = np.zeros(n + 1, np.int64)
    for b in range(m):
        start[center[b] + 1] += 1
    for c in range(n):
        start[c + 1] += start[c]
    for b in range(m):
        a = atom[b]
        for q in range(start[a], start[a + 1]):
            if atom[q] == center[b] and img[q, 0] == -img[b, 0] and img[q, 1] == -img[b, 1] and img[q, 2] == -img[b, 2]:
                out[b] = q
                break
    return out


@njit(cache=True)
def _chgnet_indices(src, dst, img, dist, fwid, first, n1, fw_rev, n_fw, cutoff):
    """CHGNet's undirected bonds and angles for a batch of graphs (see the module docstring).

    ``src``/``dst`` are global atom ids (``n1`` atoms per graph), ``img`` (E, 3) integer
    images, ``dist`` pymatgen's lengths, ``fwid`` the framework bond id of each bond
    (-1 for the probe's), ``fw_rev`` the reverse of each framework bond.

    Returns ``d2u`` (E,) local undirected id of each directed bond, ``u2d`` (U,) local
    first directed bond of each undirected bond, ``ufirst`` (G + 1,), ``angles``
    (A, 5) local ``[centre, u1, d1, u2, d2]`` rows, ``afirst`` (G + 1,) and ``ok`` (G,):
    False where the converter would stop (a bond without its reverse, an isolated atom).
    """
    n_graphs = first.shape[0] - 1
    e_all = src.shape[0]
    rev = np.full(e_all, -1, np.int64)
    d2u = np.empty(e_all, np.int64)
    u2d = np.empty(e_all, np.int64)
    ufirst = np.zeros(n_graphs + 1, np.int64)
    afirst = np.zeros(n_graphs + 1, np.int64)
    ok = np.ones(n_graphs, np.bool_)
    pos = np.full(n_fw, -1, np.int64)
    cap = 1024
    angles = np.empty((cap, 5), np.int64)
    na = 0
    nu_all = 0
    cstart = np.empty(n1 + 1, np.int64)
    group = np.full(n1, -1, np.int64)
    gcount = np.empty(n1 + 1, np.int64)
    for g in range(n_graphs):
        e0 = first[g]
        e1 = first[g + 1]
        off = g * n1
        # reverse bonds: framework ones from the table, the probe's among themselves
        for t in range(e0, e1):
            if fwid[t] >= 0:
                pos[fwid[t]] = t
        for t in range(e0, e1):
            b = fwid[t]
            if b >= 0:
                if fw_rev[b] >= 0:
                    rev[t] = pos[fw_rev[b]]
            elif rev[t] < 0:
                for q in range(t + 1, e1):
                    if (fwid[q] < 0 and src[q] == dst[t] and dst[q] == src[t] and img[q, 0] == -img[t, 0]
                            and img[q, 1] == -img[t, 1] and img[q, 2] == -img[t, 2]):
                        rev[t] = q
                        rev[q] = t
                        break
        for t in range(e0, e1):
            if fwid[t] >= 0:
                pos[fwid[t]] = -1
        # undirected bonds, numbered when the first of the pair appears
        nu = 0
        for t in range(e0, e1):
            r = rev[t]
            if r < 0:
                ok[g] = False
            if 0 <= r < t:
                d2u[t] = d2u[r]
            else:
                d2u[t] = nu
                u2d[nu_all + nu] = t - e0
                nu += 1
        # bonds of each centre (sorted by centre), visited grouped by neighbour in order of first appearance
        for c in range(n1 + 1):
            cstart[c] = e0
        q = e0
        for c in range(n1):
            cstart[c] = q
            while q < e1 and src[q] - off == c:
                q += 1
            if q == cstart[c]:
                ok[g] = False  # isolated atom
        cstart[n1] = e1
        order = np.empty(e1 - e0, np.int64)  # local ids of the short bonds in visiting order, per centre
        sstart = np.empty(n1 + 1, np.int64)
        k = 0
        for c in range(n1):
            sstart[c] = k
            ng = 0
            for t in range(cstart[c], cstart[c + 1]):
                a = dst[t] - off
                if group[a] < 0:
                    group[a] = ng
                    ng += 1
            for x in range(ng + 1):
                gcount[x] = 0
            for t in range(cstart[c], cstart[c + 1]):
                if dist[t] < cutoff:
                    gcount[group[dst[t] - off] + 1] += 1
            for x in range(ng):
                gcount[x + 1] += gcount[x]
            for t in range(cstart[c], cstart[c + 1]):
                if dist[t] < cutoff:
                    grp = group[dst[t] - off]
                    order[k + gcount[grp]] = t - e0
                    gcount[grp] += 1
            for t in range(cstart[c], cstart[c + 1]):
                if dist[t] < cutoff:
                    k += 1
                group[dst[t] - off] = -1
        sstart[n1] = k
        # angles
        for u in range(nu):
            d1 = u2d[nu_all + u] + e0
            if dist[d1] > cutoff:
                continue
            d2 = rev[d1]
            if d2 < 0:
                ok[g] = False
                continue
            for side in range(2):
                de = d1 if side == 0 else d2
                c = src[de] - off
                for x in range(sstart[c], sstart[c + 1]):
                    e = order[x]
                    if e == de - e0:
                        continue
                    if na == cap:
                        cap *= 2
                        grown = np.empty((cap, 5), np.int64)
                        grown[:na] = angles[:na]
                        angles = grown
                    angles[na, 0] = c
                    angles[na, 1] = u
                    angles[na, 2] = de - e0
                    angles[na, 3] = d2u[e + e0]
                    angles[na, 4] = e
                    na += 1
        nu_all += nu
        ufirst[g + 1] = nu_all
        afirst[g + 1] = na
    return d2u, u2d[:nu_all], ufirst, angles[:na], afirst, ok


class CHGNetFrameworkGraph:
    """CHGNet graphs of a frozen framework + one probe atom, the framework part built once.

    Parameters
    ----------
    framework : pymatgen Structure
        The frozen atoms (probe excluded); ordered.
    ion : str
        The probe's element.
    atom_cutoff, bond_cutoff : float, Å
        CHGNet's ``atom_graph_cutoff`` (6) and ``bond_graph_cutoff`` (3).

    Notes
    -----
    :meth:`graphs` returns, for each probe position, the ``CrystalGraph`` that
    ``CrystalGraphConverter`` gives for ``framework + ion`` (the probe appended last at
    the position given), index for index: same directed bonds in pymatgen's order,
    same undirected numbering, same angle list.  Positions must lie in [0, 1).
    """

    def __init__(self, framework: Any, ion: str, atom_cutoff: float, bond_cutoff: float) -> None:
        import torch
        from pymatgen.core import Element

        self.lattice = np.array(framework.lattice.matrix, dtype=np.float64)
        self.cart = np.ascontiguousarray(framework.cart_coords, dtype=np.float64)  # per site, as the converter
        self.frac = np.array(framework.frac_coords, dtype=np.float64)
        self.n_atoms = len(self.frac)
        self.atom_cutoff = float(atom_cutoff)
        self.bond_cutoff = float(bond_cutoff)
        self.graph = FrameworkGraph(self.cart, self.lattice, self.atom_cutoff)
        g = self.graph
        self.fw_rev = _reverse_framework(g.fw_center, g.fw_atom, g.fw_img.astype(np.int64))
        z = [site.specie.Z for site in framework] + [Element(ion).Z]
        self.atomic_number = torch.tensor(z, dtype=torch.int32)
        self.lattice_t = torch.tensor(self.lattice, dtype=torch.float32)
        comp = framework.composition + {ion: 1}
        self.composition = comp.formula

    def graphs(self, probe_frac: NDArray[np.float64]) -> tuple[list, NDArray[np.bool_]]:
        """CHGNet ``CrystalGraph`` of framework + probe at each position.

        Parameters
        ----------
        probe_frac : (B, 3) ndarray, fractional, in [0, 1)

        Returns
        -------
        graphs : list of B ``chgnet.graph.CrystalGraph`` (None where ``ok`` is False)
        ok : (B,) bool ndarray
            False for positions where CHGNet's converter would stop or warn (a bond
            without its reverse, an isolated atom): build those with the converter.
        """
        import torch
        from chgnet.graph.crystalgraph import CrystalGraph

        p = np.ascontiguousarray(probe_frac, dtype=np.float64).reshape(-1, 3)
        pcs = np.array([np.dot(row, self.lattice) for row in p])  # as pymatgen's Site.coords
        src, dst, img, fwid, first, dist = self.graph.bonds(p, probe_cart=pcs, distances=True)
        img_i = img.astype(np.int64)  # the converter's cast
        n1 = self.n_atoms + 1
        d2u, u2d, ufirst, angles, afirst, ok = _chgnet_indices(
            src, dst, img_i, dist, fwid, first, n1, self.fw_rev, len(self.fw_rev), self.bond_cutoff
        )
        local = np.repeat(np.arange(len(p), dtype=np.int64) * n1, np.diff(first))
        atom_graph = np.stack([src - local, dst - local], axis=1).astype(np.int32)
        img32 = torch.from_numpy(img.astype(np.float32))
        ag = torch.from_numpy(atom_graph)
        d2u_t = torch.from_numpy(d2u.astype(np.int32))
        u2d_t = torch.from_numpy(u2d.astype(np.int32))
        ang_t = torch.from_numpy(angles.astype(np.int32))
        frac = np.empty((n1, 3))
        frac[:-1] = self.frac
        out = []
        for g in range(len(p)):
            if not ok[g]:
                out.append(None)
                continue
            frac[-1] = p[g]
            e = slice(first[g], first[g + 1])
            a = slice(afirst[g], afirst[g + 1])
            bond_graph = ang_t[a] if afirst[g + 1] > afirst[g] else torch.tensor([], dtype=torch.int32)
            out.append(CrystalGraph(
                atomic_number=self.atomic_number,
                atom_frac_coord=torch.tensor(frac, dtype=torch.float32),
                atom_graph=ag[e],
                neighbor_image=img32[e],
                directed2undirected=d2u_t[e],
                undirected2directed=u2d_t[ufirst[g]:ufirst[g + 1]],
                bond_graph=bond_graph,
                lattice=self.lattice_t,
                atom_graph_cutoff=self.atom_cutoff,
                bond_graph_cutoff=self.bond_cutoff,
                composition=self.composition,
            ))
        return out, ok
