"""2D figures with matplotlib: free volume curve, level histogram, slice, Arrhenius plot.

Figures are built with :class:`matplotlib.figure.Figure` (no pyplot, no global
backend state, nothing shown); save them with ``fig.savefig(path)``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import BackendUnavailableError

__all__ = ["fv_plot", "level_histogram", "slice_plot", "arrhenius_plot"]

_DIM_STYLE = {1: ("MPE (1D)", "#d62728", "--"), 2: ("2D", "#ff7f0e", "-."), 3: ("3D", "#2ca02c", ":")}
#: Boltzmann constant, eV/K.
K_B_EV = 8.617333262e-5


def _figure(figsize):
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - optional dependency
        raise BackendUnavailableError("plots need matplotlib: pip install 'ionnet[render]'") from e
    return Figure(figsize=figsize, layout="constrained")


def _result(result: Any):
    from ._base import _as_result

    return _as_result(result)


def _finite_thresholds(result) -> dict:
    return {d: float(result.percolation_energy[d]) for d in (1, 2, 3) if np.isfinite(result.percolation_energy[d])}


def _mark_thresholds(ax, result, *, vertical: bool = True) -> None:
    """Vertical (or horizontal) lines at the 1D/2D/3D thresholds, labelled for the legend."""
    from ._labels import _direction_name

    for d, e in _finite_thresholds(result).items():
        name, colour, ls = _DIM_STYLE[d]
        where = _direction_name(result.percolation_directions[d]) if d < 3 else ""
        label = f"{name} {e:.2f} eV" + (f", along {where}" if d == 1 and where else "")
        if d == 2 and where:
            label += f", {where}"
        if vertical:
            ax.axvline(e, color=colour, ls=ls, lw=1.3, label=label)
        else:
            ax.axhline(e, color=colour, ls=ls, lw=1.3, label=label)


def _t_max(result) -> float:
    """Right end of energy axes (eV): a little past the highest finite threshold, or the highest level."""
    pe = list(_finite_thresholds(result).values())
    lev = result.level_map[np.isfinite(result.level_map)]
    top = float(np.max(lev)) if lev.size else 1.0
    if pe:
        return float(min(max(pe) * 1.1 + 0.1, max(top, max(pe) + 0.05)))
    return max(top, 0.1)


def _title(ax, r, what: str) -> None:
    from ._labels import _formula, _model_name

    md = r.grid.metadata
    bits = [b for b in (_formula(r), md.get("ion") and f"{md['ion']} probe", _model_name(md)) if b]
    ax.set_title(f"{what}" + (f": {', '.join(map(str, bits))}" if bits else ""), fontsize=10)


def fv_plot(result: Any, *, ts: Any = None, log: bool = False, figsize=(6.4, 3.8)):
    """Free volume FV(t): the fraction of the cell volume reachable from the minimum below t.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    ts : (T,) array, eV, optional
        Energies to evaluate; default 0 to a little past the highest finite
        percolation threshold, 600 points.
    log : bool
        Logarithmic FV axis (shows the small free volume at the MPE).
    figsize : (width, height), inches

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the curve (first line) and the 1D/2D/3D thresholds as
        vertical lines; the legend sits outside the axes, the y range is
        fitted to the curve.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.render import fv_plot
    >>> x = np.arange(8) / 8
    >>> E = 0.1 * np.cos(2 * np.pi * x)[:, None, None] + 0.3 * np.cos(2 * np.pi * x)[None, :, None]
    >>> fig = fv_plot(ionnet.analyze(E * np.ones((8, 8, 8)), lattice=np.eye(3) * 5.0))
    >>> fig.axes[0].get_xlabel(), fig.axes[0].get_ylabel()
    ('energy above the minimum t (eV)', 'fraction of cell volume')
    """
    r = _result(result)
    if ts is None:
        ts = np.linspace(0.0, _t_max(r), 600)
    ts, fv = r.fv_curve(ts)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    ax.plot(ts, fv, color="black", lw=1.8, label="FV(t)")
    _mark_thresholds(ax, r)
    ax.set_xlabel("energy above the minimum t (eV)")
    ax.set_ylabel("fraction of cell volume")
    ax.set_xlim(float(ts[0]), float(ts[-1]))
    top = float(np.max(fv)) if len(fv) else 1.0
    if log:
        pos = fv[fv > 0]
        lo = float(pos.min()) if pos.size else 1e-4
        ax.set_yscale("log")
        ax.set_ylim(lo / 2, max(top, lo) * 2)
    else:
        ax.set_ylim(0.0, max(top, 1e-3) * 1.08)
    ax.grid(alpha=0.3, which="both" if log else "major")
    fig.legend(loc="outside right upper", fontsize=8, frameon=False)
    _title(ax, r, "free volume")
    return fig


def level_histogram(result: Any, *, bins: int = 60, log: bool = False, figsize=(6.4, 3.8)):
    """Histogram of the level map (finite nodes) over the energy histogram, thresholds marked.

    The level of a node is the lowest energy at which it joins the minimum's
    region; its histogram piles up at the percolation thresholds, where
    whole regions join.  The axis ends at 1.5 times a little past the
    highest finite threshold; the last bin holds every node above.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    bins : int
    log : bool
        Logarithmic count axis.
    figsize : (width, height), inches

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
    hi = min(hi * 1.02 + 1e-9, 1.5 * _t_max(r))  # the last bin also holds everything above
    edges = np.linspace(0.0, hi, int(bins) + 1)
    lev = np.clip(lev, 0.0, hi)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    ax.hist(lev, bins=edges, color="#1f77b4", alpha=0.75, label="level map (minimax\nenergy from the minimum)")
    ax.hist(np.clip(e, 0, edges[-1]), bins=edges, histtype="step", color="black", lw=1.0,
            label="energy E - E_min")
    _mark_thresholds(ax, r)
    ax.set_xlabel("energy above the minimum (eV)")
    ax.set_ylabel("grid nodes per bin")
    ax.set_xlim(0.0, float(edges[-1]))
    if log:
        ax.set_yscale("log")
    fig.legend(loc="outside right upper", fontsize=8, frameon=False)
    _title(ax, r, "level map")
    return fig


def _auto_axis(result) -> int:
    """Slice normal: a lattice axis across the 1D channel (the shortest), or the 2D plane's normal."""
    pe = result.percolation_energy
    lat = result.grid.lattice
    dirs = result.percolation_directions
    if np.isfinite(pe[1]) and not (np.isfinite(pe[2]) and pe[2] <= pe[1] + 1e-9):
        w = np.asarray(dirs[1][0], dtype=np.float64)
        cand = [i for i in range(3) if w[i] == 0] or [0, 1, 2]
        return int(min(cand, key=lambda i: np.linalg.norm(lat[i])))
    if np.isfinite(pe[2]) and not (np.isfinite(pe[3]) and pe[3] <= pe[2] + 1e-9):
        w = np.asarray(dirs[2], dtype=np.float64)
        n = np.cross(w[0] @ lat, w[1] @ lat)
        return int(np.argmax([abs(np.dot(lat[i] / np.linalg.norm(lat[i]), n)) for i in range(3)]))
    return 2


def _project_atoms(ax, r, axis: int, k: int, e1, e2, *, window_ang: float, lo=(0.0, 0.0)):
    """Atoms within ``window_ang`` of the slice plane, at their in-plane position (periodic images)."""
    from ._labels import _element_style, _symbols

    st = r.grid.structure
    if st is None or not hasattr(st, "frac_coords") or len(st) == 0:
        return
    lat = r.grid.lattice
    shape = r.grid.shape
    frac = np.mod(np.asarray(st.frac_coords, dtype=np.float64), 1.0)
    sym = _symbols(st)
    plane_f = k / shape[axis]
    normal = np.cross(lat[(axis + 1) % 3], lat[(axis + 2) % 3])
    normal /= np.linalg.norm(normal)
    spacing = abs(np.dot(lat[axis], normal))  # distance between successive planes of the lattice, Å
    u_ax, v_ax = [d for d in range(3) if d != axis]
    shifts = np.array([[i, j] for i in (-1, 0, 1, 2) for j in (-1, 0, 1, 2)], dtype=np.float64)
    done = set()
    for s in dict.fromkeys(sym.tolist()):
        f = frac[sym == s]
        dn = (f[:, axis] - plane_f + 0.5) % 1.0 - 0.5  # nearest image along the normal
        dist = np.abs(dn) * spacing
        near = dist <= window_ang
        if not near.any():
            continue
        f = f[near].copy()
        f[:, axis] = plane_f
        pts = []
        for sh in shifts:
            g = f.copy()
            g[:, u_ax] += sh[0]
            g[:, v_ax] += sh[1]
            du, dv = g[:, u_ax] - lo[0], g[:, v_ax] - lo[1]
            ok = (du >= -0.02) & (du <= 1.02) & (dv >= -0.02) & (dv <= 1.02)
            pts.append(g[ok])
        p = np.concatenate(pts) @ lat
        rgb, radius = _element_style(s)
        ax.scatter(p @ e1, p @ e2, s=(radius * 22) ** 2, color=rgb, edgecolors="black", linewidths=0.6,
                   zorder=4, label=s if s not in done else None)
        done.add(s)


def slice_plot(result: Any, axis: int | None = None, field: str = "energy", *, index: int | None = None,
               vmax: float | None = None, atom_window_ang: float = 1.0, figsize=None):
    """A 2D slice through the minimum, in Cartesian in-plane coordinates (Å), with atoms projected.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    axis : {0, 1, 2}, optional
        Lattice axis normal to the slice (2: the a-b plane).  Default: a
        plane that contains the fastest direction (across a 1D channel, or
        the 2D plane itself).
    field : {'energy', 'level'}
        Energy above the minimum, or the level map.
    index : int, optional
        Grid index along ``axis``; default the minimum's.
    vmax : float, eV, optional
        Top of the colour scale; default a little past the highest finite
        threshold, at most MPE + 1.5 eV.
    atom_window_ang : float, Å
        Framework atoms closer than this to the plane are drawn at their
        in-plane position (Jmol colours).
    figsize : (width, height), inches, optional
        Default: fitted to the slice's aspect ratio.

    Returns
    -------
    matplotlib.figure.Figure
        The window is one cell, centred on the minimum.  Forbidden
        (infinite-energy) and unreachable nodes are grey; labelled black
        contours at the percolation energies; a star marks the minimum.
    """
    from ..errors import GridError

    r = _result(result)
    if axis is None:
        axis = _auto_axis(r)
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
    g = _slice_geometry(r, data, axis, k)
    if vmax is None:
        pe = list(_finite_thresholds(r).values())
        vmax = min(max(pe) * 1.1 + 0.1, min(pe) + 1.5) if pe else _t_max(r)
    if figsize is None:
        aspect = float(np.ptp(g["X"])) / max(float(np.ptp(g["Y"])), 1e-9)
        figsize = (float(np.clip(4.2 * aspect + 2.2, 6.4, 11.0)), 5.2)
    fig = _figure(figsize)
    ax = fig.add_subplot()
    mesh = _draw_slice_field(ax, r, g, float(vmax))
    _project_atoms(ax, r, axis, k, g["e1"], g["e2"], window_ang=float(atom_window_ang), lo=(g["fu"][0], g["fv"][0]))
    sp = (np.asarray(src) / np.asarray(shape)) @ r.grid.lattice  # inside the window: it is centred there
    ax.plot(sp @ g["e1"], sp @ g["e2"], marker="*", color="white", mec="black", ms=13, ls="none", label="minimum",
            zorder=5)
    _label_slice(fig, ax, mesh, g, field=field, axis=axis, k=k, n_axis=shape[axis])
    return fig


_SLICE_GREY = "#bdbdbd"


def _slice_geometry(r, data, axis: int, k: int) -> dict:
    """One cell of plane ``k`` along ``axis``, centred on the minimum, in Cartesian in-plane coordinates (Å).

    Keys: ``sl`` (values, closed with the periodic end point), ``X``, ``Y``
    (node coordinates, Å), ``e1``, ``e2`` (in-plane unit vectors), ``fu``,
    ``fv`` (fractional node coordinates), ``u``, ``v``, ``origin`` (Å),
    ``u_ax``, ``v_ax``.
    """
    shape = r.grid.shape
    src = np.unravel_index(r.source, shape)
    u_ax, v_ax = [d for d in range(3) if d != axis]
    # one cell centred on the minimum, closed with the periodic end point
    off = (int(src[u_ax]) - shape[u_ax] // 2, int(src[v_ax]) - shape[v_ax] // 2)
    sl = np.roll(np.take(data, k, axis=axis), (-off[0], -off[1]), axis=(0, 1))
    sl = np.pad(sl, [(0, 1), (0, 1)], mode="wrap")
    lat = r.grid.lattice
    u, v = lat[u_ax], lat[v_ax]
    e1 = u / np.linalg.norm(u)
    v_perp = v - np.dot(v, e1) * e1
    e2 = v_perp / np.linalg.norm(v_perp)
    fu = (np.arange(shape[u_ax] + 1) + off[0]) / shape[u_ax]
    fv = (np.arange(shape[v_ax] + 1) + off[1]) / shape[v_ax]
    origin = (k / shape[axis]) * lat[axis]
    P = fu[:, None, None] * u + fv[None, :, None] * v + origin
    return dict(sl=sl, X=P @ e1, Y=P @ e2, e1=e1, e2=e2, fu=fu, fv=fv, u=u, v=v, origin=origin, u_ax=u_ax, v_ax=v_ax)


def _draw_slice_field(ax, r, g: dict, vmax: float):
    """Grey cell (forbidden nodes), the field in viridis and labelled contours at the percolation energies."""
    import matplotlib
    from matplotlib.patches import Polygon

    corners = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=np.float64) + np.array([g["fu"][0], g["fv"][0]])
    cell = (corners[:, :1] * g["u"] + corners[:, 1:] * g["v"] + g["origin"])
    ax.add_patch(Polygon(np.column_stack([cell @ g["e1"], cell @ g["e2"]]), closed=True, facecolor=_SLICE_GREY,
                         edgecolor="none", zorder=0))
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad=_SLICE_GREY, over="#fff7bc")
    X, Y, sl = g["X"], g["Y"], g["sl"]
    mesh = ax.pcolormesh(X, Y, np.ma.masked_invalid(sl), shading="gouraud", cmap=cmap, vmin=0.0, vmax=vmax, zorder=1)
    levels = sorted({e for e in _finite_thresholds(r).values()})
    finite = np.ma.masked_invalid(sl)  # no contour along the edge of forbidden nodes
    if levels and finite.count() and np.ptp(finite.compressed()) > 0:
        names = {}
        for d, e in _finite_thresholds(r).items():
            names.setdefault(e, []).append("MPE" if d == 1 else f"{d}D")
        cs = ax.contour(X, Y, finite, levels=levels, colors="black", linewidths=0.9, zorder=2)
        ax.clabel(cs, fmt={lv: f"{'/'.join(names[lv])} {lv:.2f}" for lv in cs.levels}, fontsize=7, inline=True)
    ax.plot([], [], color="black", lw=0.9, label="percolation energies")
    return mesh


def _label_slice(fig, ax, mesh, g: dict, *, field: str, axis: int, k: int, n_axis: int) -> None:
    """Axis labels (Å), limits, colour bar, legend below the axes and the title."""
    from matplotlib.patches import Patch

    names = "abc"
    X, Y = g["X"], g["Y"]
    ax.set_xlabel(f"x along {names[g['u_ax']]} (Å)")
    ax.set_ylabel(f"y in the {names[g['u_ax']]}{names[g['v_ax']]} plane (Å)")
    ax.set_xlim(float(X.min()), float(X.max()))
    ax.set_ylim(float(Y.min()), float(Y.max()))
    ax.set_aspect("equal")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(facecolor=_SLICE_GREY, edgecolor="none"))
    labels.append("forbidden / unreachable")
    what = "energy E - E_min" if field == "energy" else "level (minimax from the minimum)"
    fig.colorbar(mesh, ax=ax, label=f"{what} (eV)", extend="max", shrink=0.85)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 4), fontsize=8, frameon=False)
    ax.set_title(f"{field} at {names[axis]} = {k}/{n_axis} (slice through the minimum)", fontsize=10)


def arrhenius_plot(transport_result: Any, *, figsize=(9.0, 3.8)):
    """Arrhenius plot of a transport result: D and sigma against 1000/T, with the fitted activation energy.

    Parameters
    ----------
    transport_result : TransportResult
        From ``ionnet.transport``: ``temperatures`` (nT,) K, ``D`` (nT, 3, 3)
        cm²/s, ``D_mean`` (nT,) cm²/s, ``sigma`` (nT,) S/cm, ``ea`` eV and
        ``ea_range`` (T_min, T_max) K of the fit.
    figsize : (width, height), inches

    Returns
    -------
    matplotlib.figure.Figure
        Left: ``D_mean`` and the principal values of ``D`` (eigenvalues;
        zero ones are left out of the log axis), right: sigma; both on log
        axes against 1000/T with T (K) on the top axis; the dashed line is
        the Arrhenius law exp(-Ea / kT) through ``D_mean`` over ``ea_range``.
    """
    tr = transport_result
    T = np.asarray(tr.temperatures, dtype=np.float64)
    D = np.asarray(tr.D, dtype=np.float64)
    D_mean = np.asarray(tr.D_mean, dtype=np.float64)
    sigma = np.asarray(tr.sigma, dtype=np.float64)
    ea = float(tr.ea)
    t_lo, t_hi = (float(x) for x in tr.ea_range)
    if T.ndim != 1 or len(T) < 2 or D_mean.shape != T.shape or sigma.shape != T.shape or D.shape != (len(T), 3, 3):
        from ..errors import IonnetError

        raise IonnetError(
            "a transport result needs temperatures (nT,), D (nT, 3, 3), D_mean (nT,) and sigma (nT,) with nT >= 2"
        )
    x = 1000.0 / T
    order = np.argsort(x)
    fig = _figure(figsize)
    ax_d, ax_s = fig.subplots(1, 2)
    principal = np.linalg.eigvalsh(0.5 * (D + np.transpose(D, (0, 2, 1))))  # (nT, 3) ascending
    # eigenvalues below PRINCIPAL_MIN_FRACTION of the largest are blocked directions (zero up to round-off)
    shown = principal > PRINCIPAL_MIN_FRACTION * principal[:, -1:]
    for j, (ls, name) in enumerate(zip((":", "-.", "--"), ("smallest", "middle", "largest"))):
        y = principal[:, j]
        ok = shown[:, j]
        if ok.sum() >= 2:
            ax_d.plot(x[ok][np.argsort(x[ok])], y[ok][np.argsort(x[ok])], ls=ls, color="#1f77b4", lw=1.0,
                      label=f"D principal ({name})")
    ok = D_mean > 0
    ax_d.plot(x[order][ok[order]], D_mean[order][ok[order]], "o-", color="black", ms=4, lw=1.6, label="D mean")
    fit = (T >= t_lo - 1e-9) & (T <= t_hi + 1e-9) & (D_mean > 0)
    if fit.sum() >= 1 and np.isfinite(ea):
        # prefactor by least squares on log D with the slope fixed at -Ea/k
        log_d0 = np.mean(np.log(D_mean[fit]) + ea / (K_B_EV * T[fit]))
        xs = np.linspace(1000.0 / t_hi, 1000.0 / t_lo, 50)
        ax_d.plot(xs, np.exp(log_d0 - ea * xs / (1000.0 * K_B_EV)), "--", color="#d62728", lw=1.4,
                  label=f"Ea = {ea:.2f} eV ({t_lo:.0f}-{t_hi:.0f} K)")
    ok = sigma > 0
    ax_s.plot(x[order][ok[order]], sigma[order][ok[order]], "s-", color="#2ca02c", ms=4, lw=1.6, label="sigma")
    for ax, ylabel in ((ax_d, "D (cm²/s)"), (ax_s, "conductivity sigma (S/cm)")):
        ax.set_yscale("log")
        ax.set_xlabel("1000 / T (1/K)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        top = ax.secondary_xaxis("top", functions=(lambda v: 1000.0 / np.maximum(v, 1e-9),
                                                    lambda v: 1000.0 / np.maximum(v, 1e-9)))
        top.set_xlabel("T (K)")
        top.set_xticks(_temperature_ticks(T.min(), T.max()))
    ax_d.legend(fontsize=7, loc="lower left")
    return fig


#: Principal values of D below this fraction of the largest are not drawn (blocked directions: zero up to round-off).
PRINCIPAL_MIN_FRACTION = 1e-8


def _temperature_ticks(t_min: float, t_max: float) -> list[float]:
    """Round temperatures (K) for the top axis of an Arrhenius plot, spaced so the labels do not overlap."""
    nice = [100, 150, 200, 250, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000, 3000]
    ticks = [t for t in nice if t_min - 1e-9 <= t <= t_max + 1e-9]
    out: list[float] = []
    for t in ticks:  # keep ticks at least 0.12 apart in 1000/T
        if not out or abs(1000.0 / out[-1] - 1000.0 / t) >= 0.12:
            out.append(t)
    return out
