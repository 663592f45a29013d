"""Shared setup of the 3D scenes: pyvista import (off screen), plotter, input checks, structured grids."""
from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError, RenderError

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


def _check_thresholds(thresholds) -> list[float]:
    try:
        ts = [float(t) for t in np.atleast_1d(np.asarray(thresholds, dtype=np.float64))]
    except (TypeError, ValueError):
        raise RenderError(f"`thresholds` must be numbers in eV (got {thresholds!r})") from None
    if not ts or not all(np.isfinite(ts)):
        raise RenderError(f"`thresholds` must be finite energies in eV (got {thresholds!r})")
    return ts


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
