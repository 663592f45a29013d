"""Writing scenes: PNG screenshots and self-contained interactive HTML pages (vtk.js, offline)."""
from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, RenderError
from ._base import _pyvista

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
