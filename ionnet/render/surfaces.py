"""Isosurfaces of the level map and of connected components over periodic supercells (pyvista, Å)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ._base import _as_result, _check_supercell, _check_thresholds, _finite_fill, _pyvista, _structured


def default_thresholds(result: Any, *, margin: float = 0.02) -> list[float]:
    """Thresholds worth drawing: the finite 1D/2D/3D percolation energies plus ``margin`` (eV).

    Surfaces just above each threshold show the channel that opens there.
    Without any percolation, half and all of the highest finite level.
    """
    result = _as_result(result)
    pe = [result.percolation_energy[d] for d in (1, 2, 3)]
    ts = sorted({round(float(x) + margin, 6) for x in pe if np.isfinite(x)})
    if ts:
        return ts
    lev = result.level_map[np.isfinite(result.level_map)]
    top = float(lev.max()) if lev.size else 1.0
    return [0.5 * top, top] if top > 0 else [0.1]


def level_surface(result: Any, threshold: float, *, supercell: Sequence[int] = (1, 1, 1)):
    """Isosurface ``level_map == threshold`` over a periodic supercell, Cartesian Å (pyvista PolyData).

    The level map is tiled ``supercell`` times and the periodic end point is
    added, so surfaces close across cell faces.  Empty when nothing is reachable.
    """
    pv = _pyvista()
    result = _as_result(result)
    sc = _check_supercell(supercell)
    t = _check_thresholds([threshold])[0]
    lev = _finite_fill(result.level_map, t)
    tiled = np.pad(np.tile(lev, sc), [(0, 1)] * 3, mode="wrap")
    grid = _structured(pv, tiled, result.grid.lattice, result.grid.shape)
    return grid.contour([t], scalars="values")


#: Colour families of percolating components by dimensionality, and of pockets.
_DIM_COLORS = {
    1: ["#1f6fd1", "#0fa3b1", "#5b4fd6", "#3aa0ff", "#0b3d91", "#76b7ff"],
    2: ["#2ca02c", "#8cc63f", "#138d75", "#57c785", "#1e6b30", "#b5d334"],
    3: ["#f28e1c", "#e8590c", "#ffbf3f", "#c44e00", "#ffa600", "#d9480f"],
}
_POCKET_COLORS = [
    "#9e9ac8", "#fdae6b", "#a1d99b", "#9ecae1", "#fcbba1", "#c994c7", "#d9d9d9", "#bcbddc",
    "#fdd0a2", "#c7e9c0", "#c6dbef", "#fc9272", "#dadaeb", "#e7cb94", "#cedb9c", "#e7969c",
]


def _component_colour(dim: int, rank: int, pocket_rank: int) -> str:
    if dim:
        fam = _DIM_COLORS[min(dim, 3)]
        return fam[rank % len(fam)]
    return _POCKET_COLORS[pocket_rank % len(_POCKET_COLORS)]


def _tiled_component_meshes(pv, result, comps, ids, sc, origin_idx=(0, 0, 0)) -> dict[int, Any]:
    """Isosurface of each component ``ids`` (1-based; a list of ids makes one mesh) over the supercell.

    The energies and labels are tiled ``sc`` times with the periodic end
    point, so each surface is clipped to the shown cells (open where it
    leaves the box) and closes across inner cell faces.  Nodes of other
    components are pushed above the threshold so surfaces never merge.  The
    window starts at grid node ``origin_idx``.
    """
    t = comps.threshold
    rel = result.grid.energies - comps.e_ref
    delta = 1e-3 + 1e-3 * abs(t)
    rel = np.where(np.isfinite(rel), rel, t + 1.0)
    shift = tuple(-int(x) for x in origin_idx)
    tiled_e = np.pad(np.tile(np.roll(rel, shift, axis=(0, 1, 2)), sc), [(0, 1)] * 3, mode="wrap")
    tiled_l = np.pad(np.tile(np.roll(comps.labels, shift, axis=(0, 1, 2)), sc), [(0, 1)] * 3, mode="wrap")
    out = {}
    for key in ids:
        members = np.atleast_1d(np.asarray(key, dtype=np.int64))
        mask = np.isin(tiled_l, members)
        if not mask.any():
            continue
        nz = np.nonzero(mask)
        lo = np.maximum([x.min() - 1 for x in nz], 0)
        hi = np.minimum([x.max() + 2 for x in nz], tiled_l.shape)
        sub = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))
        vals = np.where(mask[sub], tiled_e[sub], np.maximum(tiled_e[sub], t + delta))
        if min(vals.shape) < 2:
            continue
        grid = _structured(pv, vals, result.grid.lattice, result.grid.shape, origin_idx=lo + np.asarray(origin_idx))
        surf = grid.contour([t], scalars="values")
        if surf.n_points:
            out[key if np.ndim(key) == 0 else tuple(members.tolist())] = surf
    return out


def _window_origin(comps, ids) -> NDArray[np.int64]:
    """Grid index where the shown window starts: per axis the plane that cuts the fewest nodes of ``ids``.

    Index 0 (the crystallographic origin) is kept unless another plane cuts
    clearly fewer (less than 80 %), so channels lying on a cell face are not
    drawn cut in half at the box.
    """
    mask = np.isin(comps.labels, np.asarray(ids, dtype=np.int64)) if len(ids) else comps.labels > 0
    out = np.zeros(3, dtype=np.int64)
    if not mask.any():
        return out
    for ax in range(3):
        counts = mask.sum(axis=tuple(d for d in range(3) if d != ax))
        best = int(np.argmin(counts))
        if counts[0] > 0 and counts[best] < 0.8 * counts[0]:
            out[ax] = best
    return out


def channel_threshold(result: Any, *, margin: float = 0.05) -> float:
    """Energy (eV above the minimum) of the default pathway render: ``MPE + margin``.

    Without percolation in the scanned range: half of the highest finite level.
    """
    result = _as_result(result)
    if np.isfinite(result.mpe):
        return float(result.mpe) + float(margin)
    lev = result.level_map[np.isfinite(result.level_map)]
    top = float(lev.max()) if lev.size else 0.2
    return 0.5 * top if top > 0 else 0.1


def component_surfaces(result: Any, t: float, *, connectivity: int | None = None):
    """One closed isosurface per connected component of ``{E - e_min <= t}``.

    Returns ``(surfaces, comps)``: a list of pyvista PolyData (Cartesian Å),
    ``surfaces[i]`` for component ``i + 1``, and the
    :class:`~ionnet.render.components.Components`.  Each component is drawn
    once, unwrapped across the periodic faces (a percolating one is cut open
    along its winding directions), so with face connectivity each surface is
    a single piece (plus an inner piece per enclosed cavity).  For pictures
    clipped to the cell, see :func:`components`.
    """
    from .components import periodic_components

    pv = _pyvista()
    result = _as_result(result)
    comps = periodic_components(result, t, connectivity=connectivity)
    e = result.grid.energies - comps.e_ref
    shape = np.asarray(e.shape)
    delta = 1e-3 + 1e-3 * abs(t)
    surfaces = []
    for c in range(1, comps.n_components + 1):
        ijk = comps.unwrapped_indices(c)
        lo = ijk.min(axis=0) - 1
        hi = ijk.max(axis=0) + 1
        dims = tuple(int(x) for x in hi - lo + 1)
        box_idx = np.indices(dims).reshape(3, -1).T + lo  # unwrapped indices of the box nodes
        vals = e[tuple((box_idx % shape).T)].reshape(dims)
        vals = np.where(np.isfinite(vals), vals, t + 1.0)
        inside = np.zeros(dims, dtype=bool)
        inside[tuple((ijk - lo).T)] = True
        vals = np.where(inside, vals, np.maximum(vals, t + delta))  # other nodes (and images) stay outside
        grid = _structured(pv, vals, result.grid.lattice, result.grid.shape, origin_idx=lo)
        surfaces.append(grid.contour([t], scalars="values"))
    return surfaces, comps
