"""Pictures of the migration network: 3D scenes (pyvista, off screen) and 2D plots (matplotlib).

``import ionnet.render`` imports neither pyvista nor matplotlib; each function
imports what it needs.  Nothing here opens a window or calls ``show()``.

3D (return a ``pyvista.Plotter``; write it with :func:`save` or :func:`export_html`):

* :func:`pathways` - the volume reachable below each threshold, over a supercell
* :func:`components` - every connected component below an energy, percolating ones highlighted

2D (return a ``matplotlib.figure.Figure``; write it with ``fig.savefig``):

* :func:`fv_plot`, :func:`level_histogram`, :func:`slice_plot`, :func:`arrhenius_plot`

Modules: :mod:`~ionnet.render.scene` (the two scenes), :mod:`~ionnet.render.surfaces`
(isosurfaces), :mod:`~ionnet.render.output` (PNG, HTML), :mod:`~ionnet.render.plots`,
:mod:`~ionnet.render.components`; the private ``_base``, ``_parts``, ``_camera`` and
``_labels`` hold the scene parts.

Off-screen rendering on a machine without a display uses EGL (Mesa's
``libegl1``/``libegl-mesa0``); see ``docs/cli.md``.
"""
from __future__ import annotations

from ..errors import RenderError
from .components import Components, periodic_components
from .plots import arrhenius_plot, fv_plot, level_histogram, slice_plot
from .output import export_html, save
from .scene import components, pathways
from .surfaces import channel_threshold, component_surfaces, default_thresholds, level_surface

__all__ = [
    "pathways",
    "channel_threshold",
    "components",
    "component_surfaces",
    "level_surface",
    "default_thresholds",
    "save",
    "export_html",
    "fv_plot",
    "level_histogram",
    "slice_plot",
    "arrhenius_plot",
    "periodic_components",
    "Components",
    "RenderError",
]
