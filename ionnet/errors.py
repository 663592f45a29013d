"""One exception hierarchy for ionnet: every exception class ionnet defines lives here.

Every error ionnet raises on purpose derives from :class:`IonnetError`; the
command line turns it into a one-line message and exit code 1.  Errors caused
by bad input also derive from :class:`ValueError` so generic handlers work.

::

    IonnetError
    ├── GridError (ValueError)             energy grid, lattice, grid options
    ├── StructureError (ValueError)        crystal structure, structure inputs
    ├── ModelError (ValueError)            a model cannot evaluate the system
    ├── ScanError (ValueError)             scan options, checkpoints
    ├── ScreenError (ValueError)           screening options, tasks, databases
    ├── DataError (ValueError)             data sets (OBELiX tables, measured values)
    ├── ExportError (ValueError)           export formats and options
    ├── RenderError (ValueError)           render options
    ├── TransportError (ValueError)        transport options (temperatures, rates, sites, paths)
    ├── BackendUnavailableError (ImportError)
    ├── ResourceError (MemoryError)
    ├── OutputError (OSError)              an output file cannot be written where asked
    └── TaskTimeout (TimeoutError)
"""
from __future__ import annotations

__all__ = [
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
    "OutputError",
    "TransportError",
    "TaskTimeout",
]


class IonnetError(Exception):
    """Base class of every error ionnet raises on purpose."""


class GridError(IonnetError, ValueError):
    """An energy grid (or its lattice), or an option of the grid analysis, is malformed."""


class StructureError(IonnetError, ValueError):
    """A crystal structure cannot be used (unreadable, no mobile ion, disordered...)."""


class ModelError(IonnetError, ValueError):
    """A model cannot evaluate the requested system (e.g. unknown element)."""


class ScanError(IonnetError, ValueError):
    """A scan option is invalid (bad ``framework``, ``batch_size``, checkpoint of another scan...)."""


class ScreenError(IonnetError, ValueError):
    """A screening option, task or results database cannot be used."""


class DataError(IonnetError, ValueError):
    """A data set (e.g. the OBELiX table) is missing or holds a value that cannot be read."""


class ExportError(IonnetError, ValueError):
    """An export was asked for with an unknown format or unusable options."""


class RenderError(IonnetError, ValueError):
    """A render was asked for with unusable options (thresholds, supercell, output path)."""


class BackendUnavailableError(IonnetError, ImportError):
    """A model back end cannot be loaded (package missing, weights not found)."""


class ResourceError(IonnetError, MemoryError):
    """A request would not fit in memory or on disk."""


class OutputError(IonnetError, OSError):
    """An output cannot be written where asked (a folder, an input file, an unwritable place)."""


class TransportError(IonnetError, ValueError):
    """A transport calculation was asked for with unusable options (temperatures, rates, sites, paths)."""


class TaskTimeout(IonnetError, TimeoutError):
    """A screening task took longer than ``timeout_s`` (stored as a failed row)."""
