"""3D scenes with pyvista, rendered off screen: pathways, components, PNG and HTML output.

pyvista is imported inside the functions; nothing here calls ``show()``.
"""
from __future__ import annotations

import io
import json
import logging
import os
import sys
import zipfile
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError, RenderError

__all__ = [
    "RenderError",
    "pathways",
    "channel_threshold",
    "components",
    "component_surfaces",
    "level_surface",
    "save",
    "export_html",
    "default_thresholds",
]

logger = logging.getLogger(__name__)

MAX_SUPERCELL_CELLS = 64


# ----------------------------------------------------------------------------- setup
def _pyvista():
    """Import pyvista for off-screen rendering (EGL when there is no display)."""
    if sys.platform.startswith("linux") and not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        import ctypes.util

        if ctypes.util.find_library("EGL"):
            # VTK would first try X11, print "bad X server connection", then fall back
            os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    try:
        import pyvista as pv
    except ImportError as e:
        raise BackendUnavailableError("rendering needs pyvista: pip install 'ionnet[render]'") from e
    pv.OFF_SCREEN = True
    return pv


def _new_plotter(pv, window_size):
    try:
        w, h = (int(x) for x in window_size)
    except (TypeError, ValueError):
        raise RenderError(f"`window_size` must be (width, height) in pixels (got {window_size!r})") from None
    if w < 16 or h < 16:
        raise RenderError(f"`window_size` must be at least 16x16 pixels (got {window_size!r})")
    p = pv.Plotter(off_screen=True, window_size=(w, h))
    p.set_background("white")
    p.enable_depth_peeling()
    try:
        p.enable_anti_aliasing("ssaa")
    except Exception:  # noqa: BLE001 - anti-aliasing is cosmetic; some GL contexts lack it
        pass
    return p


def _as_result(result: Any):
    if hasattr(result, "lowest") and hasattr(result, "level_map"):  # a result or a set: its lowest map
        result = result.lowest()
    if not (hasattr(result, "level_map") and hasattr(result, "grid")):
        raise RenderError(
            f"expected a PercolationResult (got {type(result).__name__}); run ionnet.analyze(grid) first"
        )
    return result


def _check_supercell(supercell) -> tuple[int, int, int]:
    try:
        sc = tuple(int(s) for s in supercell)
    except (TypeError, ValueError):
        raise RenderError(f"`supercell` must be three positive integers (got {supercell!r})") from None
    if len(sc) != 3 or min(sc) < 1:
        raise RenderError(f"`supercell` must be three positive integers (got {supercell!r})")
    if sc[0] * sc[1] * sc[2] > MAX_SUPERCELL_CELLS:
        raise RenderError(
            f"`supercell` {sc} has {sc[0] * sc[1] * sc[2]} cells; at most {MAX_SUPERCELL_CELLS} are rendered"
        )
    return sc  # type: ignore[return-value]


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


def _check_thresholds(thresholds) -> list[float]:
    try:
        ts = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]
    except (TypeError, ValueError):
        raise RenderError(f"`thresholds` must be numbers in eV (got {thresholds!r})") from None
    if not ts or not all(np.isfinite(ts)):
        raise RenderError(f"`thresholds` must be finite energies in eV (got {thresholds!r})")
    return ts


# ------------------------------------------------------------------------- geometry
def _structured(pv, values: NDArray[np.float64], lattice: NDArray[np.float64], cell_shape, origin_idx=(0, 0, 0)):
    """StructuredGrid of ``values`` (nodes at (origin_idx + index) / cell_shape @ lattice, Å)."""
    dims = values.shape
    idx = np.indices(dims, dtype=np.float64).reshape(3, -1, order="F").T
    idx = (idx + np.asarray(origin_idx, dtype=np.float64)) / np.asarray(cell_shape, dtype=np.float64)
    g = pv.StructuredGrid()
    g.points = idx @ lattice
    g.dimensions = dims
    g.point_data["values"] = np.ravel(values, order="F")
    return g


def _finite_fill(a: NDArray[np.float64], above: float) -> NDArray[np.float64]:
    fin = a[np.isfinite(a)]
    top = max(float(fin.max()) if fin.size else 0.0, above) + 1.0
    return np.where(np.isfinite(a), a, top)


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


def _cell_edges(lattice: NDArray[np.float64], scale=(1, 1, 1)) -> NDArray[np.float64]:
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
    corners = corners * np.asarray(scale, dtype=np.float64)
    pairs = [(a, b) for a in range(8) for b in range(a + 1, 8) if np.abs(corners[a] - corners[b]).astype(bool).sum() == 1]
    cart = corners @ lattice
    return np.array([[cart[a], cart[b]] for a, b in pairs])  # (12, 2, 3)


def _add_cell(pv, plotter, lattice, supercell=(1, 1, 1), origin_frac=(0.0, 0.0, 0.0)) -> None:
    """The unit cell (black) and, if larger, the supercell outline (grey), starting at ``origin_frac``."""
    shift = np.asarray(origin_frac, dtype=np.float64) @ lattice
    if tuple(supercell) != (1, 1, 1):
        segs = _cell_edges(lattice, supercell) + shift
        plotter.add_mesh(
            pv.line_segments_from_points(segs.reshape(-1, 3)), color="grey", line_width=1, name="supercell"
        )
    segs = _cell_edges(lattice) + shift
    plotter.add_mesh(
        pv.line_segments_from_points(segs.reshape(-1, 3)), color="black", line_width=3, name="cell",
        render_lines_as_tubes=True,
    )


# --------------------------------------------------------------------- annotation
#: Jmol colours, except P (VESTA's lavender: Jmol's P and Fe are both orange).
_COLOR_OVERRIDES = {"P": (0.75, 0.61, 0.76)}


def _element_style(symbol: str) -> tuple[tuple[float, float, float], float]:
    """(RGB colour, sphere radius in Å) of an element: Jmol colours, 0.4 x covalent radius."""
    try:
        from ase.data import atomic_numbers, covalent_radii
        from ase.data.colors import jmol_colors

        z = atomic_numbers.get(symbol, 0)
        rgb = _COLOR_OVERRIDES.get(symbol, tuple(float(c) for c in jmol_colors[z]))
        r = float(np.clip(0.4 * covalent_radii[z], 0.22, 0.9)) if z else 0.35
        return rgb, r  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - ase is in the structures extra
        import colorsys

        h = sum(map(ord, symbol)) * 0.137 % 1.0
        return colorsys.hsv_to_rgb(h, 0.6, 0.9), 0.4


def _symbols(structure) -> NDArray:
    out = []
    for site in structure.sites:
        sp = site.specie if hasattr(site, "specie") else site.species.elements[0]
        el = getattr(sp, "element", sp)
        out.append(str(getattr(el, "symbol", sp)))
    return np.asarray(out)


def _formula(result) -> str:
    """Reduced formula of the scanned compound (framework plus the removed mobile ions)."""
    st = result.grid.structure
    md = result.grid.metadata
    if st is None or not hasattr(st, "composition"):
        return ""
    try:
        comp = st.composition
        ion, n = md.get("ion"), int(md.get("n_removed") or 0)
        if ion and n and md.get("framework") == "empty":
            from pymatgen.core import Composition

            comp = comp + Composition({ion: n})
        return comp.reduced_formula
    except Exception:  # noqa: BLE001 - a title is decoration
        return ""


def _model_name(md: dict) -> str:
    model = str(md.get("model") or "")
    head = model.split(":")[0].lower()
    return {"bvse": "BVSE", "m3gnet": "M3GNet", "chgnet": "CHGNet"}.get(head, model)


def _direction_name(vectors) -> str:
    """Human name of the winding vectors of a component: 'b', '[110]', 'ab plane', '(011) plane', '3D'."""
    w = np.asarray(vectors, dtype=np.int64).reshape(-1, 3)
    if len(w) == 0:
        return ""
    rank = int(np.linalg.matrix_rank(w.astype(np.float64)))
    if rank >= 3:
        return "a, b, c"
    if rank == 1:
        v = w[np.argmin(np.abs(w).sum(axis=1) + 1000 * (np.abs(w).sum(axis=1) == 0))]
        v = v // np.gcd.reduce(np.abs(v))
        if v[np.flatnonzero(v)[0]] < 0:
            v = -v
        if (np.abs(v) == 1).sum() == 1 and (v != 0).sum() == 1:
            return "abc"[int(np.flatnonzero(v)[0])]
        return "[" + "".join(f"{x:d}" if x >= 0 else f"\u0305{-x:d}" for x in v) + "]"
    # a plane: Miller indices from the cross product of two independent windings
    best = None
    for i in range(len(w)):
        for j in range(i + 1, len(w)):
            n = np.cross(w[i], w[j])
            if np.any(n) and (best is None or np.abs(n).sum() < np.abs(best).sum()):
                best = n
    n = best // np.gcd.reduce(np.abs(best))
    if n[np.flatnonzero(n)[0]] < 0:
        n = -n
    if (n != 0).sum() == 1:
        return {0: "bc plane", 1: "ac plane", 2: "ab plane"}[int(np.flatnonzero(n)[0])]
    return "(" + " ".join(str(int(x)) for x in n) + ") plane"


def _nice_scale(lo: float, hi: float, n: int = 6) -> tuple[float, float, int, str]:
    """Round colour-bar limits: (vmin, vmax, number of labels, printf format) with round ticks."""
    from matplotlib.ticker import MaxNLocator

    lo, hi = float(lo), float(hi)
    if not hi > lo:
        lo, hi = lo - 0.05, hi + 0.05
    ticks = np.asarray(MaxNLocator(nbins=n - 1, steps=[1, 2, 5, 10]).tick_values(lo, hi), dtype=np.float64)
    step = float(ticks[1] - ticks[0])
    first = float(ticks[ticks <= lo + 1e-9 * step].max())  # the locator brackets [lo, hi]
    last = float(ticks[ticks >= hi - 1e-9 * step].min())
    count = int(round((last - first) / step)) + 1
    decimals = max(0, int(np.ceil(-np.log10(step) - 1e-9)))
    return first, last, count, f"%.{decimals}f"


# ------------------------------------------------------------------- scene parts
def _images_in_box(frac: NDArray[np.float64], box=(1, 1, 1), tol: float = 1e-6,
                   origin_frac=(0.0, 0.0, 0.0)) -> tuple[NDArray, NDArray]:
    """All periodic images of ``frac`` inside [o, o + box] (inclusive, fractional); (points, source index)."""
    o = np.asarray(origin_frac, dtype=np.float64)
    frac = np.mod(np.asarray(frac, dtype=np.float64).reshape(-1, 3) - o, 1.0)
    frac[np.isclose(frac, 1.0, atol=tol)] = 0.0
    shifts = np.array(
        [[i, j, k] for i in range(box[0] + 1) for j in range(box[1] + 1) for k in range(box[2] + 1)], dtype=np.float64
    )
    pts = (frac[:, None, :] + shifts[None, :, :]).reshape(-1, 3)
    src = np.repeat(np.arange(len(frac)), len(shifts))
    keep = np.all((pts >= -tol) & (pts <= np.asarray(box) + tol), axis=1)
    return pts[keep] + o, src[keep]


def _add_atoms(pv, plotter, structure, lattice, box=(1, 1, 1), *, resolution: int = 20,
               origin_frac=(0.0, 0.0, 0.0)) -> list[tuple[str, tuple]]:
    """Framework atoms as spheres; returns legend entries ``(symbol, rgb)``."""
    if structure is None or not hasattr(structure, "frac_coords") or len(structure) == 0:
        return []
    symbols = _symbols(structure)
    entries = []
    for sym in dict.fromkeys(symbols.tolist()):
        pts, _ = _images_in_box(np.asarray(structure.frac_coords)[symbols == sym], box, origin_frac=origin_frac)
        if not len(pts):
            continue
        rgb, radius = _element_style(sym)
        cloud = pv.PolyData(pts @ lattice)
        sphere = pv.Sphere(radius=radius, theta_resolution=resolution, phi_resolution=resolution)
        spheres = cloud.glyph(geom=sphere, scale=False, orient=False)
        plotter.add_mesh(spheres, color=rgb, smooth_shading=True, specular=0.3, name=f"atoms-{sym}")
        entries.append((sym, rgb))
    return entries


def _site_paths(sites, box, max_energy: float | None, origin_frac=(0.0, 0.0, 0.0)):
    """Polyline segments site -> saddle -> site inside the box (fractional), with their barriers (eV)."""
    segs, vals = [], []
    tol = 1e-6
    o = np.floor(np.asarray(origin_frac, dtype=np.float64))
    lo_box = np.asarray(origin_frac, dtype=np.float64)
    hi_box = lo_box + np.asarray(box)
    cells = np.array([[i, j, k] for i in range(-1, box[0] + 2) for j in range(-1, box[1] + 2)
                      for k in range(-1, box[2] + 2)], dtype=np.float64)
    barrier = sites.saddle_energies - np.minimum(sites.energies[sites.edges[:, 0]], sites.energies[sites.edges[:, 1]])
    for m, (i, j) in enumerate(sites.edges):
        if max_energy is not None and sites.saddle_energies[m] > max_energy:
            continue
        a = sites.frac_coords[i]
        b = sites.frac_coords[j] + sites.images[m]
        s = sites.saddle_frac[m]
        s = s + np.round((a + b) / 2 - s)  # saddle image between the two sites
        for c in cells:
            path = np.array([a, s, b]) + c + o
            if np.all(path >= lo_box - tol) and np.all(path <= hi_box + tol):
                segs.append(path)
                vals.append(barrier[m])
    return segs, np.asarray(vals, dtype=np.float64)


def _add_site_graph(pv, plotter, sites, box=(1, 1, 1), *, max_energy: float | None = None,
                    bar_title: str = "barrier (eV)", origin_frac=(0.0, 0.0, 0.0)) -> bool:
    """Sites as dark balls, site-saddle-site tubes coloured by barrier; True when sites were drawn."""
    if sites.n_sites == 0:
        return False
    lat = sites.lattice
    keep_site = np.ones(sites.n_sites, bool) if max_energy is None else sites.energies <= max_energy
    pts, _ = _images_in_box(sites.frac_coords[keep_site], box, origin_frac=origin_frac)
    if not len(pts):
        return False
    cloud = pv.PolyData(pts @ lat)
    balls = cloud.glyph(geom=pv.Sphere(radius=0.16, theta_resolution=12, phi_resolution=12), scale=False, orient=False)
    plotter.add_mesh(balls, color="#222222", smooth_shading=True, name="sites")
    if len(sites.edges) == 0:
        return True
    segs, vals = _site_paths(sites, box, max_energy, origin_frac)
    if not segs:
        return True
    pts = np.concatenate(segs) @ lat
    lines = np.concatenate([[3, 3 * q, 3 * q + 1, 3 * q + 2] for q in range(len(segs))])
    poly = pv.PolyData(pts, lines=lines)
    poly.point_data[bar_title] = np.repeat(vals, 3)
    tubes = poly.tube(radius=0.06, n_sides=10)
    vmin, vmax, n_labels, fmt = _nice_scale(float(vals.min()), float(vals.max()))
    plotter.add_mesh(
        tubes, scalars=bar_title, cmap="plasma", clim=(vmin, vmax), name="saddles", smooth_shading=True,
        scalar_bar_args={
            "title": "", "color": "black", "vertical": False, "n_labels": n_labels, "fmt": fmt,
            "position_x": 0.70, "position_y": 0.02, "width": 0.27, "height": 0.06,
            "label_font_size": 12, "font_family": "arial",
        },
    )
    plotter.add_text(bar_title, position=(int(0.70 * plotter.window_size[0]), int(0.085 * plotter.window_size[1])),
                     font_size=10, color="black", name="saddle-bar-title")
    return True


def _add_triad(plotter, lattice, origin_cart=(0.0, 0.0, 0.0)) -> None:
    """a/b/c arrows (red, green, blue) along the lattice vectors in the lower-left corner."""
    import vtk

    plotter._ionnet_lattice = np.asarray(lattice, dtype=np.float64)  # for the HTML export's in-scene arrows
    plotter._ionnet_origin = np.asarray(origin_cart, dtype=np.float64)

    plotter.add_axes(
        xlabel="a", ylabel="b", zlabel="c", x_color="#d62728", y_color="#2ca02c", z_color="#1f5fd1",
        line_width=3, viewport=(0.0, 0.0, 0.2, 0.26), interactive=False,
    )
    actor = plotter.renderer.axes_actor
    m = vtk.vtkMatrix4x4()
    unit = lattice / np.linalg.norm(lattice, axis=1)[:, None]
    for i in range(3):
        for j in range(3):
            m.SetElement(i, j, float(unit[j, i]))  # column j: direction of lattice vector j
    actor.SetUserMatrix(m)
    for cap in (actor.GetXAxisCaptionActor2D(), actor.GetYAxisCaptionActor2D(), actor.GetZAxisCaptionActor2D()):
        prop = cap.GetCaptionTextProperty()
        prop.SetColor(0.0, 0.0, 0.0)
        prop.SetFontSize(18)
        prop.BoldOn()
        prop.ShadowOff()
        prop.ItalicOn()


def _legend_symbol(pv, rgb, face: str):
    """Legend symbol with its own RGB point colours: a shaded disc (a sphere) or a flat square."""
    base = np.asarray(rgb, dtype=np.float64)[:3]
    if face == "circle":
        n_r, n_t = 8, 32
        r = np.linspace(0.0, 1.0, n_r + 1)
        th = np.linspace(0.0, 2 * np.pi, n_t, endpoint=False)
        R, T = np.meshgrid(r, th, indexing="ij")
        pts = np.column_stack([(R * np.cos(T)).ravel(), (R * np.sin(T)).ravel(), np.zeros(R.size)])
        nz = np.sqrt(np.clip(1.0 - (pts[:, 0] ** 2 + pts[:, 1] ** 2), 0.0, 1.0))
        normal = np.column_stack([pts[:, 0], pts[:, 1], nz])
        light = np.array([-0.45, 0.55, 0.70])
        light /= np.linalg.norm(light)
        diffuse = np.clip(normal @ light, 0.0, 1.0)
        half = light + np.array([0.0, 0.0, 1.0])
        half /= np.linalg.norm(half)
        spec = np.clip(normal @ half, 0.0, 1.0) ** 24
        colour = base[None, :] * (0.35 + 0.65 * diffuse[:, None]) + 0.45 * spec[:, None]
        faces = []
        for i in range(n_r):
            for j in range(n_t):
                a, b = i * n_t + j, i * n_t + (j + 1) % n_t
                faces.append([4, a, b, b + n_t, a + n_t])
        poly = pv.PolyData(pts, np.concatenate(faces))
    else:
        pts = np.array([[-1.0, -0.8, 0.0], [1.0, -0.8, 0.0], [1.0, 0.8, 0.0], [-1.0, 0.8, 0.0]])
        poly = pv.PolyData(pts, np.array([4, 0, 1, 2, 3]))
        colour = np.repeat(base[None, :], 4, axis=0)
    poly.point_data["rgb"] = (np.clip(colour, 0.0, 1.0) * 255).astype(np.uint8)
    poly.point_data.active_scalars_name = "rgb"
    return poly


def _add_legend(pv, plotter, entries: list, *, width: float | None = None) -> None:
    """One legend box, upper right: ``entries`` are ``(label, colour, face)``, face 'rectangle' or 'circle'.

    Symbols carry their own colours (circles are shaded like spheres) and the
    text is black, so light colours stay readable.
    """
    if not entries:
        return
    import vtk
    from matplotlib.colors import to_rgb

    legend = vtk.vtkLegendBoxActor()
    legend.SetNumberOfEntries(len(entries))
    for i, (label, colour, face) in enumerate(entries):
        legend.SetEntry(i, _legend_symbol(pv, to_rgb(colour), face), str(label), [0.0, 0.0, 0.0])
    legend.ScalarVisibilityOn()
    legend.UseBackgroundOn()
    legend.SetBackgroundColor(1.0, 1.0, 1.0)
    legend.SetBackgroundOpacity(0.85)
    legend.BorderOn()
    legend.GetProperty().SetColor(0.6, 0.6, 0.6)
    prop = legend.GetEntryTextProperty()
    prop.SetFontFamilyToArial()
    prop.SetColor(0.0, 0.0, 0.0)
    prop.ShadowOff()
    prop.BoldOff()
    prop.ItalicOff()
    if width is None:  # text scales to fit the box: size the box to the longest label
        longest = max(len(str(label)) for label, _, _ in entries)
        width = float(np.clip(0.0105 * longest + 0.05, 0.12, 0.3))
    height = min(0.04 * len(entries) + 0.015, 0.62)
    legend.GetPositionCoordinate().SetCoordinateSystemToNormalizedViewport()
    legend.GetPositionCoordinate().SetValue(0.995 - width, 0.985 - height)
    legend.GetPosition2Coordinate().SetCoordinateSystemToNormalizedViewport()
    legend.GetPosition2Coordinate().SetValue(width, height)
    plotter.add_actor(legend, name="legend", reset_camera=False, pickable=False)


# ----------------------------------------------------------------------- camera
VIEWS = ("a", "b", "c", "iso")


def _auto_view(result, comps) -> tuple[str, NDArray | None]:
    """The default camera: ('a'|'b'|'c'|'iso', channel direction (3,) Cartesian or None).

    1D: along the lattice axis perpendicular to the channel that shows the
    channel longest on screen; 2D: along the plane's normal axis; 3D or
    nothing percolating: iso.
    """
    lat = result.grid.lattice
    dims = comps.dimensionality if comps is not None and comps.n_components else np.zeros(0, int)
    if dims.size == 0 or dims.max() == 0:
        return "iso", None
    top = int(dims.max())
    if top == 3:
        return "iso", None
    k = int(np.flatnonzero(dims == top)[0])
    w = np.asarray(comps.windings[k], dtype=np.float64)
    if top == 1:
        v = w[np.argmax(np.abs(w).sum(axis=1))]
        d = v @ lat
        d /= np.linalg.norm(d)
        cand = [i for i in range(3) if abs(v[i]) == 0] or list(range(3))
        # look along the shortest perpendicular axis: least depth, so channels stack least
        cos = [abs(np.dot(lat[i] / np.linalg.norm(lat[i]), d)) for i in cand]
        best = min(cand, key=lambda i: (cos[cand.index(i)] > 0.1, np.linalg.norm(lat[i])))
        return "abc"[best], d
    n = np.cross(w[0] @ lat, w[-1] @ lat)
    for q in range(len(w)):
        for r in range(q + 1, len(w)):
            c = np.cross(w[q] @ lat, w[r] @ lat)
            if np.linalg.norm(c) > 1e-9:
                n = c
                break
    n /= np.linalg.norm(n)
    best = int(np.argmax([abs(np.dot(lat[i] / np.linalg.norm(lat[i]), n)) for i in range(3)]))
    return "abc"[best], None


def _set_camera(plotter, lattice, view: str, *, across=None, tilt: bool = True) -> None:
    """Look along lattice axis ``view`` ('a', 'b', 'c') or 'iso', fitted to the scene.

    ``across`` (Cartesian) is drawn horizontally (the channel); ``tilt`` turns
    the camera ~15 degrees off the axis so stacked channels and the depth show.
    """
    if view == "iso":
        plotter.camera_position = "iso"
        plotter.reset_camera()
        return
    k = "abc".index(view)
    d = lattice[k] / np.linalg.norm(lattice[k])
    if across is not None and np.linalg.norm(np.cross(d, across)) > 1e-6:
        up = np.cross(d, across)  # the channel runs left to right
    else:
        other = lattice[2] if k != 2 else lattice[1]
        up = other - np.dot(other, d) * d
    up = up / np.linalg.norm(up)
    bounds = np.asarray(plotter.bounds, dtype=np.float64).reshape(3, 2)
    centre = bounds.mean(axis=1)
    cam = plotter.camera
    cam.focal_point = tuple(centre)
    cam.position = tuple(centre + d * 100.0)
    cam.up = tuple(up)
    if tilt:
        cam.Elevation(14.0)
        cam.Azimuth(-12.0)
        cam.OrthogonalizeViewUp()
    plotter.reset_camera()


def _finish(plotter, title: str | None, *, view: str = "iso", lattice=None, across=None, tilt: bool = True,
            zoom: float = 1.0) -> None:
    if title:
        plotter.add_text(title, position="upper_left", font_size=11, color="black", name="title")
    if lattice is None:
        plotter.camera_position = "iso"
        plotter.reset_camera()
    else:
        _set_camera(plotter, lattice, view, across=across, tilt=tilt)
    if zoom != 1.0:
        plotter.camera.zoom(zoom)


# ----------------------------------------------------------------- components
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


def _threshold_text(result) -> str:
    pe = result.percolation_energy
    dirs = result.percolation_directions
    if not np.isfinite(pe[1]):
        return "no percolation within the scanned range"
    top = max(d for d in (1, 2, 3) if pe[d] <= pe[1] + 1e-6)  # 2D/3D already at the MPE
    if top == 1:
        bits = [f"MPE {pe[1]:.2f} eV along {_direction_name(dirs[1])}"]
    elif top == 2:
        bits = [f"MPE {pe[1]:.2f} eV, 2D in the {_direction_name(dirs[2])}"]
    else:
        bits = [f"MPE {pe[1]:.2f} eV, 3D"]
    for d in range(top + 1, 4):
        if np.isfinite(pe[d]):
            bits.append(f"{d}D {pe[d]:.2f} eV")
    return ", ".join(bits)


def _auto_title(result, t_main: float) -> str:
    md = result.grid.metadata
    head = [b for b in (_formula(result), md.get("ion") and f"{md['ion']} probe", _model_name(md)) if b]
    if md.get("framework") == "empty":
        head.append("empty framework")
    lines = []
    if head:
        lines.append(", ".join(head))
    lines.append(_threshold_text(result))
    lines.append(f"surface: E - E_min <= {t_main:.2f} eV")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- scenes
def pathways(
    result: Any,
    thresholds: Sequence[float] | None = None,
    supercell: Sequence[int] = (2, 2, 2),
    show_atoms: bool = True,
    show_sites: bool = True,
    *,
    margin: float = 0.05,
    channel: bool = True,
    show_pockets: bool = True,
    view: str | None = None,
    opacity: float = 0.25,
    window_size: Sequence[int] = (1024, 768),
    title: str | None = None,
    resolution: int = 20,
    recentre: bool = True,
    channel_opacity: float = 0.6,
):
    """The percolating volume just above the MPE over a periodic supercell: the answer in one picture.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
        From :func:`ionnet.analyze` (a set draws its lowest-energy map).
    thresholds : sequence of float, eV, optional
        Extra level-map isovalues (eV above the minimum), each drawn as one
        translucent surface of the region reachable from the minimum, e.g.
        the 2D and 3D thresholds.  Default: none.
    supercell : (3,) int
        Repetitions along a, b, c (at most 64 cells in total).
    show_atoms : bool
        Framework atoms from ``result.grid.structure`` as spheres (Jmol
        colours, P lavender; radius 0.4 x covalent radius).
    show_sites : bool
        Site graph open below the channel energy: sites as dark balls,
        site-saddle-site paths as tubes coloured by barrier (eV; saddle minus
        the lower of its two sites) on a colour bar with round ticks.
    margin : float, eV
        The channel surface encloses ``E - E_min <= MPE + margin``
        (:func:`channel_threshold`).
    channel : bool
        Draw the channel surface (components coloured by dimensionality).
    channel_opacity : float
        Opacity of the channel surface (translucent so the sites inside show).
    show_pockets : bool
        Also draw the finite pockets below the channel energy (light grey).
    view : {'a', 'b', 'c', 'iso'}, optional
        Look along a lattice vector, or isometric.  Default: along the axis
        perpendicular to the fastest direction (1D: across the channel, 2D:
        down the plane's normal, 3D: iso), tilted ~15 degrees.
    opacity : float
        Opacity of the ``thresholds`` surfaces.
    window_size : (width, height), pixels
    title : str, optional
        Text in the top-left corner.  Default: formula, probe ion, model,
        MPE with its direction and the 2D/3D thresholds.
    resolution : int
        Sphere resolution of the atoms (lower it for lighter HTML pages).
    recentre : bool
        Start the shown cells at the grid plane (per axis) that cuts the
        channels least, instead of at the origin, when the origin plane
        would cut them clearly more (e.g. Li3N's Li2N layer at c = 0); the
        cell box moves with it.

    Returns
    -------
    pyvista.Plotter
        Off screen; save it with :func:`save` or :func:`export_html`.  Actors:
        ``channel-<id>`` per percolating component, ``pockets``,
        ``threshold-<k>``, ``atoms-<element>``, ``sites``, ``saddles``,
        ``cell``, ``supercell``, ``legend``, ``title``.

    Notes
    -----
    Components of ``{E - E_min <= t}`` come from
    :func:`~ionnet.render.components.periodic_components` on the unit cell
    (their dimensionality and winding directions are exact); each is drawn
    over the tiled supercell with the periodic end point, so surfaces close
    across inner cell faces and stop at the box.  Nodes sit at
    ``index / shape @ lattice`` (Å) on a ``StructuredGrid``, correct for
    non-orthogonal lattices.
    """
    from .components import periodic_components

    pv = _pyvista()
    result = _as_result(result)
    sc = _check_supercell(supercell)
    extra = [] if thresholds is None else _check_thresholds(thresholds)
    if view is not None and view not in VIEWS:
        raise RenderError(f"`view` must be one of {', '.join(VIEWS)} (got {view!r})")
    lat = result.grid.lattice
    t_main = channel_threshold(result, margin=margin)
    comps = periodic_components(result, t_main, connectivity=result.connectivity)
    plotter = _new_plotter(pv, window_size)
    legend: list = []

    perc = [c for c in range(1, comps.n_components + 1) if comps.dimensionality[c - 1] > 0]
    oi = _window_origin(comps, perc) if recentre else np.zeros(3, dtype=np.int64)
    of = oi / np.asarray(result.grid.shape, dtype=np.float64)
    if channel and comps.n_components:
        meshes = _tiled_component_meshes(pv, result, comps, perc, sc, oi)
        groups: dict = {}
        for rank, c in enumerate(perc):
            if c not in meshes:
                continue
            dim = int(comps.dimensionality[c - 1])
            colour = _component_colour(dim, rank, 0)
            plotter.add_mesh(meshes[c], color=colour, opacity=channel_opacity, smooth_shading=True, specular=0.4,
                             name=f"channel-{c}")
            groups.setdefault((dim, _direction_name(comps.windings[c - 1])), []).append(colour)
        for (dim, dirs), colours in sorted(groups.items()):
            what = {1: "1D channel", 2: "2D layer", 3: "3D network"}[dim]
            where = f" along {dirs}" if dim == 1 else (f" in the {dirs}" if dim == 2 else "")
            for k, colour in enumerate(colours[:4]):
                n = f" ({k + 1})" if len(colours) > 1 else ""
                legend.append([f"{what}{where}{n}", colour, "rectangle"])
            if len(colours) > 4:
                legend.append([f"... {len(colours) - 4} more", "#777777", "rectangle"])
        pockets = [c for c in range(1, comps.n_components + 1) if comps.dimensionality[c - 1] == 0]
        if show_pockets and pockets:
            pm = _tiled_component_meshes(pv, result, comps, [pockets], sc, oi)
            for surf in pm.values():
                plotter.add_mesh(surf, color="#b0b0b0", opacity=0.6, smooth_shading=True, name="pockets")
                legend.append([f"isolated pockets ({len(pockets)})", "#b0b0b0", "rectangle"])
    if extra:
        lev = _finite_fill(result.level_map, max(extra))
        lev = np.roll(lev, tuple(-int(x) for x in oi), axis=(0, 1, 2))
        tiled = np.pad(np.tile(lev, sc), [(0, 1)] * 3, mode="wrap")
        grid = _structured(pv, tiled, lat, result.grid.shape, origin_idx=oi)
        shades = ["#8c8cd9", "#d98cb3", "#8cd9c6", "#d9b38c", "#b3b3b3"]
        for rank, q in enumerate(np.argsort(extra)):
            t = extra[q]
            surf = grid.contour([t], scalars="values")
            if surf.n_points == 0:
                logger.info("nothing reachable below %.3f eV: no surface", t)
                continue
            dim = sum(1 for d in (1, 2, 3) if result.percolation_energy[d] <= t)
            colour = shades[rank % len(shades)]
            plotter.add_mesh(surf, color=colour, opacity=float(opacity), smooth_shading=True, name=f"threshold-{rank}")
            legend.append([f"reachable below {t:.2f} eV" + (f" ({dim}D)" if dim else ""), colour, "rectangle"])
    _add_cell(pv, plotter, lat, sc, of)
    if show_atoms:
        for sym, rgb in _add_atoms(pv, plotter, result.grid.structure, lat, sc, resolution=resolution, origin_frac=of):
            legend.append([sym, rgb, "circle"])
    if show_sites:
        top = max([t_main, *extra])
        if _add_site_graph(pv, plotter, result.sites(), sc, max_energy=top, origin_frac=of):
            legend.append([f"{result.grid.metadata.get('ion') or 'ion'} sites", "#222222", "circle"])
    _add_legend(pv, plotter, legend)
    _add_triad(plotter, lat, of @ lat)
    auto_view, across = _auto_view(result, comps)
    v = view or auto_view
    _finish(plotter, _auto_title(result, t_main) if title is None else title, view=v, lattice=lat,
            across=across if v == auto_view else None, tilt=view is None)
    return plotter


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


#: At most this many components get their own legend entry; the rest are summed up.
MAX_LEGEND_COMPONENTS = 8


def components(
    result: Any,
    t: float,
    *,
    supercell: Sequence[int] = (1, 1, 1),
    show_atoms: bool = True,
    connectivity: int | None = None,
    opacity: float = 0.55,
    view: str | None = None,
    window_size: Sequence[int] = (1024, 768),
    title: str | None = None,
    resolution: int = 20,
    recentre: bool = True,
):
    """Every connected component below energy ``t`` (eV above the minimum), each its own colour.

    Percolating components (those that wrap around the periodic cell) are
    opaque, coloured by dimensionality (1D blues, 2D greens, 3D oranges) and
    labelled with their winding directions; finite pockets are translucent
    pastels.  Surfaces are clipped to the shown cells.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
    t : float, eV
        Energy above the minimum.
    supercell : (3,) int
        Repetitions along a, b, c (default one cell).
    show_atoms : bool
    connectivity : {6, 18, 26}, optional
        Default: the result's.
    opacity : float
        Opacity of the pockets.
    view : {'a', 'b', 'c', 'iso'}, optional
        Default as in :func:`pathways`.
    window_size : (width, height), pixels
    title : str, optional
    resolution : int
        Sphere resolution of the atoms.
    recentre : bool
        As in :func:`pathways`.

    Returns
    -------
    pyvista.Plotter
        Actors ``component-1``, ``component-2``, ... in the order of
        :func:`~ionnet.render.components.periodic_components` (lowest
        energy first).
    """
    from .components import periodic_components

    pv = _pyvista()
    result = _as_result(result)
    sc = _check_supercell(supercell)
    t = _check_thresholds([t])[0]
    if view is not None and view not in VIEWS:
        raise RenderError(f"`view` must be one of {', '.join(VIEWS)} (got {view!r})")
    comps = periodic_components(result, t, connectivity=connectivity)
    lat = result.grid.lattice
    perc = [c for c in range(1, comps.n_components + 1) if comps.dimensionality[c - 1] > 0]
    oi = _window_origin(comps, perc) if recentre else np.zeros(3, dtype=np.int64)
    of = oi / np.asarray(result.grid.shape, dtype=np.float64)
    meshes = _tiled_component_meshes(pv, result, comps, list(range(1, comps.n_components + 1)), sc, oi)
    plotter = _new_plotter(pv, window_size)
    legend: list = []
    n_perc = n_pocket = 0
    for c in range(1, comps.n_components + 1):
        dim = int(comps.dimensionality[c - 1])
        colour = _component_colour(dim, n_perc, n_pocket)
        if c in meshes:
            if dim:
                plotter.add_mesh(meshes[c], color=colour, smooth_shading=True, specular=0.4, name=f"component-{c}")
            else:
                plotter.add_mesh(meshes[c], color=colour, opacity=float(opacity), smooth_shading=True,
                                 name=f"component-{c}")
        if dim:
            n_perc += 1
            if n_perc <= MAX_LEGEND_COMPONENTS:
                legend.append([f"{c}: {dim}D, along {_direction_name(comps.windings[c - 1])}", colour, "rectangle"])
        else:
            n_pocket += 1
            visible = c in meshes and comps.min_energy[c - 1] < t - 0.005  # not a speck at the threshold
            if visible and n_pocket <= 3 and comps.n_components <= MAX_LEGEND_COMPONENTS:
                legend.append([f"{c}: pocket, min {comps.min_energy[c - 1]:.2f} eV", colour, "rectangle"])
    if n_perc > MAX_LEGEND_COMPONENTS:
        legend.append([f"... {n_perc - MAX_LEGEND_COMPONENTS} more percolating", "#777777", "rectangle"])
    shown_pockets = sum(1 for e in legend if "pocket" in e[0])
    if n_pocket > shown_pockets:
        k = n_pocket - shown_pockets
        legend.append([f"{k} {'more ' if shown_pockets else ''}pocket{'s' if k != 1 else ''}", _POCKET_COLORS[0],
                       "rectangle"])
    _add_cell(pv, plotter, lat, sc, of)
    if show_atoms:
        for sym, rgb in _add_atoms(pv, plotter, result.grid.structure, lat, sc, resolution=resolution, origin_frac=of):
            legend.append([sym, rgb, "circle"])
    _add_legend(pv, plotter, legend)
    _add_triad(plotter, lat, of @ lat)
    n = comps.n_components
    if title is None:
        head = ", ".join(b for b in (_formula(result), _model_name(result.grid.metadata)) if b)
        title = (head + "\n" if head else "") + (
            f"{n} component{'s' if n != 1 else ''} of E - E_min <= {t:.2f} eV, {n_perc} percolating"
        )
    auto_view, across = _auto_view(result, comps)
    v = view or auto_view
    _finish(plotter, title, view=v, lattice=lat, across=across if v == auto_view else None, tilt=view is None)
    return plotter


# ----------------------------------------------------------------------------- output
def save(plotter: Any, path: str | os.PathLike, *, transparent_background: bool = False) -> str:
    """Render ``plotter`` off screen and write a PNG; returns the path.

    The plotter stays open (export it to HTML afterwards if you like); call
    ``plotter.close()`` when done.
    """
    path = os.fspath(path)
    if not path.lower().endswith(".png"):
        raise RenderError(f"`path` must end in .png (got {os.path.basename(path)!r})")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RenderError(f"output folder does not exist: {parent}")
    plotter.screenshot(path, transparent_background=transparent_background)
    return path


def _scene_zip(plotter) -> bytes:
    """The scene as a vtk.js OfflineLocalView archive (what ``PyVistaLocalView.export`` makes), serverless."""
    from trame_vtk.modules.vtk.serializers import (
        SynchronizationContext,
        extract_array_hash,
        initialize_serializers,
        reference_id,
        serialize,
    )

    plotter.render()
    rw = plotter.render_window
    camera = rw.GetRenderers().GetFirstRenderer().GetActiveCamera()
    initialize_serializers()
    ctx = SynchronizationContext()
    scene = serialize(None, rw, reference_id(rw), ctx, 1)
    if not scene:
        raise RenderError("the scene could not be serialised for HTML export")
    scene["extra"] = {
        "vtkRefId": reference_id(rw),
        "centerOfRotation": camera.GetFocalPoint(),
        "camera": reference_id(camera),
    }
    hashes = {}
    for entry in extract_array_hash(scene):
        h = entry["hash"]
        hashes[h] = dict(**entry, content=ctx.get_cached_data_array(h, False))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.json", json.dumps({"hashes": hashes, "scene": scene}), compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _decimate_actors(plotter, *, max_triangles: int, reduction: float) -> int:
    """Decimate, in place, the uncoloured triangle meshes above ``max_triangles``; returns how many."""
    n = 0
    for actor in list(plotter.actors.values()):
        mapper = getattr(actor, "mapper", None)
        mesh = getattr(mapper, "dataset", None) if mapper is not None else None
        if mesh is None or not hasattr(mesh, "decimate_pro") or mesh.n_cells <= max_triangles:
            continue
        if getattr(mapper, "scalar_visibility", False) and mesh.active_scalars_name:
            continue  # coloured by data (saddle tubes): keep the values exact
        if not mesh.is_all_triangles:
            mesh = mesh.triangulate()
        mapper.dataset = mesh.decimate_pro(reduction, preserve_topology=True)
        n += 1
    return n


def _triad_in_scene(plotter) -> None:
    """Replace the corner a/b/c widget (vtk.js cannot show it) by red/green/blue arrows at the cell origin."""
    lattice = getattr(plotter, "_ionnet_lattice", None)
    if lattice is None or getattr(plotter.renderer, "axes_widget", None) is None:
        return
    pv = _pyvista()
    plotter.renderer.hide_axes()
    origin = np.asarray(getattr(plotter, "_ionnet_origin", np.zeros(3)), dtype=np.float64)
    length = 0.3 * float(np.linalg.norm(lattice, axis=1).min())
    for k, colour in enumerate(("#d62728", "#2ca02c", "#1f5fd1")):
        d = lattice[k] / np.linalg.norm(lattice[k])
        arrow = pv.Arrow(start=origin, direction=d, scale=length, tip_length=0.3, tip_radius=0.12, shaft_radius=0.04)
        plotter.add_mesh(arrow, color=colour, name=f"axis-{'abc'[k]}", reset_camera=False)


def export_html(plotter: Any, path: str | os.PathLike, *, max_triangles: int = 20_000,
                reduction: float = 0.6) -> str:
    """Write ``plotter`` as a self-contained interactive HTML page (vtk.js, works offline).

    Needs ``trame-vtk`` (``pip install trame-vtk``).  The page embeds the
    vtk.js viewer and the scene; it loads nothing from the network.  Meshes
    with more than ``max_triangles`` triangles (and no data colouring) are
    decimated by ``reduction`` (a fraction of their triangles, topology kept)
    first, so a page stays a few MB; ``max_triangles=None`` keeps every
    triangle.  The plotter is modified in place.

    Notes
    -----
    ``pyvista.Plotter.export_html`` (pyvista >= 0.49, through trame-pyvista)
    starts a trame web server to serialise the scene.  This function calls the
    same trame-vtk serialisers directly, so no server, port or event loop is
    involved; if they are missing it falls back to ``plotter.export_html``.
    """
    path = os.fspath(path)
    if not path.lower().endswith((".html", ".htm")):
        raise RenderError(f"`path` must end in .html (got {os.path.basename(path)!r})")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise RenderError(f"output folder does not exist: {parent}")
    if max_triangles is not None:
        _decimate_actors(plotter, max_triangles=int(max_triangles), reduction=float(reduction))
    _triad_in_scene(plotter)
    try:
        from trame_vtk.tools.vtksz2html import write_html

        data = _scene_zip(plotter)
    except ImportError:
        try:
            plotter.export_html(path)
            return path
        except ImportError as e:
            raise BackendUnavailableError("HTML export needs trame-vtk: pip install trame-vtk") from e
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        write_html(data, fh)
    os.replace(tmp, path)
    return path
