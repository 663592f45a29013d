"""Memory checks before large allocations: how much is free, and whether a grid fits."""
from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from .errors import ResourceError

__all__ = ["BYTES_PER_NODE", "available_memory", "check_grid_memory"]

#: Estimated bytes of working memory per grid node of a scan or an analysis.
BYTES_PER_NODE = 120


def available_memory() -> int:
    """Bytes of memory available to this process (``MemAvailable``; 8 GB when unknown)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf
        return 8 * 1024**3


def check_grid_memory(shape: Sequence[int], n_maps: int, spacing: float | None = None) -> None:
    """Raise :class:`~ionnet.ResourceError` unless ``n_maps`` grids of ``shape`` fit in 80 % of free memory.

    Parameters
    ----------
    shape : (3,) ints
    n_maps : int
    spacing : float, Å, optional
        The spacing that gave ``shape`` (the message then says to increase it).
    """
    n = int(np.prod([int(x) for x in shape]))
    need = n * BYTES_PER_NODE + n_maps * n * 8
    avail = available_memory()
    if n > 2**31 - 1 or need > 0.8 * avail:
        hint = f"increase `spacing` (got {spacing} Å)" if spacing is not None else "pass a smaller `shape`"
        raise ResourceError(
            f"a {shape[0]}x{shape[1]}x{shape[2]} grid ({n:,} nodes, {n_maps} map(s)) needs about "
            f"{need / 1e9:.1f} GB of memory but {avail / 1e9:.1f} GB is available; {hint}"
        )
