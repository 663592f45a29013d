"""Sources of the percolation sweep: where the mobile ion starts (array kernels, no I/O).

Two rules (see ``docs/conventions.md``, "Sources"):

* **sites** -- the mobile ion's crystallographic sites are known: the node
  nearest each site, followed downhill (steepest descent on the periodic grid
  graph) to its basin minimum.  Symmetry-equivalent sites give
  symmetry-equivalent minima by construction, whatever the float noise.
* **min** -- a bare grid: the global minimum and every node within
  :func:`float_tolerance` of it (a few float32 ulps of the energy's magnitude,
  the resolution at which a model's energies are meaningful).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .sweep import stencil

__all__ = ["FLOAT_ULPS", "float_tolerance", "nearest_nodes", "descend", "min_sources", "site_sources"]

#: Nodes within this many float32 ulps of ``max |E|`` above the global minimum are sources of a bare grid.
FLOAT_ULPS = 8


def float_tolerance(energies: ArrayLike, *, ulps: int = FLOAT_ULPS) -> float:
    """Energy resolution of a grid, eV: ``ulps`` float32 spacings at its largest finite ``|E|``.

    Models evaluate in float32, so two energies closer than a few ulps of the
    energies' magnitude are equal within the model's precision.

    Examples
    --------
    >>> float_tolerance(np.array([-174.0, -170.0]), ulps=1) == float(np.spacing(np.float32(174.0)))
    True
    """
    e = np.asarray(energies, dtype=np.float64)
    fin = e[np.isfinite(e)]
    big = float(np.max(np.abs(fin))) if fin.size else 0.0
    return float(ulps) * float(np.spacing(np.float32(big)))


def nearest_nodes(shape: Sequence[int], frac_coords: ArrayLike) -> NDArray[np.int64]:
    """(S,) flat index of the grid node nearest each fractional position (node ``i`` sits at ``i / n``).

    Examples
    --------
    >>> nearest_nodes((4, 4, 4), [[0.0, 0.26, 0.99]]).tolist()
    [4]
    """
    n = np.asarray(shape, dtype=np.int64)
    f = np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3)
    idx = np.rint(f * n[None, :]).astype(np.int64) % n[None, :]
    return (idx[:, 0] * n[1] + idx[:, 1]) * n[2] + idx[:, 2]


def _downhill(e: NDArray[np.float64], connectivity: int) -> NDArray[np.int64]:
    """(N,) flat index of each node's lowest strictly lower neighbour (itself at a local minimum)."""
    shape = e.shape
    n = e.size
    best = np.arange(n, dtype=np.int64)
    best_e = np.where(np.isfinite(e), e, np.inf).ravel().copy()
    idx = np.arange(n, dtype=np.int64).reshape(shape)
    ef = np.where(np.isfinite(e), e, np.inf)
    for s in stencil(connectivity):
        # neighbour of node i is i + s: rolling by -s brings it to i
        ne = np.roll(ef, shift=tuple(-int(x) for x in s), axis=(0, 1, 2)).ravel()
        ni = np.roll(idx, shift=tuple(-int(x) for x in s), axis=(0, 1, 2)).ravel()
        better = (ne < best_e) | ((ne == best_e) & (ne < ef.ravel()) & (ni < best))
        best = np.where(better, ni, best)
        best_e = np.where(better, ne, best_e)
    return best


def descend(energies: ArrayLike, nodes: ArrayLike, *, connectivity: int = 6) -> NDArray[np.int64]:
    """(S,) basin minimum reached from each start node by steepest descent on the periodic grid.

    Each step moves to the lowest neighbour (``connectivity`` stencil, periodic
    wrap) that is strictly lower; ties go to the smaller flat index.  Non-finite
    nodes count as +inf, so a start on a forbidden node walks into the finite region.

    Parameters
    ----------
    energies : (na, nb, nc) ndarray, eV
    nodes : (S,) ints, flat indices
    connectivity : {6, 18, 26}

    Examples
    --------
    >>> e = np.array([3.0, 2.0, 1.0, 2.0, 0.5, 4.0]).reshape(6, 1, 1)
    >>> descend(e, [0, 2]).tolist()   # 0 -> 5 (wraps) is 4.0 > 3.0; 0 -> 1 -> 2; 2 is a minimum
    [2, 2]
    """
    e = np.asarray(energies, dtype=np.float64)
    down = _downhill(e, connectivity)
    cur = np.asarray(nodes, dtype=np.int64).ravel().copy()
    for _ in range(e.size):
        nxt = down[cur]
        if np.array_equal(nxt, cur):
            break
        cur = nxt
    return cur


def min_sources(energies: ArrayLike, *, tol: float | None = None) -> NDArray[np.bool_]:
    """(N,) mask of a bare grid's sources: every node within ``tol`` of the global minimum.

    ``tol`` (eV) defaults to :func:`float_tolerance`.
    """
    flat = np.asarray(energies, dtype=np.float64).ravel()
    e0 = float(np.min(np.where(np.isfinite(flat), flat, np.inf)))
    t = float_tolerance(flat) if tol is None else abs(float(tol))
    return np.isfinite(flat) & (flat <= e0 + t)


def site_sources(energies: ArrayLike, frac_coords: ArrayLike, *, connectivity: int = 6) -> NDArray[np.int64]:
    """(S,) distinct basin minima holding the sites ``frac_coords`` ((S, 3), fractional), sorted.

    Sites whose descent ends on a non-finite node are dropped (empty result if all are).
    """
    e = np.asarray(energies, dtype=np.float64)
    mins = descend(e, nearest_nodes(e.shape, frac_coords), connectivity=connectivity)
    mins = np.unique(mins)
    return mins[np.isfinite(e.ravel()[mins])]
