"""Screening descriptors computed from :func:`ionnet.analyze` results.

The central one is the authors' published ranking descriptor Xi
(Maevskiy et al., arXiv:2411.06804), reproduced from their code,
``SiLiKhon/pes_fingerprint`` (commit 8e85a13),
``pes_fingerprint/pipelines/analysis_utils.py``, function
``process_structure``::

    results["Xi"] = (
        1.0 / (1.0 + np.exp(-(np.log10(results["fv_0p5_connected_union"]) + 2.0) * 10))
        / (1.0 + np.exp(-(np.log10(results["fv_0p5_disconnected_union"]) + 1.15) * 10))
    )

where each ``fv_0p5_*_union`` is the *mean over the five thresholds*
0.5 + (-0.04, -0.02, 0, 0.02, 0.04) eV of the free volume (``fvl_smearing``
and ``get_smeared_calculate_free_volume`` in the same function): the free
volumes are averaged first and Xi is computed once from the averages.  The
free volume is ``(map < threshold).mean()`` (strict ``<``, function
``calculate_free_volume``) of the union over the per-ion maps
(``aggregation="union"``):

* connected, FVc: ``map`` is the minimal-energy level map of each mobile
  ion, built on an open (non-periodic) 2x2x2 supercell with the ion's minimum
  at its centre (``BarrierCalculator._wrap_pes`` in
  ``pes_fingerprint/pes/__init__.py``, ``calculate_levels`` in
  ``pipelines/levels.py``), so a region is counted once per supercell: a
  pocket that does not percolate weighs 1/8 of its cell fraction, a 1D
  channel about 1/4, a 2D sheet about 1/2, a 3D network its full fraction;
* disconnected, FVd: ``map`` is the raw energy minus the map's own minimum
  (no connectivity).

See ``docs/screening.md`` for every formula and the (documented) differences
from the authors' pipeline.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import GridError
from .settings import DEFAULT_THRESHOLDS

if TYPE_CHECKING:
    from .analysis import Percolation, PercolationResult

__all__ = [
    "XI_THRESHOLDS",
    "logistic",
    "xi_from_fv",
    "per_map_results",
    "ion_maps",
    "fv_disconnected",
    "fv_connected",
    "xi",
    "xi_components",
    "descriptor_row",
    "transport_descriptors",
    "TRANSPORT_TEMPERATURES_K",
]

logger = logging.getLogger(__name__)

#: Thresholds (eV) the authors average FVc and FVd over: 0.5 + fvl_smearing,
#: listed in the order the brief gives them (the order does not matter).
XI_THRESHOLDS: tuple[float, ...] = (0.5, 0.48, 0.52, 0.46, 0.54)


def logistic(x: ArrayLike) -> float | NDArray[np.float64]:
    """The logistic function ``s(x) = 1 / (1 + exp(-x))`` (scalar or array).

    Examples
    --------
    >>> logistic(0.0)
    0.5
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore"):
        out = 1.0 / (1.0 + np.exp(-x))
    return float(out) if out.ndim == 0 else out


def xi_from_fv(fvc: ArrayLike, fvd: ArrayLike) -> float | NDArray[np.float64]:
    """Xi = s(10 (log10 FVc + 2)) * s(10 (log10 FVd + 1.15)), s the logistic function.

    ``FVc`` and ``FVd`` are fractions of the cell (0..1).  A zero free volume
    gives ``log10 = -inf`` and ``s = 0``, so Xi = 0.

    Examples
    --------
    >>> xi_from_fv(0.01, 10 ** -1.15)
    0.25
    >>> xi_from_fv(0.0, 0.5)
    0.0
    """
    fvc = np.asarray(fvc, dtype=np.float64)
    fvd = np.asarray(fvd, dtype=np.float64)
    if np.any(fvc < 0) or np.any(fvd < 0):
        raise GridError(f"free volumes must be >= 0 (got FVc={fvc}, FVd={fvd})")
    with np.errstate(divide="ignore"):
        out = logistic(10.0 * (np.log10(fvc) + 2.0)) * logistic(10.0 * (np.log10(fvd) + 1.15))
    out = np.asarray(out, dtype=np.float64)
    return float(out) if out.ndim == 0 else out


def per_map_results(result: Percolation) -> list[PercolationResult]:
    """The per-ion :class:`~ionnet.PercolationResult` list of a result or a set.

    Raises
    ------
    GridError
        If the maps do not share one grid shape (they cannot be overlaid).
    """
    from .analysis import Percolation

    if not isinstance(result, Percolation):
        raise GridError(f"descriptors need a PercolationResult or PercolationSet (got {type(result).__name__}); "
                        "run ionnet.analyze first")
    maps = list(result.results)
    if not maps:
        raise GridError("an empty PercolationSet has no maps to compute descriptors from")
    shapes = {m.grid.shape for m in maps}
    if len(shapes) != 1:
        raise GridError(
            f"the per-ion maps have different grid shapes {sorted(shapes)}; scan every ion on the same grid"
        )
    return maps


def _thresholds(t: ArrayLike) -> NDArray[np.float64]:
    ts = np.atleast_1d(np.asarray(t, dtype=np.float64))
    if ts.ndim != 1 or not np.all(np.isfinite(ts)):
        raise GridError(f"`thresholds` must be finite energies in eV (got {t!r})")
    return ts


def _apply_node_op(op: Sequence[Sequence[int]], energies: NDArray[np.float64],
                   nodes: NDArray[np.int64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """The map and source nodes moved by a node operation ``[M rows..., T]``: ``E'[M i + T] = E[i]``."""
    from .core.symmetry import move_nodes

    dst = move_nodes(op[:3], op[3], energies.shape)
    out = np.empty(energies.size)
    out[dst] = energies.ravel()
    return out.reshape(energies.shape), dst[np.asarray(nodes, dtype=np.int64)]


def ion_maps(result: Percolation) -> list[tuple[NDArray[np.float64], NDArray[np.int64]]]:
    """``(energies, sources)`` of every mobile ion of the cell: the maps Xi's union runs over.

    A map of the occupied framework stands for its whole symmetry orbit
    (``metadata['multiplicity']``): the maps of the other ions of the orbit are
    built from it with ``metadata['orbit_node_ops']`` (no model evaluation;
    recorded by :func:`ionnet.scan`).  In the empty framework every ion sees
    the same map and starts from its own site: one entry per source basin
    minimum.  Each entry's ``sources`` are flat node indices (basin minima).

    Returns
    -------
    list of ((na, nb, nc) ndarray, eV; (S,) ndarray of int)
    """
    from .core.sources import descend

    out = []
    missing = 0
    for m in per_map_results(result):
        e = m.grid.energies
        if m.source_mode == "node":  # the node the caller chose, as is
            srcs = np.asarray([m.source], dtype=np.int64)
        else:  # one ion per basin minimum ('min' sources include near-minimum neighbours)
            srcs = np.unique(descend(e, m.sources, connectivity=m.connectivity))
            srcs = srcs[np.isfinite(e.ravel()[srcs])]
        out.extend((e, np.asarray([s])) for s in srcs)
        ops = (m.grid.metadata or {}).get("orbit_node_ops") or []
        for op in ops[1:]:
            if op is None:
                missing += 1
                continue
            e2, moved = _apply_node_op(op, e, srcs)
            out.extend((e2, np.asarray([s])) for s in moved)
        mult = int((m.grid.metadata or {}).get("multiplicity", 1))
        if mult > 1 and not ops:
            missing += mult - 1
    if missing:
        logger.warning("%d mobile ions have no map (no grid-compatible symmetry operation recorded): "
                       "Xi's union counts their orbit's representative map instead", missing)
    return out


def _union_rel_energy(result: Percolation) -> NDArray[np.float64]:
    """(na, nb, nc) min over every ion's map of (E - E_min of that map), eV."""
    out = None
    for e, _ in ion_maps(result):
        rel = e - float(np.min(e))
        out = rel if out is None else np.minimum(out, rel)
    return out


def fv_disconnected(result: Percolation, t: ArrayLike) -> float | NDArray[np.float64]:
    """FVd(t): fraction of cell nodes with ``E - E_min < t`` in the map of any mobile ion (:func:`ion_maps`).

    Each map is measured from its own minimum; strict ``<`` as in the authors'
    ``calculate_free_volume``.  No connectivity is involved.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    t : float or (T,) array, eV

    Returns
    -------
    float or (T,) ndarray
        Fractions of the cell (0..1).
    """
    ts = _thresholds(t)
    rel = np.sort(_union_rel_energy(result), axis=None)
    fv = np.searchsorted(rel, ts, side="left") / rel.size  # count of values < t
    return float(fv[0]) if np.ndim(t) == 0 else fv


def _supercell_levels(e: NDArray[np.float64], source: int, connectivity: int, t_max: float) -> NDArray[np.float64]:
    """Authors' connected map of one mobile ion (map ``e``, start ``source``) on the common 2x2x2 frame.

    Returns the (2na, 2nb, 2nc) level map (eV above the map's minimum) of an
    open (2n+1)^3 tile centred on the source, exact below ``t_max`` (+inf or
    a value >= ``t_max`` elsewhere), after the authors' face fix (each node on
    the supercell surface takes the minimum over its periodic copies) and the
    shift that puts every map on the same frame (node ``j`` of the frame is
    node ``j mod n`` of the cell).
    """
    from .core.sweep import sweep

    n = np.asarray(e.shape)
    src = np.asarray(np.unravel_index(int(source), e.shape))
    # (2n+1)^3 open supercell, index i <-> cell node (src + i - n) mod n; centre i = n is the source
    idx = [(np.arange(2 * n[d] + 1) - n[d] + src[d]) % n[d] for d in range(3)]
    sc = e[np.ix_(*idx)] - float(e.ravel()[int(source)])
    # nodes at or above t_max can neither count nor carry a path below t_max: drop them (speed)
    sc = np.where(sc < t_max, sc, np.inf)
    centre = int(np.ravel_multi_index(tuple(n), sc.shape))
    level = sweep(sc, connectivity=connectivity, source=centre, periodic=(False, False, False))[0]
    # face fix: index 0 and 2n along an axis are the same periodic node; keep the lower level
    for ax in range(3):
        first = [slice(None)] * 3
        last = [slice(None)] * 3
        first[ax] = 0
        last[ax] = -1
        level[tuple(first)] = np.minimum(level[tuple(first)], level[tuple(last)])
    level = level[: 2 * n[0], : 2 * n[1], : 2 * n[2]]
    # common frame: frame index j <-> supercell index i = j - src + n (mod 2n)
    return np.roll(level, shift=tuple(int(s) for s in (src - n)), axis=(0, 1, 2))


def fv_connected(result: Percolation, t: ArrayLike, *, method: str = "supercell") -> float | NDArray[np.float64]:
    """FVc(t): fraction of nodes whose minimal-energy level is ``< t``, union over every mobile ion's map.

    The union runs over :func:`ion_maps`: every mobile ion of the cell, each
    from its own start (a symmetry orbit's maps are built from its computed
    representative), as in the authors' ``process_structure``.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    t : float or (T,) array, eV
        Thresholds above each ion's start (its basin minimum).
    method : {'supercell', 'cell'}
        ``'supercell'`` (default) is the authors' definition: the level map of
        an open (2n+1)^3 tile centred on each ion's start, counted over
        the supercell's (2n)^3 nodes.  ``'cell'`` uses ionnet's periodic level
        map (:attr:`PercolationResult.level_map`) over the n^3 cell nodes,
        which counts every node reachable below ``t`` through any periodic image.

    Returns
    -------
    float or (T,) ndarray
        Fractions (0..1).

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> E = np.full((4, 4, 4), 5.0); E[0, 0, 0] = 0.0; E[1, 0, 0] = 0.1   # a 2-node pocket
    >>> r = ionnet.analyze(E, lattice=np.eye(3) * 4.0)
    >>> fv_connected(r, 0.5, method="cell"), fv_connected(r, 0.5)        # 2/64 and 2/512
    (0.03125, 0.00390625)
    """
    from .core.sweep import sweep

    ts = _thresholds(t)
    if method not in ("cell", "supercell"):
        raise GridError(f"`method` must be 'supercell' or 'cell' (got {method!r})")
    conn = per_map_results(result)[0].connectivity
    t_max = float(np.max(ts))
    if t_max <= 0:
        fv = np.zeros_like(ts)
        return float(fv[0]) if np.ndim(t) == 0 else fv
    lev = None
    for e, srcs in ion_maps(result):
        if method == "cell":
            mask = np.zeros(e.size, dtype=bool)
            mask[srcs] = True
            one = sweep(e, connectivity=conn, source=mask)[0] - float(np.min(e.ravel()[srcs]))
        else:
            one = _supercell_levels(e, int(srcs[0]), conn, t_max)
        lev = one if lev is None else np.minimum(lev, one)
    srt = np.sort(lev, axis=None)
    fv = np.searchsorted(srt, ts, side="left") / srt.size  # strict <
    return float(fv[0]) if np.ndim(t) == 0 else fv


def xi_components(
    result: Percolation, *, thresholds: Sequence[float] = XI_THRESHOLDS, method: str = "supercell"
) -> dict:
    """``{'fvc', 'fvd', 'xi'}``: the threshold-averaged free volumes and Xi computed from them."""
    ts = _thresholds(thresholds)
    fvc = float(np.mean(fv_connected(result, ts, method=method)))
    fvd = float(np.mean(fv_disconnected(result, ts)))
    return {"fvc": fvc, "fvd": fvd, "xi": float(xi_from_fv(fvc, fvd))}


def xi(result: Percolation, *, thresholds: Sequence[float] = XI_THRESHOLDS, method: str = "supercell") -> float:
    """The authors' ranking descriptor Xi of a result (one map) or a set (vacancy mode).

    ``Xi = s(10 (log10 FVc + 2)) * s(10 (log10 FVd + 1.15))`` with ``s`` the
    logistic function, where FVc and FVd are first averaged over the
    thresholds 0.46, 0.48, 0.5, 0.52, 0.54 eV (as in the authors'
    ``analysis_utils.process_structure``) and Xi is computed once from the
    averages.  Higher is better (more mobile).

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    thresholds : sequence of float, eV
    method : {'supercell', 'cell'}
        How FVc is counted, see :func:`fv_connected`.

    Returns
    -------
    float
        In [0, 1).

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import cosine_field
    >>> E = cosine_field((10, 10, 10), (0.2, 0.0, 0.0))  # flat in b, c
    >>> r = ionnet.analyze(E, lattice=np.eye(3) * 5.0)
    >>> xi_components(r)["fvc"], xi_components(r)["fvd"]  # all nodes below 0.46 eV, connected in 3D
    (1.0, 1.0)
    >>> xi(r) == xi_from_fv(1.0, 1.0) == logistic(20.0) * logistic(11.5)
    True
    """
    return xi_components(result, thresholds=thresholds, method=method)["xi"]


def _fin(x: float) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def descriptor_row(result: Percolation, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> dict:
    """One flat, JSON-ready row of screening descriptors.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    thresholds : iterable of float, eV
        Free-volume thresholds reported as ``fv_<t>`` (ionnet's FV: fraction of
        nodes with level map ``<= t``, union over maps).

    Returns
    -------
    dict
        ``mpe``, ``e2d``, ``e3d`` (eV above the source; None = never
        percolates), ``fv_<t>`` for each threshold, ``fvc``, ``fvd``, ``xi``
        (authors' Xi, supercell FVc), ``fvc_cell``, ``xi_cell`` (Xi with the
        periodic-cell FVc), ``e_min`` (absolute eV of the lowest map minimum),
        ``n_sites``, ``n_maps``, ``grid_shape`` ([na, nb, nc]), ``connectivity``.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import cosine_field
    >>> row = descriptor_row(ionnet.analyze(cosine_field((8, 8, 8), (0.1, 0.3, 0.5)), lattice=np.eye(3) * 5.0))
    >>> round(row["mpe"], 6), round(row["e2d"], 6), round(row["e3d"], 6), row["grid_shape"]
    (0.2, 0.6, 1.0, [8, 8, 8])
    """
    maps = per_map_results(result)
    pe = result.percolation_energy
    row: dict = {
        "mpe": _fin(pe[1]),
        "e2d": _fin(pe[2]),
        "e3d": _fin(pe[3]),
    }
    for t in thresholds:
        row[f"fv_{float(t):g}"] = float(result.free_volume(float(t)))
    row.update(xi_components(result, method="supercell"))
    cell = xi_components(result, method="cell")
    row["fvc_cell"] = cell["fvc"]
    row["xi_cell"] = cell["xi"]
    row["e_min"] = float(min(m.e_min for m in maps))
    try:
        row["n_sites"] = int(result.sites().n_sites)
    except Exception as e:  # the site graph is a convenience; never lose a row over it
        logger.warning("site graph failed: %s", e)
        row["n_sites"] = None
    row["n_maps"] = len(maps)
    row["grid_shape"] = [int(s) for s in maps[0].grid.shape]
    row["connectivity"] = int(maps[0].connectivity)
    return row


#: Temperatures (K) of the transport descriptors: the Arrhenius fit of ``ea`` uses all of them.
TRANSPORT_TEMPERATURES_K: tuple[float, ...] = (300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0)


def transport_descriptors(result: Percolation, *, temperatures: Sequence[float] = TRANSPORT_TEMPERATURES_K) -> dict:
    """Screening columns from :func:`ionnet.transport` on the site graph: ``ea`` and ``log10_sigma_300``.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
        A set (vacancy mode) uses its map with the lowest minimum, as ``ionnet.transport`` does.
    temperatures : sequence of float, K
        The first is the temperature of ``log10_sigma_300`` (300 K by default);
        ``ea`` is the Arrhenius slope over all of them (default 300-1000 K).

    Returns
    -------
    dict
        ``ea`` (eV; None when the network does not percolate), ``log10_sigma_300``
        (log10 of σ in S/cm; None when σ is 0 or unknown), ``carrier_density_cm3``,
        ``transport_framework`` (the map's framework) and ``transport_T_K`` ([T_low, T_high]).
        Harmonic rates with ν = 1e13 Hz, Haven ratio 1, carriers from the scan
        metadata (see ``docs/transport.md``).

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import cosine_field
    >>> r = ionnet.analyze(cosine_field((12, 12, 12), (0.15, 0.6, 0.6)), lattice=np.eye(3) * 4.0)
    >>> d = transport_descriptors(r)
    >>> abs(d["ea"] - r.mpe) < 0.05, d["log10_sigma_300"]          # no carrier count in a bare field
    (True, None)
    """
    from .diffusion import transport

    ts = [float(t) for t in temperatures]
    maps = per_map_results(result)
    best = min(maps, key=lambda m: m.e_min)
    tr = transport(best, ts)
    sigma = float(tr.sigma[0])
    log_sigma = float(np.log10(sigma)) if np.isfinite(sigma) and sigma > 0 else None
    n = float(tr.carrier_density)
    return {
        "ea": _fin(tr.ea),
        "log10_sigma_300": log_sigma,
        "carrier_density_cm3": n if np.isfinite(n) else None,
        "transport_framework": (best.grid.metadata or {}).get("framework"),
        "transport_T_K": [min(ts), max(ts)],
    }
