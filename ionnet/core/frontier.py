"""Which grid nodes a scan must evaluate: exclusion spheres, the frontier check, coarse-to-fine.

Array in, array out.  A scan first leaves out the nodes inside exclusion
spheres around the framework atoms (:func:`sphere_mask`), then repeatedly
evaluates the not-yet-evaluated neighbours (:func:`dilate26`) of every node the
minimum, or the basin minimum of a mobile-ion site, reaches without climbing
above a ceiling (:func:`reachable_below`), until none is left: every threshold
and free volume below the ceiling is then that of a dense scan.  :func:`coarse_mask`, :func:`coarse_corner_min` and
:func:`coarse_interpolate` serve the coarse-to-fine option.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from .sources import site_sources
from .sweep import sweep

__all__ = [
    "sphere_mask",
    "dilate26",
    "reachable_below",
    "mpe",
    "coarse_mask",
    "coarse_corner_min",
    "coarse_interpolate",
]


def sphere_mask(
    shape: Sequence[int],
    lattice: NDArray[np.float64],
    frac_coords: NDArray[np.float64],
    radii_ang: NDArray[np.float64],
) -> NDArray[np.bool_]:
    """(na, nb, nc) True where a node is closer than ``radii_ang[k]`` to atom k (periodic).

    Parameters
    ----------
    shape : (3,) ints
    lattice : (3, 3) ndarray, Å
        Rows a, b, c.
    frac_coords : (K, 3) ndarray, fractional
        Atom positions.
    radii_ang : (K,) ndarray, Å
        Exclusion radius of each atom (<= 0: none).

    Examples
    --------
    >>> m = sphere_mask((10, 10, 10), np.eye(3) * 10.0, np.array([[0.0, 0.0, 0.0]]), np.array([1.5]))
    >>> int(m.sum()), bool(m[0, 0, 0]), bool(m[9, 0, 0]), bool(m[2, 0, 0])
    (19, True, True, False)
    """
    n = np.asarray(shape, dtype=np.int64)
    lat = np.asarray(lattice, dtype=np.float64)
    mask = np.zeros(tuple(int(x) for x in n), dtype=bool)
    recip_len = np.linalg.norm(np.linalg.inv(lat).T, axis=1)  # |b_i*| (1/Å), no 2*pi
    for f, r in zip(np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3), np.asarray(radii_ang, dtype=np.float64)):
        if r <= 0:
            continue
        c = f * n
        ext = r * recip_len * n
        lo = np.floor(c - ext).astype(np.int64)
        hi = np.ceil(c + ext).astype(np.int64)
        I, J, K = np.meshgrid(*[np.arange(lo[d], hi[d] + 1) for d in range(3)], indexing="ij")
        d = (np.stack([I / n[0], J / n[1], K / n[2]], axis=-1) - f) @ lat
        hit = np.einsum("...i,...i->...", d, d) < r * r
        mask[I[hit] % n[0], J[hit] % n[1], K[hit] % n[2]] = True
    return mask


def dilate26(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Periodic dilation of a 3D boolean mask by the 3x3x3 cube.

    Examples
    --------
    >>> m = np.zeros((4, 4, 4), dtype=bool); m[0, 0, 0] = True
    >>> int(dilate26(m).sum()), bool(dilate26(m)[3, 3, 3])
    (27, True)
    """
    out = mask.copy()
    for ax in range(3):
        cur = out.copy()
        out |= np.roll(cur, 1, axis=ax)
        out |= np.roll(cur, -1, axis=ax)
    return out


def _site_mask(energies: NDArray[np.float64], sites_frac, connectivities: Sequence[int]) -> NDArray[np.bool_]:
    """Basin minima of the sites ``sites_frac`` for each descent connectivity, as one flat mask."""
    mask = np.zeros(energies.size, dtype=bool)
    if sites_frac is None or len(sites_frac) == 0:
        return mask
    frac = np.asarray(sites_frac, dtype=np.float64).reshape(-1, 3)
    for c in connectivities:
        mask[site_sources(energies, frac, connectivity=c)] = True
    return mask


def reachable_below(energies: NDArray[np.float64], ceiling_ev: float, *, source_tol_ev: float,
                    sites_frac=None) -> NDArray[np.bool_]:
    """Nodes reachable through 26-connected nodes no higher than ``min + ceiling_ev`` from the sources
    (non-finite energies, e.g. nodes not evaluated or a model's NaN, are forbidden).

    The sources are every node within ``source_tol_ev`` of the minimum and the basin
    minima of the mobile-ion sites ``sites_frac`` ((S, 3) fractional; descents at
    connectivity 6, 18 and 26), so this is a superset of what any source-based analysis
    (``'min'`` with a source tolerance up to ``source_tol_ev``, or ``'sites'``; connectivity
    6, 18 or 26) sees below the ceiling, also for a site behind a sealed deeper pocket.

    Examples
    --------
    >>> e = np.full((8, 1, 1), 5.0); e[1, 0, 0] = 0.0; e[5, 0, 0] = 1.0   # two wells, walls of 5 eV
    >>> np.flatnonzero(reachable_below(e, 2.0, source_tol_ev=0.05)).tolist()
    [1]
    >>> np.flatnonzero(reachable_below(e, 2.0, source_tol_ev=0.05, sites_frac=[[0.6, 0, 0]])).tolist()
    [1, 5]
    """
    energies = np.where(np.isfinite(energies), energies, np.inf)
    e0 = float(np.min(energies))
    src = (energies <= e0 + source_tol_ev).reshape(-1) | _site_mask(energies, sites_frac, (6, 18, 26))
    level = sweep(energies, connectivity=26, source=src.reshape(energies.shape))[0]
    return level <= e0 + ceiling_ev


def mpe(energies: NDArray[np.float64], sites_frac=None) -> float:
    """Minimal (1D) percolation energy of a grid, eV above its minimum; +inf if none.

    From the minimum at connectivity 6 (an upper bound of every connectivity's) and, with
    ``sites_frac``, the largest of that and the thresholds from the sites' basin minima at
    connectivity 6 and 26: a ceiling at this value covers the MPE of either source choice.

    Examples
    --------
    >>> e = np.zeros((4, 4, 4)); e[:, 2:, :] = 1.0; e[2:, :, :] = np.inf
    >>> mpe(e), mpe(np.full((2, 2, 2), np.inf)), mpe(np.where(e == 0, np.nan, e))   # NaN: forbidden
    (0.0, inf, 0.0)
    """
    energies = np.where(np.isfinite(energies), energies, np.inf)  # NaN from a model is a forbidden node
    if not np.isfinite(energies).any():
        return float("inf")
    e0 = float(np.min(energies))
    out = float(sweep(energies, connectivity=6, source=energies <= e0 + 1e-6)[1][0] - e0)
    if sites_frac is not None and len(sites_frac):
        for c in (6, 26):
            src = _site_mask(energies, sites_frac, (c,))
            if src.any():
                out = max(out, float(sweep(energies, connectivity=c, source=src.reshape(energies.shape))[1][0] - e0))
    return out


def coarse_mask(shape: Sequence[int]) -> NDArray[np.bool_]:
    """(na, nb, nc) True at the nodes of the coarse grid (every second node along each axis)."""
    mask = np.ones(tuple(int(x) for x in shape), dtype=bool)
    for ax in range(3):
        sl = [slice(None)] * 3
        sl[ax] = slice(1, None, 2)
        mask[tuple(sl)] = False
    return mask


def _corners(shape: Sequence[int]) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Per axis, the lower and upper coarse corner of each node (periodic)."""
    out = []
    for m in shape:
        lo = (np.arange(m) // 2) * 2
        out.append((lo, np.where(lo + 2 < m, lo + 2, 0)))
    return out


def coarse_corner_min(energies: NDArray[np.float64]) -> NDArray[np.float64]:
    """For each node, the lowest energy at the 8 corners of its coarse cell."""
    (a0, a1), (b0, b1), (c0, c1) = _corners(energies.shape)
    out = None
    for a in (a0, a1):
        for b in (b0, b1):
            for c in (c0, c1):
                v = energies[np.ix_(a, b, c)]
                out = v if out is None else np.minimum(out, v)
    return out


def coarse_interpolate(energies: NDArray[np.float64]) -> NDArray[np.float64]:
    """Trilinear interpolation from the coarse corners (NaN/inf corners ignored; +inf where none is finite)."""
    shape = energies.shape
    corners = _corners(shape)
    w = [np.where(np.arange(m) % 2 == 1, 0.5, 0.0) for m in shape]
    num = np.zeros(shape)
    den = np.zeros(shape)
    for a, wa in zip(corners[0], (1 - w[0], w[0])):
        for b, wb in zip(corners[1], (1 - w[1], w[1])):
            for c, wc in zip(corners[2], (1 - w[2], w[2])):
                v = energies[np.ix_(a, b, c)]
                wt = wa[:, None, None] * wb[None, :, None] * wc[None, None, :]
                ok = np.isfinite(v) & (wt > 0)
                num += np.where(ok, v * wt, 0.0)
                den += np.where(ok, wt, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)
