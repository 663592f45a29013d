"""Scene parts: cell box, framework atoms, site graph, a/b/c triad and legend."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ._labels import _element_style, _nice_scale, _symbols


def _cell_edges(lattice: NDArray[np.float64], scale=(1, 1, 1)) -> NDArray[np.float64]:
    corners = np.array([[i, j, k] for i in (0, 1) for j in (0, 1) for k in (0, 1)], dtype=np.float64)
    corners = corners * np.asarray(scale, dtype=np.float64)
    pairs = [(a, b) for a in range(8) for b in range(a + 1, 8) if np.abs(corners[a] - corners[b]).astype(bool).sum() == 1]
    cart = corners @ lattice
    return np.array([[cart[a], cart[b]] for a, b in pairs])  # (12, 2, 3)


def _add_cell(pv, plotter, lattice, supercell=(1, 1, 1), origin_frac=(0.0, 0.0, 0.0)) -> list:
    """The unit cell (black) and, if larger, the supercell outline (grey), starting at ``origin_frac``.

    Returns the legend entries of the unit cell and of the repeated cells
    (where the box starts is said in the title: :func:`._labels._origin_text`).
    """
    shift = np.asarray(origin_frac, dtype=np.float64) @ lattice
    entries = []
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
    entries.append(["unit cell", "black", "box"])
    if tuple(supercell) != (1, 1, 1):
        entries.append([f"{'x'.join(str(int(n)) for n in supercell)} cells", "grey", "box"])
    return entries


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


#: The 27 cell offsets -1..1 along a, b, c.
_NEIGHBOUR_CELLS = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=np.float64)


def _site_paths(sites, box, max_energy: float | None, origin_frac=(0.0, 0.0, 0.0)):
    """Site -> saddle -> site polylines inside the shown box, fractional.

    Edge ``m`` joins site ``i`` in cell 0 to site ``j`` in cell
    ``sites.images[m]`` (the image position, never the copy in cell 0); its
    saddle is drawn at the periodic image that makes the path shortest in Å,
    so the polyline is the edge's saddle path.  Each path is drawn in every
    whole-cell shift that keeps all three points inside the box
    ``[origin_frac, origin_frac + box]``: paths are clipped by cell, never
    wrapped, so no line crosses the cell.

    Returns
    -------
    paths : (K, 3, 3) ndarray, fractional
        Site, saddle, site of each drawn path.
    edge : (K,) ndarray of int
        Index into ``sites.edges`` of each path.
    barrier : (K,) ndarray, eV
        Saddle energy minus the lower of the two site energies.
    """
    tol = 1e-6
    lo_box = np.asarray(origin_frac, dtype=np.float64)
    hi_box = lo_box + np.asarray(box, dtype=np.float64)
    edges = np.flatnonzero(np.ones(len(sites.edges), bool) if max_energy is None
                           else sites.saddle_energies <= max_energy)
    i, j = sites.edges[edges, 0], sites.edges[edges, 1]
    a = sites.frac_coords[i]
    b = sites.frac_coords[j] + sites.images[edges]
    s0 = sites.saddle_frac[edges]
    cand = (s0 + np.round(a - s0))[:, None, :] + _NEIGHBOUR_CELLS[None, :, :]  # (M, 27, 3) saddle images
    lat = np.asarray(sites.lattice, dtype=np.float64)
    length = np.linalg.norm((cand - a[:, None, :]) @ lat, axis=2) + np.linalg.norm((b[:, None, :] - cand) @ lat, axis=2)
    s = cand[np.arange(len(edges)), np.argmin(length, axis=1)]
    base = np.stack([a, s, b], axis=1)  # (M, 3, 3)
    first = np.ceil(lo_box - tol - base.min(axis=1))  # (M, 3) lowest whole-cell shift that fits, per axis
    last = np.floor(hi_box + tol - base.max(axis=1))
    paths, ids = [], []
    for q in range(len(edges)):
        ranges = [np.arange(first[q, d], last[q, d] + 1) for d in range(3)]
        if any(len(r) == 0 for r in ranges):
            continue
        shifts = np.stack(np.meshgrid(*ranges, indexing="ij"), axis=-1).reshape(-1, 3)
        paths.append(base[q][None, :, :] + shifts[:, None, :])
        ids.append(np.full(len(shifts), edges[q]))
    if not paths:
        return np.zeros((0, 3, 3)), np.zeros(0, dtype=np.int64), np.zeros(0)
    edge = np.concatenate(ids).astype(np.int64)
    e = sites.energies
    barrier = sites.saddle_energies[edge] - np.minimum(e[sites.edges[edge, 0]], e[sites.edges[edge, 1]])
    return np.concatenate(paths), edge, barrier


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
    segs, _, vals = _site_paths(sites, box, max_energy, origin_frac)
    if not len(segs):
        return True
    pts = segs.reshape(-1, 3) @ lat
    lines = np.column_stack([np.full(len(segs), 3), 3 * np.arange(len(segs))[:, None] + np.arange(3)]).ravel()
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
    """Legend symbol with its own RGB point colours: a shaded disc (a sphere), a flat square or a square outline (box)."""
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
    elif face == "box":  # a square outline, the size of the filled square
        outer = np.array([[-1.0, -0.8], [1.0, -0.8], [1.0, 0.8], [-1.0, 0.8]])
        inner = outer * np.array([0.78, 0.7])
        pts = np.column_stack([np.vstack([outer, inner]), np.zeros(8)])
        poly = pv.PolyData(pts, np.concatenate([[4, k, (k + 1) % 4, 4 + (k + 1) % 4, 4 + k] for k in range(4)]))
        colour = np.repeat(base[None, :], 8, axis=0)
    else:
        pts = np.array([[-1.0, -0.8, 0.0], [1.0, -0.8, 0.0], [1.0, 0.8, 0.0], [-1.0, 0.8, 0.0]])
        poly = pv.PolyData(pts, np.array([4, 0, 1, 2, 3]))
        colour = np.repeat(base[None, :], 4, axis=0)
    poly.point_data["rgb"] = (np.clip(colour, 0.0, 1.0) * 255).astype(np.uint8)
    poly.point_data.active_scalars_name = "rgb"
    return poly


def _add_legend(pv, plotter, entries: list, *, width: float | None = None) -> None:
    """One legend box, upper right: ``entries`` are ``(label, colour, face)``, face 'rectangle', 'circle' or 'box'.

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
