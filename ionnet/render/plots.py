"""2D figures with matplotlib: free volume curve, level histogram, slice through the source.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, no global
backend state, nothing shown); save them with ``fig.savefig(path)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BackendUnavailableError

__all__ = ["fv_plot", "level_histogram", "slice_plot"]

_DIM_STYLE = {1: ("MPE (1D)", "#d62728", "--"), 2: ("2D", "#ff7f0e", "-."), 3: ("3D", "#2ca02c", ":")}


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - optional dependency
        raise BackendUnavailableError("plots need matplotlib: pip install 'ionnet[render]'") from e
    return Figure(figsize=figsize, layout="constrained")


def _result(result: Any):
    from .scene import _as_result

    return _as_result(result)


def _mark_thresholds(ax, result, *, vertical: bool = True) -> None:
    for d, (name, colour, ls) in _DIM_STYLE.items():
        e = result.percolation_energy[d]
        if np.isfinite(e):
            label = f"{name} {e:.3f} eV"
            if vertical:
                ax.axvline(e, color=colour, ls=ls, lw=1.2, label=label)
            else:
                ax.axhline(e, color=colour, ls=ls, lw=1.2, label=label)


def _t_max(result) -> float:
    pe = [result.percolation_energy[d] for d in (1, 2, 3) if np.isfinite(result.percolation_energy[d])]
    lev = result.level_map[np.isfinite(result.level_map)]
    top = float(np.max(lev)) if lev.size else 1.0
    if pe:
        return float(min(max(1.5 * max(pe), max(pe) + 0.2), max(top, max(pe) + 0.2)))
    return max(top, 0.1)


def fv_plot(result: Any, *, ts: Any = None, figsize=(5.0, 3.6)):
    """Free volume FV(t): the fraction of the cell reachable from the source below t.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    ts : (T,) array, eV, optional
        Energies to evaluate; default 0 to a little past the 3D threshold, 400 points.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; the 1D/2D/3D thresholds are vertical lines.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.render import fv_plot
    >>> x = np.arange(8) / 8
    >>> E = 0.1 * np.cos(2 * np.pi * x)[:, None, None] + 0.3 * np.cos(2 * np.pi * x)[None, :, None]
    >>> fig = fv_plot(ionnet.analyze(E * np.ones((8, 8, 8)), lattice=np.eye(3) * 5.0))
    >>> len(fig.axes), fig.axes[0].get_xlabel()
    (1, 'energy above the minimum t (eV)')
    """
    r = _result(result)
    if ts is None:
        ts = np.linspace(0.0, _t_max(r), 400)
    ts, fv = r.fv_curve(ts)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    ax.plot(ts, fv, color="black", lw=1.8, label="FV(t)")
    _mark_thresholds(ax, r)
    ax.set_xlabel("energy above the minimum t (eV)")
    ax.set_ylabel("free volume fraction")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(float(ts[0]), float(ts[-1]))
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    _title(ax, r, "free volume")
    return fig


def level_histogram(result: Any, *, bins: int = 60, figsize=(5.0, 3.6)):
    """Histogram of the level map (finite nodes) over the energy histogram, thresholds marked.

    The level of a node is the lowest energy at which it joins the source;
    its histogram piles up at the percolation thresholds, where whole regions join.

    Returns
    -------
    matplotlib.figure.Figure
    """
    r = _result(result)
    e = (r.grid.energies - r.e_min).ravel()
    lev = r.level_map.ravel()
    e = e[np.isfinite(e)]
    lev = lev[np.isfinite(lev)]
    hi = float(max(lev.max() if lev.size else 0.0, 1e-6))
    edges = np.linspace(0.0, hi * 1.02 + 1e-9, int(bins) + 1)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    ax.hist(lev, bins=edges, color="#1f77b4", alpha=0.75, label="level (minimax from source)")
    ax.hist(np.clip(e, 0, edges[-1]), bins=edges, histtype="step", color="black", lw=1.0, label="energy E - E_min")
    _mark_thresholds(ax, r)
    ax.set_xlabel("energy above the minimum (eV)")
    ax.set_ylabel("grid nodes")
    ax.legend(fontsize=8)
    _title(ax, r, "level map")
    return fig


def slice_plot(result: Any, axis: int = 2, field: str = "energy", *, index: int | None = None,
               vmax: float | None = None, figsize=(5.2, 4.4)):
    """A 2D slice through the source, in Cartesian in-plane coordinates (Å).

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    axis : {0, 1, 2}
        Lattice axis normal to the slice (2: the a-b plane at the source's c).
    field : {'energy', 'level'}
        Energy above the source, or the level map.
    index : int, optional
        Grid index along ``axis``; default the source's.
    vmax : float, eV, optional
        Top of the colour scale; default a little past the 3D threshold.

    Returns
    -------
    matplotlib.figure.Figure
        Forbidden / unreachable nodes are grey; black contours at the
        percolation energies; a star marks the source.
    """
    from ..errors import GridError

    r = _result(result)
    if axis not in (0, 1, 2):
        raise GridError(f"`axis` must be 0, 1 or 2 (got {axis!r})")
    if field not in ("energy", "level"):
        raise GridError(f"`field` must be 'energy' or 'level' (got {field!r})")
    data = r.level_map if field == "level" else r.grid.energies - r.e_min
    shape = r.grid.shape
    src = np.unravel_index(r.source, shape)
    k = int(src[axis]) if index is None else int(index)
    if not 0 <= k < shape[axis]:
        raise GridError(f"`index` must be 0..{shape[axis] - 1} along axis {axis} (got {index!r})")
    sl = np.take(data, k, axis=axis)
    sl = np.pad(sl, [(0, 1), (0, 1)], mode="wrap")  # close the periodic cell
    u_ax, v_ax = [d for d in range(3) if d != axis]
    lat = r.grid.lattice
    u, v = lat[u_ax], lat[v_ax]
    e1 = u / np.linalg.norm(u)
    v_perp = v - np.dot(v, e1) * e1
    e2 = v_perp / np.linalg.norm(v_perp)
    fu = np.arange(shape[u_ax] + 1) / shape[u_ax]
    fv = np.arange(shape[v_ax] + 1) / shape[v_ax]
    P = fu[:, None, None] * u + fv[None, :, None] * v + (k / shape[axis]) * lat[axis]
    X, Y = P @ e1, P @ e2
    if vmax is None:
        vmax = _t_max(r)
    masked = np.ma.masked_invalid(sl)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    import matplotlib

    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#cccccc", over="#fde725")
    mesh = ax.pcolormesh(X, Y, masked, shading="gouraud", cmap=cmap, vmin=0.0, vmax=float(vmax))
    levels = sorted({float(r.percolation_energy[d]) for d in (1, 2, 3) if np.isfinite(r.percolation_energy[d])})
    finite = np.where(np.isfinite(sl), sl, float(vmax) * 10 + 10)
    if levels and np.ptp(finite) > 0:
        ax.contour(X, Y, finite, levels=levels, colors="black", linewidths=0.8)
    sp = (np.asarray(src) / np.asarray(shape)) @ lat
    ax.plot(sp @ e1, sp @ e2, marker="*", color="white", mec="black", ms=12, ls="none", label="source")
    names = "abc"
    ax.set_xlabel(f"x along {names[u_ax]} (Å)")
    ax.set_ylabel(f"y in the {names[u_ax]}{names[v_ax]} plane (Å)")
    ax.set_xlim(float(X.min()), float(X.max()))
    ax.set_ylim(float(Y.min()), float(Y.max()))
    ax.set_aspect("equal")
    fig.colorbar(mesh, ax=ax, label=f"{field} above the minimum (eV)", extend="max")
    ax.set_title(f"{field} at {names[axis]} = {k}/{shape[axis]}", fontsize=10)
    return fig


def _title(ax, r, what: str) -> None:
    md = r.grid.metadata
    bits = [b for b in (md.get("ion"), md.get("model")) if b]
    ax.set_title(f"{what}" + (f" ({', '.join(map(str, bits))})" if bits else ""), fontsize=10)
