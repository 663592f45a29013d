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
    "components",
    "component_surfaces",
    "level_surface",
    "save",
    "export_html",
    "default_thresholds",
]

logger = logging.getLogger(__name__)

#: Colours of successive thresholds (light to dark, matplotlib 'viridis' stops).
_THRESHOLD_CMAP = "viridis"
#: Highlight colour of percolating components.
PERCOLATING_COLOR = "#ffb000"
_COMPONENT_COLORS = [
    "#1f77b4", "#2ca02c", "#17becf", "#9467bd", "#8c564b", "#e377c2", "#ff7f0e", "#bcbd22", "#7f7f7f",
    "#aec7e8", "#98df8a", "#ffbb78", "#c5b0d5", "#c49c94", "#f7b6d2", "#9edae5", "#dbdb8d",
]
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


def _add_cell(pv, plotter, lattice, supercell=(1, 1, 1)) -> None:
    """The unit cell (black) and, if larger, the supercell outline (grey)."""
    if tuple(supercell) != (1, 1, 1):
        segs = _cell_edges(lattice, supercell)
        plotter.add_mesh(
            pv.line_segments_from_points(segs.reshape(-1, 3)), color="grey", line_width=1, name="supercell"
        )
    segs = _cell_edges(lattice)
    plotter.add_mesh(
        pv.line_segments_from_points(segs.reshape(-1, 3)), color="black", line_width=3, name="cell",
        render_lines_as_tubes=True,
    )


def _element_style(symbol: str) -> tuple[tuple[float, float, float], float]:
    """(RGB colour, sphere radius in Å) of an element (Jmol colours, 0.5 x covalent radius)."""
    try:
        from ase.data import atomic_numbers, covalent_radii
        from ase.data.colors import jmol_colors

        z = atomic_numbers.get(symbol, 0)
        rgb = tuple(float(c) for c in jmol_colors[z])
        r = float(np.clip(0.5 * covalent_radii[z], 0.25, 1.1)) if z else 0.4
        return rgb, r  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - ase is in the structures extra
        h = abs(hash(symbol)) % 360 / 360.0
        import colorsys

        return colorsys.hsv_to_rgb(h, 0.6, 0.9), 0.5


def _images_in_box(frac: NDArray[np.float64], box=(1, 1, 1), tol: float = 1e-6) -> tuple[NDArray, NDArray]:
    """All periodic images of ``frac`` (wrapped to [0, 1)) inside [0, box] (inclusive); (points, source index)."""
    frac = np.mod(np.asarray(frac, dtype=np.float64).reshape(-1, 3), 1.0)
    frac[np.isclose(frac, 1.0, atol=tol)] = 0.0
    shifts = np.array(
        [[i, j, k] for i in range(box[0] + 1) for j in range(box[1] + 1) for k in range(box[2] + 1)], dtype=np.float64
    )
    pts = (frac[:, None, :] + shifts[None, :, :]).reshape(-1, 3)
    src = np.repeat(np.arange(len(frac)), len(shifts))
    keep = np.all((pts >= -tol) & (pts <= np.asarray(box) + tol), axis=1)
    return pts[keep], src[keep]


def _add_atoms(pv, plotter, structure, lattice, box=(1, 1, 1)) -> int:
    if structure is None or not hasattr(structure, "frac_coords") or len(structure) == 0:
        return 0
    symbols = []
    for site in structure.sites:
        sp = site.specie if hasattr(site, "specie") else site.species.elements[0]
        el = getattr(sp, "element", sp)
        symbols.append(str(getattr(el, "symbol", sp)))
    symbols = np.asarray(symbols)
    n = 0
    for sym in dict.fromkeys(symbols.tolist()):
        pts, _ = _images_in_box(np.asarray(structure.frac_coords)[symbols == sym], box)
        if not len(pts):
            continue
        rgb, radius = _element_style(sym)
        cloud = pv.PolyData(pts @ lattice)
        spheres = cloud.glyph(geom=pv.Sphere(radius=radius, theta_resolution=16, phi_resolution=16), scale=False, orient=False)
        plotter.add_mesh(spheres, color=rgb, smooth_shading=True, name=f"atoms-{sym}", label=sym)
        n += len(pts)
    return n


def _add_site_graph(pv, plotter, sites, box=(1, 1, 1), *, max_energy: float | None = None) -> None:
    if sites.n_sites == 0:
        return
    lat = sites.lattice
    keep_site = np.ones(sites.n_sites, bool) if max_energy is None else sites.energies <= max_energy
    pts, _ = _images_in_box(sites.frac_coords[keep_site], box)
    if len(pts):
        cloud = pv.PolyData(pts @ lat)
        balls = cloud.glyph(geom=pv.Sphere(radius=0.18, theta_resolution=12, phi_resolution=12), scale=False, orient=False)
        plotter.add_mesh(balls, color="black", name="sites", label="sites")
    if len(sites.edges) == 0:
        return
    barrier = sites.saddle_energies - np.minimum(sites.energies[sites.edges[:, 0]], sites.energies[sites.edges[:, 1]])
    segs, vals = [], []
    tol = 1e-6
    cells = np.array([[i, j, k] for i in range(box[0]) for j in range(box[1]) for k in range(box[2])], dtype=np.float64)
    for m, (i, j) in enumerate(sites.edges):
        if max_energy is not None and sites.saddle_energies[m] > max_energy:
            continue
        a = sites.frac_coords[i]
        b = sites.frac_coords[j] + sites.images[m]
        s = sites.saddle_frac[m]
        s = s + np.round((a + b) / 2 - s)  # saddle image between the two sites
        for c in cells:
            path = np.array([a, s, b]) + c
            if np.all(path >= -tol) and np.all(path <= np.asarray(box) + tol):
                segs.append(path @ lat)
                vals.append(barrier[m])
    if not segs:
        return
    pts = np.concatenate(segs)
    lines = np.concatenate([[3, 3 * q, 3 * q + 1, 3 * q + 2] for q in range(len(segs))])
    poly = pv.PolyData(pts, lines=lines)
    poly.point_data["barrier (eV)"] = np.repeat(vals, 3)
    tubes = poly.tube(radius=0.07, n_sides=10)
    plotter.add_mesh(
        tubes, scalars="barrier (eV)", cmap="plasma", name="saddles",
        scalar_bar_args={"title": "barrier (eV)", "color": "black", "vertical": True},
    )


def _finish(plotter, title: str | None) -> None:
    if title:
        plotter.add_text(title, font_size=10, color="black", name="title")
    plotter.camera_position = "iso"
    plotter.reset_camera()


# ----------------------------------------------------------------------------- scenes
def pathways(
    result: Any,
    thresholds: Sequence[float] | None = None,
    supercell: Sequence[int] = (2, 2, 2),
    show_atoms: bool = True,
    show_sites: bool = True,
    *,
    opacity: float = 0.45,
    window_size: Sequence[int] = (1024, 768),
    title: str | None = None,
):
    """The volume reachable from the source below each threshold, over a periodic supercell.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
        From :func:`ionnet.analyze` (a set draws its lowest-energy map).
    thresholds : sequence of float, eV, optional
        Level-map isovalues, one translucent surface (and colour) each.
        Default: :func:`default_thresholds` (just above the 1D/2D/3D thresholds).
    supercell : (3,) int
        Repetitions along a, b, c (at most 64 cells in total).
    show_atoms : bool
        Framework atoms from ``result.grid.structure`` as spheres (Jmol colours).
    show_sites : bool
        Site graph open below the highest threshold: sites as black balls,
        site-saddle-site paths as tubes coloured by barrier (eV; the higher
        of the two directional barriers).
    opacity : float
        Opacity of the surfaces.
    window_size : (width, height), pixels
    title : str, optional
        Text in the top-left corner.

    Returns
    -------
    pyvista.Plotter
        Off screen; save it with :func:`save` or :func:`export_html`.

    Notes
    -----
    The level map is tiled over the supercell with the periodic end point
    added, so surfaces close across cell faces, and drawn on a
    ``StructuredGrid`` with Cartesian node positions (Å), which is correct for
    non-orthogonal lattices.  Tiling is exact: the level map of every periodic
    image of the source is the same map translated by a lattice vector.
    """
    pv = _pyvista()
    result = _as_result(result)
    sc = _check_supercell(supercell)
    ts = _check_thresholds(default_thresholds(result) if thresholds is None else thresholds)
    lat = result.grid.lattice
    lev = _finite_fill(result.level_map, max(ts))
    tiled = np.pad(np.tile(lev, sc), [(0, 1)] * 3, mode="wrap")
    grid = _structured(pv, tiled, lat, result.grid.shape)
    import matplotlib

    cmap = matplotlib.colormaps[_THRESHOLD_CMAP]
    plotter = _new_plotter(pv, window_size)
    order = np.argsort(ts)
    for rank, q in enumerate(order):
        t = ts[q]
        surf = grid.contour([t], scalars="values")
        colour = cmap(0.15 + 0.7 * rank / max(len(ts) - 1, 1))[:3]
        if surf.n_points == 0:
            logger.info("nothing reachable below %.3f eV: no surface", t)
            continue
        plotter.add_mesh(
            surf, color=colour, opacity=float(opacity), smooth_shading=True,
            name=f"threshold-{rank}", label=f"{t:.3f} eV",
        )
    _add_cell(pv, plotter, lat, sc)
    if show_atoms:
        _add_atoms(pv, plotter, result.grid.structure, lat, sc)
    if show_sites:
        _add_site_graph(pv, plotter, result.sites(), sc, max_energy=max(ts))
    if ts:
        try:
            plotter.add_legend(bcolor="white", face=None, size=(0.18, 0.18))
        except Exception:  # noqa: BLE001 - a legend is decoration; some scenes have no labelled actor
            pass
    _finish(plotter, title)
    return plotter


def component_surfaces(result: Any, t: float, *, connectivity: int | None = None):
    """One closed isosurface per connected component of ``{E - e_min <= t}``.

    Returns ``(surfaces, comps)``: a list of pyvista PolyData (Cartesian Å),
    ``surfaces[i]`` for component ``i + 1``, and the
    :class:`~ionnet.render.components.Components`.  Each component is drawn
    once, unwrapped across the periodic faces (a percolating one is cut open
    along its winding directions), so with face connectivity each surface is
    a single piece (plus an inner piece per enclosed cavity).
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


def components(
    result: Any,
    t: float,
    *,
    show_atoms: bool = True,
    connectivity: int | None = None,
    opacity: float = 0.5,
    window_size: Sequence[int] = (1024, 768),
    title: str | None = None,
):
    """Every connected component below energy ``t`` (eV above the minimum), each its own colour.

    Percolating components (those that wrap around the cell) are drawn
    nearly opaque in amber; finite pockets translucent in other colours.  Actors are
    named ``component-1``, ``component-2``, ... in the order of
    :func:`~ionnet.render.components.periodic_components` (lowest energy first).

    Returns
    -------
    pyvista.Plotter
    """
    pv = _pyvista()
    result = _as_result(result)
    surfaces, comps = component_surfaces(result, t, connectivity=connectivity)
    lat = result.grid.lattice
    plotter = _new_plotter(pv, window_size)
    k = 0
    for c, surf in enumerate(surfaces, start=1):
        if surf.n_points == 0:
            continue
        dim = int(comps.dimensionality[c - 1])
        if dim:
            colour, alpha, label = PERCOLATING_COLOR, 0.9, f"{c}: percolating {dim}D"
        else:
            colour, alpha, label = _COMPONENT_COLORS[k % len(_COMPONENT_COLORS)], float(opacity), f"{c}: pocket"
            k += 1
        plotter.add_mesh(surf, color=colour, opacity=alpha, smooth_shading=True, name=f"component-{c}", label=label)
    _add_cell(pv, plotter, lat)
    if show_atoms:
        _add_atoms(pv, plotter, result.grid.structure, lat)
    if comps.n_components and comps.n_components <= 12:
        try:
            plotter.add_legend(bcolor="white", face=None, size=(0.2, 0.2))
        except Exception:  # noqa: BLE001
            pass
    n = comps.n_components
    _finish(plotter, title or f"{n} component{'s' if n != 1 else ''} below {t:.3f} eV")
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


def export_html(plotter: Any, path: str | os.PathLike) -> str:
    """Write ``plotter`` as a self-contained interactive HTML page (vtk.js, works offline).

    Needs ``trame-vtk`` (``pip install trame-vtk``).  The page embeds the
    vtk.js viewer and the scene; it loads nothing from the network.

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
