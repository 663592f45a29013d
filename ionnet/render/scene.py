"""3D scenes with pyvista, rendered off screen: the pathway picture and the component picture.

pyvista is imported inside the functions; nothing here calls ``show()``.  The
scene parts live in ``_parts`` (cell box, atoms, site graph, legend, triad),
``_camera`` and ``_labels``; the surfaces in :mod:`ionnet.render.surfaces`;
PNG and HTML output in :mod:`ionnet.render.output` (all re-exported here).
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from ..errors import RenderError
from ._base import _as_result, _check_supercell, _check_thresholds, _finite_fill, _new_plotter, _pyvista, _structured
from ._camera import VIEWS, _auto_view, _finish
from ._labels import _auto_title, _direction_name, _formula, _model_name, _origin_text
from ._parts import _add_atoms, _add_cell, _add_legend, _add_site_graph, _add_triad
from .output import export_html, save
from .surfaces import (
    _POCKET_COLORS,
    _component_colour,
    _tiled_component_meshes,
    _window_origin,
    channel_threshold,
    component_surfaces,
    default_thresholds,
    level_surface,
)

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

#: At most this many components get their own legend entry; the rest are summed up.
MAX_LEGEND_COMPONENTS = 8


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
        MPE with its direction and the 2D/3D thresholds (and where the cell
        box starts, when ``recentre`` moved it).
    resolution : int
        Sphere resolution of the atoms (lower it for lighter HTML pages).
    recentre : bool
        Start the shown cells at the grid plane (per axis) that cuts the
        channels least, instead of at the origin, when the origin plane
        would cut them clearly more (e.g. Li3N's Li2N layer at c = 0); the
        cell box moves with it, and the default title's last line says
        where it starts (``cell box from (x, y, z), fractional``).

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
    _check_view(view)
    t_main = channel_threshold(result, margin=margin)
    comps = periodic_components(result, t_main, connectivity=result.connectivity)
    plotter = _new_plotter(pv, window_size)
    oi, of = _window(result, comps, recentre)
    legend: list = []
    if channel and comps.n_components:
        legend += _add_channels(pv, plotter, result, comps, sc, oi, opacity=channel_opacity)
        if show_pockets:
            legend += _add_pockets(pv, plotter, result, comps, sc, oi)
    if extra:
        legend += _add_threshold_surfaces(pv, plotter, result, extra, sc, oi, opacity=opacity)
    atoms, cell = _add_cell_and_atoms(pv, plotter, result, sc, of, show_atoms=show_atoms, resolution=resolution)
    legend += atoms
    if show_sites:
        top = max([t_main, *extra])
        if _add_site_graph(pv, plotter, result.sites(), sc, max_energy=top, origin_frac=of):
            legend.append([f"{result.grid.metadata.get('ion') or 'ion'} sites", "#222222", "circle"])
    if title is None:
        title = "\n".join(x for x in (_auto_title(result, t_main), _origin_text(of)) if x)
    _finish_scene(pv, plotter, result, comps, legend + cell, title, view=view, origin_frac=of)
    return plotter


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
    _check_view(view)
    comps = periodic_components(result, t, connectivity=connectivity)
    oi, of = _window(result, comps, recentre)
    meshes = _tiled_component_meshes(pv, result, comps, list(range(1, comps.n_components + 1)), sc, oi)
    plotter = _new_plotter(pv, window_size)
    legend, n_perc = _add_component_meshes(plotter, comps, meshes, t, opacity=opacity)
    atoms, cell = _add_cell_and_atoms(pv, plotter, result, sc, of, show_atoms=show_atoms, resolution=resolution)
    legend += atoms + cell
    n = comps.n_components
    if title is None:
        head = ", ".join(b for b in (_formula(result), _model_name(result.grid.metadata)) if b)
        title = (head + "\n" if head else "") + (
            f"{n} component{'s' if n != 1 else ''} of E - E_min <= {t:.2f} eV, {n_perc} percolating"
        ) + (f"\n{_origin_text(of)}" if _origin_text(of) else "")
    _finish_scene(pv, plotter, result, comps, legend, title, view=view, origin_frac=of)
    return plotter


# ------------------------------------------------------------------------ layers
def _check_view(view: str | None) -> None:
    if view is not None and view not in VIEWS:
        raise RenderError(f"`view` must be one of {', '.join(VIEWS)} (got {view!r})")


def _percolating(comps) -> list[int]:
    return [c for c in range(1, comps.n_components + 1) if comps.dimensionality[c - 1] > 0]


def _window(result, comps, recentre: bool) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Where the shown cells start: (grid index (3,), fractional (3,)); see :func:`_window_origin`."""
    oi = _window_origin(comps, _percolating(comps)) if recentre else np.zeros(3, dtype=np.int64)
    return oi, oi / np.asarray(result.grid.shape, dtype=np.float64)


def _add_channels(pv, plotter, result, comps, sc, oi, *, opacity: float) -> list:
    """Percolating components as surfaces coloured by dimensionality; legend entries grouped by direction."""
    perc = _percolating(comps)
    meshes = _tiled_component_meshes(pv, result, comps, perc, sc, oi)
    groups: dict = {}
    for rank, c in enumerate(perc):
        if c not in meshes:
            continue
        dim = int(comps.dimensionality[c - 1])
        colour = _component_colour(dim, rank, 0)
        plotter.add_mesh(meshes[c], color=colour, opacity=opacity, smooth_shading=True, specular=0.4,
                         name=f"channel-{c}")
        groups.setdefault((dim, _direction_name(comps.windings[c - 1])), []).append(colour)
    legend = []
    for (dim, dirs), colours in sorted(groups.items()):
        what = {1: "1D channel", 2: "2D layer", 3: "3D network"}[dim]
        where = f" along {dirs}" if dim == 1 else (f" in the {dirs}" if dim == 2 else "")
        for k, colour in enumerate(colours[:4]):
            n = f" ({k + 1})" if len(colours) > 1 else ""
            legend.append([f"{what}{where}{n}", colour, "rectangle"])
        if len(colours) > 4:
            legend.append([f"... {len(colours) - 4} more", "#777777", "rectangle"])
    return legend


def _add_pockets(pv, plotter, result, comps, sc, oi) -> list:
    """The finite components as one light-grey surface."""
    pockets = [c for c in range(1, comps.n_components + 1) if comps.dimensionality[c - 1] == 0]
    legend = []
    if pockets:
        for surf in _tiled_component_meshes(pv, result, comps, [pockets], sc, oi).values():
            plotter.add_mesh(surf, color="#b0b0b0", opacity=0.6, smooth_shading=True, name="pockets")
            legend.append([f"isolated pockets ({len(pockets)})", "#b0b0b0", "rectangle"])
    return legend


def _add_threshold_surfaces(pv, plotter, result, extra, sc, oi, *, opacity: float) -> list:
    """Translucent level-map isosurfaces at the ``extra`` energies (eV), lowest first."""
    lev = _finite_fill(result.level_map, max(extra))
    lev = np.roll(lev, tuple(-int(x) for x in oi), axis=(0, 1, 2))
    tiled = np.pad(np.tile(lev, sc), [(0, 1)] * 3, mode="wrap")
    grid = _structured(pv, tiled, result.grid.lattice, result.grid.shape, origin_idx=oi)
    shades = ["#8c8cd9", "#d98cb3", "#8cd9c6", "#d9b38c", "#b3b3b3"]
    legend = []
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
    return legend


def _add_component_meshes(plotter, comps, meshes, t: float, *, opacity: float) -> tuple[list, int]:
    """Every component in its own colour (pockets translucent); (legend entries, number percolating)."""
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
    return legend, n_perc


def _add_cell_and_atoms(pv, plotter, result, sc, of, *, show_atoms: bool, resolution: int) -> tuple[list, list]:
    """Cell box and framework atoms; (the atoms' legend entries, the cell box's)."""
    lat = result.grid.lattice
    cell = _add_cell(pv, plotter, lat, sc, of)
    if not show_atoms:
        return [], cell
    atoms = _add_atoms(pv, plotter, result.grid.structure, lat, sc, resolution=resolution, origin_frac=of)
    return [[sym, rgb, "circle"] for sym, rgb in atoms], cell


def _finish_scene(pv, plotter, result, comps, legend, title, *, view, origin_frac) -> None:
    """Legend, triad, title and the camera (auto view across the channel unless ``view`` is given)."""
    lat = result.grid.lattice
    _add_legend(pv, plotter, legend)
    _add_triad(plotter, lat, origin_frac @ lat)
    auto_view, across = _auto_view(result, comps)
    v = view or auto_view
    _finish(plotter, title, view=v, lattice=lat, across=across if v == auto_view else None, tilt=view is None)
