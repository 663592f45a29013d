"""Configurations: filling the sites of the supercell for the lowest Ewald energy, or at random.

The kernels work on a *fill*: one column index (species; the last column is
the vacancy) per supercell site.  :func:`ewald_fills` ranks fillings by the
Ewald energy of point charges (pymatgen's ``EwaldMinimizer`` when there are
few orderings, else a steepest-descent swap search with seeded restarts),
:func:`random_fills` draws uniform ones, and :func:`build` turns a fill into a
pymatgen Structure.
"""
from __future__ import annotations

import logging
import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ...errors import StructureError
from . import _common
from ._common import Deadline

__all__ = ["Supercell", "ewald_fills", "random_fills", "build", "plain_structure", "log_n_orderings"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Supercell:
    """The sites of the ordered supercell.

    Attributes
    ----------
    lattice : pymatgen Lattice
        Supercell lattice (Å).
    vsites : list of VSite
        The base cell's virtual sites.
    d : int
        Base cells per supercell.
    matrix : (3, 3) ndarray of int
        Supercell vectors (rows) in units of the base cell vectors.
    inv_m : (3, 3) ndarray
        Inverse of the supercell matrix (base fractional -> supercell fractional).
    points : (d, 3) ndarray
        Base lattice points inside the supercell, supercell fractional coordinates.
    group_sites : list of (n,) int ndarray
        Supercell site indices (``k * d + p``) of each orbit.
    frac : (N, 3) ndarray
        Supercell fractional coordinates of every site (split sites at their centroid).
    """

    lattice: Any
    vsites: list
    d: int
    matrix: NDArray[np.int64]
    inv_m: NDArray[np.float64]
    points: NDArray[np.float64]
    group_sites: list
    frac: NDArray[np.float64]


def log_n_orderings(counts) -> float:
    """log of the number of distinct fillings (product of multinomials)."""
    out = 0.0
    for row in counts:
        n = int(row.sum())
        out += math.lgamma(n + 1) - sum(math.lgamma(int(k) + 1) for k in row)
    return out


def _random_fill(rng, group_sites, counts, n_cols) -> NDArray[np.int64]:
    """Column index (species, last = vacancy) of every supercell site."""
    n_total = sum(len(s) for s in group_sites)
    fill = np.full(n_total, n_cols - 1, dtype=np.int64)
    for sites, row in zip(group_sites, counts):
        labels = np.repeat(np.arange(n_cols), row)
        fill[sites] = rng.permutation(labels)
    return fill


def _ewald_matrix(lattice, frac) -> NDArray[np.float64]:
    """Ewald interaction matrix (eV) of unit point charges at ``frac``: E = q @ M @ q."""
    from pymatgen.analysis.ewald import EwaldSummation
    from pymatgen.core import Species, Structure

    s = Structure(lattice, [Species("H", 1)] * len(frac), frac)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = np.asarray(EwaldSummation(s, compute_forces=False).total_energy_matrix, dtype=float)
    return 0.5 * (m + m.T)


def _descend(M, q_col, fill, var_groups, deadline: Deadline) -> tuple[NDArray[np.int64], float, bool]:
    """Steepest-descent swaps of unlike species within orbits; returns (fill, energy, finished)."""
    fill = fill.copy()
    q = q_col[fill]
    phi = M @ q
    diag = np.diag(M)
    while True:
        if deadline.passed():
            return fill, float(q @ phi), False
        best = (-1e-9, None)
        for sites in var_groups:
            if np.all(fill[sites] == fill[sites][0]):
                continue
            qs = q[sites]
            dq = qs[None, :] - qs[:, None]                    # charge change at i when swapping i<->j
            de = (2 * dq * (phi[sites][:, None] - phi[sites][None, :])
                  + dq * dq * (diag[sites][:, None] + diag[sites][None, :] - 2 * M[np.ix_(sites, sites)]))
            same = fill[sites][:, None] == fill[sites][None, :]
            de = np.where(same, np.inf, de)
            k = int(np.argmin(de))
            if de.flat[k] < best[0]:
                a, b = divmod(k, len(sites))
                best = (float(de.flat[k]), (sites[a], sites[b]))
        if best[1] is None:
            return fill, float(q @ phi), True
        i, j = best[1]
        dqi = q[j] - q[i]
        phi += dqi * (M[:, i] - M[:, j])
        q[i], q[j] = q[j], q[i]
        fill[i], fill[j] = fill[j], fill[i]


def _pymatgen_fill(M, q_col, group_sites, counts, n_conf) -> list[tuple[float, NDArray[np.int64]]]:
    """Exact lowest-Ewald fillings: pymatgen's ``EwaldMinimizer`` (the engine of
    ``OrderDisorderedStructureTransformation``), fed the manipulations that
    transformation would build, without its Structure round trip."""
    from pymatgen.analysis.ewald import EwaldMinimizer

    vac = len(q_col) - 1
    fill = np.full(len(M), vac, dtype=np.int64)
    manipulations = []
    for sites, row in zip(group_sites, counts):
        present = [c for c in range(len(row)) if row[c] > 0]
        init = max(present, key=lambda c: (abs(q_col[c]), -c))   # pymatgen starts from the highest |charge|
        fill[sites] = init
        for c in present:
            if c == init:
                continue
            ratio = q_col[c] / q_col[init] if q_col[init] else 0.0
            manipulations.append([float(ratio), int(row[c]), [int(i) for i in sites], int(c)])
    if not manipulations:
        q = q_col[fill]
        return [(float(q @ M @ q), fill)]
    q0 = q_col[fill]
    matrix = M * np.outer(q0, q0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em = EwaldMinimizer(matrix, manipulations, max(n_conf, 1), EwaldMinimizer.ALGO_FAST)
    out = []
    for energy, changes in em.output_lists:
        f = fill.copy()
        for idx, col in changes:
            f[idx] = col
        out.append((float(energy), f))
    return out


def ewald_fills(cell: Supercell, counts, q_col, n_conf: int, rng, deadline: Deadline,
                notes: list[str]) -> tuple[list[NDArray[np.int64]], list[float], str]:
    """Up to ``n_conf`` fillings of lowest Ewald energy, distinct energies first: (fills, energies eV, method)."""
    M = _ewald_matrix(cell.lattice, cell.frac)
    deadline.check("Ewald matrix")
    var = [gs for gs, row in zip(cell.group_sites, counts) if np.count_nonzero(row) > 1]
    log_n = log_n_orderings(counts)

    def energy(fill):
        q = q_col[fill]
        return float(q @ M @ q)

    found: dict[bytes, tuple[float, NDArray[np.int64]]] = {}
    how = "ewald-descent"
    if log_n <= math.log(_common.PYMATGEN_MAX_ORDERINGS):
        try:
            for _, f in _pymatgen_fill(M, q_col, cell.group_sites, counts, n_conf):
                found.setdefault(f.tobytes(), (energy(f), f))
            how = "ewald-pymatgen"
        except Exception as e:  # noqa: BLE001 - fall back to the descent
            logger.debug("pymatgen ordering failed (%s); using the descent", e)
    if how == "ewald-descent" or (len(found) < n_conf and len(found) < math.exp(min(log_n, 700))):
        for _ in range(4 + 3 * n_conf):
            f0 = _random_fill(rng, cell.group_sites, counts, len(q_col))
            f, e, finished = _descend(M, q_col, f0, var, deadline)
            found.setdefault(f.tobytes(), (e, f))
            if not finished or deadline.passed():
                notes.append(f"time_limit_s reached during the Ewald search ({len(found)} start(s) done)")
                break
    picked = _distinct_lowest(sorted(found.values(), key=lambda x: x[0]), n_conf)
    return [f for _, f in picked], [e for e, _ in picked], how


def _distinct_lowest(ranked: list, n_conf: int) -> list:
    """The ``n_conf`` lowest, distinct energies first (equal energies are usually symmetry-equivalent)."""
    picked, seen = [], set()
    for e, f in ranked:
        key = round(e, 6)
        if key not in seen:
            seen.add(key)
            picked.append((e, f))
    for e, f in ranked:
        if len(picked) >= n_conf:
            break
        if not any(f is g for _, g in picked):
            picked.append((e, f))
    return sorted(picked, key=lambda x: x[0])[:n_conf]


def random_fills(cell: Supercell, counts, n_cols: int, n_conf: int, rng,
                 deadline: Deadline) -> list[NDArray[np.int64]]:
    """Up to ``n_conf`` distinct uniform random fillings (fewer when fewer exist)."""
    n_distinct_max = math.exp(min(log_n_orderings(counts), 700))
    fills: list[NDArray[np.int64]] = []
    seen: set[bytes] = set()
    for _ in range(20 * n_conf):
        f = _random_fill(rng, cell.group_sites, counts, n_cols)
        if f.tobytes() not in seen:
            seen.add(f.tobytes())
            fills.append(f)
        if len(fills) >= n_conf or len(fills) >= n_distinct_max or deadline.passed():
            break
    return fills


def plain_structure(s):
    """A copy without oxidation states or site properties."""
    s = s.copy()
    try:
        s.remove_oxidation_states()
    except Exception:  # noqa: BLE001 - already plain
        pass
    for key in list(s.site_properties):
        s.remove_site_property(key)
    return s


def build(cell: Supercell, fill, species: list[str], rng):
    """The ordered Structure of one filling; a merged split site uses one of its positions (seeded choice)."""
    from pymatgen.core import Structure

    els, coords = [], []
    vac = len(species)
    for k, v in enumerate(cell.vsites):
        for p in range(cell.d):
            c = int(fill[k * cell.d + p])
            if c == vac:
                continue
            e = species[c]
            if len(v.members) == 1:
                f = v.members[0][0]
            else:
                w = np.array([m[1].get(e, 0.0) for m in v.members])
                f = v.members[int(rng.choice(len(w), p=w / w.sum()))][0]
            els.append(e)
            coords.append((np.asarray(f) @ cell.inv_m + cell.points[p]) % 1.0)
    if not els:
        raise StructureError("the ordering leaves no atom in the cell; check the occupancies")
    return Structure(cell.lattice, els, coords).get_sorted_structure()
