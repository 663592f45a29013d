"""The site model of an ordering: the input's site table, the base cell, symmetry orbits and split sites.

A *virtual site* (:class:`VSite`) is a position of the base cell as the
ordering sees it: one CIF site, or several partially occupied positions
closer than the split distance merged into one site that holds at most one
atom.  A :class:`Group` is an orbit of virtual sites with one target
occupancy per element.
"""
from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..structure import element  # noqa: F401 - the scan's element check, re-exported
from ._common import OCC_TOL, SPLIT_OVERFULL

__all__ = ["VSite", "Group", "read_input", "element", "site_table", "is_ordered", "structure_from_rows",
           "base_cell", "orbits", "virtual_sites", "orbit_groups"]

logger = logging.getLogger(__name__)


@dataclass
class VSite:
    """A site of the base cell as the ordering sees it (a split site's positions merged)."""

    members: list            # [(frac (3,), {element: occ}, label, row index)]
    scale: float = 1.0       # < 1 when the input puts more than one atom on a split site

    @property
    def input_occ(self) -> dict[str, float]:
        """Occupancy per element summed over the positions, as in the input."""
        out: dict[str, float] = {}
        for _, d, _, _ in self.members:
            for e, o in d.items():
                out[e] = out.get(e, 0.0) + o
        return out

    @property
    def occ(self) -> dict[str, float]:
        """Occupancy per element the ordering aims at (at most one atom in all)."""
        return {e: o * self.scale for e, o in self.input_occ.items()}


def plain(sym: Any) -> str:
    return getattr(sym, "symbol", None) or getattr(getattr(sym, "element", None), "symbol", None) or str(sym)


def read_input(structure: Any) -> Any:
    from ...io import read_structure

    return read_structure(structure)


def site_table(s) -> tuple[list, dict | None, list[str]]:
    """[(frac, {el: occ}, label)], input oxidation states (or None), notes."""
    rows, notes = [], []
    oxi_sum: dict[str, float] = {}
    oxi_w: dict[str, float] = {}
    has_oxi = True
    for site in s:
        occ: dict[str, float] = {}
        for sp, o in site.species.items():
            e = plain(sp)
            occ[e] = occ.get(e, 0.0) + float(o)
            q = getattr(sp, "oxi_state", None)
            if q is None:
                has_oxi = False
            else:
                oxi_sum[e] = oxi_sum.get(e, 0.0) + float(q) * float(o)
                oxi_w[e] = oxi_w.get(e, 0.0) + float(o)
        tot = sum(occ.values())
        if tot > 1 + OCC_TOL:
            notes.append(f"site {getattr(site, 'label', '?')} has total occupancy {tot:.3f} > 1: scaled to 1")
            occ = {e: o / tot for e, o in occ.items()}
        occ = {e: (1.0 if abs(o - 1) < OCC_TOL else o) for e, o in occ.items() if o > OCC_TOL}
        label = str(getattr(site, "label", "") or site.species_string)
        rows.append((np.asarray(site.frac_coords, dtype=float) % 1.0, occ, label))
    oxi = {e: oxi_sum[e] / oxi_w[e] for e in oxi_sum} if has_oxi and oxi_sum else None
    if oxi is not None and all(abs(v) < 1e-9 for v in oxi.values()):
        oxi = None
    return rows, oxi, notes


def is_ordered(rows) -> bool:
    return all(len(occ) == 1 and next(iter(occ.values())) == 1.0 for _, occ, _ in rows)


def structure_from_rows(lattice, rows):
    from pymatgen.core import Structure

    species = [{e: o for e, o in occ.items()} for _, occ, _ in rows]
    return Structure(lattice, species, [f for f, _, _ in rows], labels=[lab for _, _, lab in rows])


def base_cell(lattice, rows, symprec: float):
    """(base lattice, base rows, 'input' | 'primitive')."""
    s = structure_from_rows(lattice, rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p = s.get_primitive_structure(tolerance=symprec)
    except Exception as e:  # noqa: BLE001 - keep the input cell
        logger.debug("primitive cell not found (%s); using the input cell", e)
        return lattice, rows, "input"
    if len(p) >= len(s) or len(s) % len(p):
        return lattice, rows, "input"
    prow = []
    for site in p:
        occ = {plain(sp): float(o) for sp, o in site.species.items()}
        prow.append((np.asarray(site.frac_coords, dtype=float) % 1.0, occ,
                     str(getattr(site, "label", "") or site.species_string)))
    return p.lattice, prow, "primitive"


def orbits(lattice, rows, symprec: float) -> tuple[list[int], str]:
    """Orbit id of every row (spglib on the disordered structure; fallback: equal occupancies)."""
    n = len(rows)
    try:
        from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

        s = structure_from_rows(lattice, rows)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            eq = SpacegroupAnalyzer(s, symprec=symprec).get_symmetrized_structure().equivalent_indices
        orbit = [-1] * n
        for k, g in enumerate(eq):
            for i in g:
                orbit[i] = k
        if min(orbit) >= 0:
            return orbit, "spglib"
    except Exception as e:  # noqa: BLE001 - spglib can fail on odd cells
        logger.debug("symmetry analysis failed (%s); grouping equal occupancies", e)
    keys: dict = {}
    return [keys.setdefault(tuple(sorted((e, round(o, 3)) for e, o in occ.items())), len(keys))
            for _, occ, _ in rows], "occupancy"


@functools.lru_cache(maxsize=None)
def _cov_radius(el: str) -> float:
    from pymatgen.core import Element

    try:
        from pymatgen.analysis.molecule_structure_comparator import CovalentRadius

        return float(CovalentRadius.radius[el])
    except Exception:  # noqa: BLE001
        r = Element(el).atomic_radius
        return float(r) if r else 1.0


def _conflict(d: float, occ_a: dict, occ_b: dict, split_distance: float) -> bool:
    """Two partially occupied positions at distance ``d`` cannot both hold an atom."""
    if d >= split_distance:
        return False
    if set(occ_a) & set(occ_b):
        return True  # the same element closer than split_distance: a split site
    # different elements: a bond (O-H at 0.9 A) is allowed, an overlap is not
    ra = max(_cov_radius(e) for e in occ_a)
    rb = max(_cov_radius(e) for e in occ_b)
    return d < 0.75 * (ra + rb)


def virtual_sites(lattice, rows, split_distance: float, notes: list) -> list[VSite]:
    """Merge mutually exclusive partially occupied positions into one site each."""
    n = len(rows)
    partial = [i for i, (_, occ, _) in enumerate(rows) if sum(occ.values()) < 1 - OCC_TOL]
    parent = list(range(n))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    adj: dict[int, set] = {i: set() for i in partial}
    if split_distance > 0 and len(partial) > 1:
        frac = np.array([rows[i][0] for i in partial])
        dist = lattice.get_all_distances(frac, frac)
        for a, b in zip(*np.nonzero(np.triu(dist < split_distance, 1))):
            i, j = partial[a], partial[b]
            if _conflict(float(dist[a, b]), rows[i][1], rows[j][1], split_distance):
                adj[i].add(j)
                adj[j].add(i)
                parent[find(i)] = find(j)
    clusters: dict[int, list[int]] = {}
    for i in range(n):
        clusters.setdefault(find(i), []).append(i)
    out, n_capped, n_dropped = [], 0, 0
    for members in clusters.values():
        if len(members) == 1:
            out.append(VSite([(*rows[members[0]], members[0])]))
            continue
        total = sum(sum(rows[i][1].values()) for i in members)
        clique = all(j in adj[i] for i in members for j in members if i != j)
        if total <= 1 + OCC_TOL:
            out.append(VSite(_unwrapped(lattice, rows, members)))
        elif clique or total <= 1 + SPLIT_OVERFULL:
            # the input puts more than one atom on positions that overlap: one atom in all
            n_capped += 1
            out.append(VSite(_unwrapped(lattice, rows, members), scale=1.0 / total))
        else:
            # a long chain of close positions: keep the most occupied ones that do not overlap (greedy)
            keep: list[int] = []
            for i in sorted(members, key=lambda i: (-sum(rows[i][1].values()), i)):
                if all(i not in adj[k] for k in keep):
                    keep.append(i)
                else:
                    n_dropped += 1
                    out.append(VSite([(*rows[i], i)], scale=0.0))   # reported, never filled
            for i in keep:
                out.append(VSite([(*rows[i], i)]))
    if n_capped:
        notes.append(f"{n_capped} split site(s) hold more than one atom in the input: at most one atom placed each")
    if n_dropped:
        notes.append(f"{n_dropped} position(s) overlapping a more occupied one were left empty")
    return out


def _unwrapped(lattice, rows, members) -> list:
    """Members of a merged site as (frac, occ, label, row), each at its periodic image nearest the first."""
    f0 = rows[members[0]][0]
    out = []
    for i in members:
        f, occ, lab = rows[i]
        _, image = lattice.get_distance_and_image(f0, f)
        out.append((np.asarray(f, dtype=float) + np.asarray(image, dtype=float), occ, lab, i))
    return out


@dataclass
class Group:
    """An orbit: virtual sites of the base cell with one target occupancy."""

    sites: list[int]
    target: dict[str, float]     # mean occupancy per element (after split-site capping)
    reported: dict[str, float]   # mean occupancy per element as in the input


def _mean(dicts: list[dict]) -> dict[str, float]:
    tot: dict[str, float] = {}
    for d in dicts:
        for e, o in d.items():
            tot[e] = tot.get(e, 0.0) + o
    n = len(dicts)
    return {e: (1.0 if abs(v / n - 1) < 1e-9 else v / n) for e, v in tot.items()}


def orbit_groups(vs: list[VSite], orbit_of_row) -> list[Group]:
    keys: dict = {}
    for k, v in enumerate(vs):
        orbits = tuple(sorted(orbit_of_row[m[3]] for m in v.members))
        occ = v.occ
        key = (orbits, tuple(sorted((e, round(o, 3)) for e, o in occ.items())))
        keys.setdefault(key, []).append(k)
    out = []
    for members in keys.values():
        out.append(Group(members, _mean([vs[k].occ for k in members]), _mean([vs[k].input_occ for k in members])))
    return out
