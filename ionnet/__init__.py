"""ionnet: find fast solid-state ion conductors by treating a crystal's potential
energy surface as a network.

The numeric core (grid graph, exact percolation sweep, descriptors) imports only
numpy, scipy and numba.  Model back ends (torch, matgl, chgnet), structure I/O
(pymatgen, ase), graph exports (networkx, igraph) and rendering (pyvista) are
imported lazily, inside the functions that need them.
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from ._version import __version__
from .analysis import PercolationResult, PercolationSet, SiteGraph, analyze
from .errors import (
    BackendUnavailableError,
    DataError,
    ExportError,
    GridError,
    IonnetError,
    ModelError,
    RenderError,
    ResourceError,
    ScanError,
    ScreenError,
    StructureError,
    TaskTimeout,
)
from .grid import EnergyGrid, load_grids, save_grids

__all__ = [
    "EnergyGrid",
    "load_grids",
    "save_grids",
    "analyze",
    "scan",
    "PercolationResult",
    "PercolationSet",
    "SiteGraph",
    "IonnetError",
    "GridError",
    "StructureError",
    "ModelError",
    "ScanError",
    "ScreenError",
    "DataError",
    "ExportError",
    "RenderError",
    "BackendUnavailableError",
    "ResourceError",
    "TaskTimeout",
    "__version__",
]

# attribute -> (module, name); imported on first access so `import ionnet` stays light
_LAZY = {
    "scan": ("ionnet.scanning", "scan"),
    "potentials": ("ionnet.potentials", None),
    "render": ("ionnet.render", None),
    "export": ("ionnet.export", None),
    "io": ("ionnet.io", None),
    "screen": ("ionnet.screen", None),
    "descriptors": ("ionnet.descriptors", None),
    "data": ("ionnet.data", None),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        mod_name, attr = _LAZY[name]
        mod: ModuleType = importlib.import_module(mod_name)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'ionnet' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
