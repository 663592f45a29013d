"""ionnet: find fast solid-state ion conductors by treating a crystal's potential
energy surface as a network.

The numeric core (grid graph, exact percolation sweep, descriptors) imports only
numpy, scipy and numba.  Model back ends (torch, matgl, chgnet), structure I/O
(pymatgen, ase), graph exports (networkx, igraph) and rendering (pyvista) are
imported lazily, inside the functions that need them.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import _compat, errors
from ._version import __version__
from .analysis import PercolationResult, PercolationSet, SiteGraph, analyze
from .errors import *  # noqa: F403 - every exception class, listed once in errors.__all__
from .grid import EnergyGrid, ScanResult, load_grids, save_grids
from .settings import ScanSettings

__all__ = [
    "EnergyGrid",
    "ScanResult",
    "ScanSettings",
    "load_grids",
    "save_grids",
    "analyze",
    "scan",
    "transport",
    "screen",
    "validate",
    "PercolationResult",
    "PercolationSet",
    "SiteGraph",
    "__version__",
    *errors.__all__,
]

# attribute -> (module, name); imported on first access so `import ionnet` stays light
_LAZY = {
    "scan": ("ionnet.scanning", "scan"),
    "transport": ("ionnet.diffusion", "transport"),
    "screen": ("ionnet.screening", "screen"),
    "validate": ("ionnet.validation", "validate"),
    "scanning": ("ionnet.scanning", None),
    "screening": ("ionnet.screening", None),
    "validation": ("ionnet.validation", None),
    "potentials": ("ionnet.potentials", None),
    "render": ("ionnet.render", None),
    "export": ("ionnet.export", None),
    "io": ("ionnet.io", None),
    "descriptors": ("ionnet.descriptors", None),
    "data": ("ionnet.data", None),
}


# `ionnet.screen` and `ionnet.validate` were modules: their old import paths keep working (with a warning)
_compat.install()


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ionnet' has no attribute {name!r}")
    mod_name, attr = _LAZY[name]
    value = importlib.import_module(mod_name)
    if attr is not None:
        value = getattr(value, attr)
        if f"ionnet.{name}" in _compat.MOVED:
            value = _compat.Verb(value, old=f"ionnet.{name}")
        globals()[name] = value  # a function is looked up once
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY))
