"""One exception hierarchy for ionnet.

Every error ionnet raises on purpose derives from :class:`IonnetError`; the
command line turns it into a one-line message and exit code 1.  Errors caused
by bad input also derive from :class:`ValueError` so generic handlers work.
"""
from __future__ import annotations

__all__ = [
    "IonnetError",
    "GridError",
    "StructureError",
    "BackendUnavailableError",
    "ModelError",
    "ResourceError",
    "ExportError",
    "TransportError",
]


class IonnetError(Exception):
    """Base class of every error ionnet raises on purpose."""


class GridError(IonnetError, ValueError):
    """An energy grid (or its lattice) is malformed."""


class StructureError(IonnetError, ValueError):
    """A crystal structure cannot be used (unreadable, no mobile ion, disordered...)."""


class BackendUnavailableError(IonnetError, ImportError):
    """A model back end cannot be loaded (package missing, weights not found)."""


class ModelError(IonnetError, ValueError):
    """A model cannot evaluate the requested system (e.g. unknown element)."""


class ResourceError(IonnetError, MemoryError):
    """A request would not fit in memory or on disk."""


class ExportError(IonnetError, ValueError):
    """An export was asked for with an unknown format or unusable options."""


class TransportError(IonnetError, ValueError):
    """A transport calculation was asked for with unusable options (temperatures, rates, sites, paths)."""
