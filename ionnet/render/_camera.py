"""The camera: which lattice axis to look along, and the view fitted to the scene."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

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
