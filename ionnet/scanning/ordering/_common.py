"""Constants and the clock shared by the ordering modules."""
from __future__ import annotations

import time
from typing import Any

from ...errors import StructureError

#: ``framework=`` choices: remove the mobile ion, or keep it (charge-balanced).
FRAMEWORK_MODES = ("empty", "occupied")
#: ``method=`` choices.
METHODS = ("auto", "ewald", "random")

#: At most this many orderings are ranked exactly by pymatgen's Ewald minimiser.
PYMATGEN_MAX_ORDERINGS = 500
#: Above this many supercell sites the Ewald matrix (8 N^2 bytes) is not built: random fillings.
EWALD_MAX_SITES = 3000
#: At most this many Hermite normal forms are compared when choosing a supercell shape.
MAX_HNF = 4000
#: A cluster of overlapping partial positions holding up to 1 + this many atoms gets one atom.
SPLIT_OVERFULL = 0.25
#: Occupancies this close to 0 or 1 are treated as exactly 0 or 1 (CIF rounding).
OCC_TOL = 1e-3
VAC = "vacancy"

_clock = time.perf_counter  # replaced in tests to simulate a slow machine


def clock() -> float:
    """Seconds of the ordering's clock (``time.perf_counter`` unless a test replaces ``_clock``)."""
    return _clock()


class Deadline:
    """The wall-time budget of one :func:`~ionnet.scanning.ordering.order_structure` call."""

    def __init__(self, time_limit_s: float):
        self.limit = float(time_limit_s)
        self.start = clock()
        self.at = self.start + self.limit

    def passed(self) -> bool:
        return clock() > self.at

    def check(self, step: str) -> None:
        """Raise :class:`~ionnet.errors.StructureError` when the budget is spent (``step`` names where)."""
        if self.passed():
            raise StructureError(
                f"ordering took longer than time_limit_s = {self.limit:g} s ({step}); "
                "raise time_limit_s or lower max_sites"
            )

    def elapsed(self) -> float:
        return clock() - self.start


def seed_record(seed: Any) -> Any:
    """The seed as stored in a result (a Generator is not recorded)."""
    import numpy as np

    return None if isinstance(seed, np.random.Generator) else seed
