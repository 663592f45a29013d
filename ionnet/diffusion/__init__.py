"""``ionnet.transport``: diffusion tensor, activation energy and conductivity from the site graph; NEB paths.

The package is called ``diffusion`` (not ``transport``) so that ``ionnet.transport``
stays the function: importing a submodule of the same name would replace it
(the reason ``ionnet.scan`` lives in ``ionnet.scanning``).  For the same reason
no module here is called ``transport``.

Everything here is a thin layer over :mod:`ionnet.core.transport`; the
formulas and assumptions are in ``docs/transport.md``.  One concern per module:

* :mod:`.api`: :func:`transport` (inputs, rates, the exact or KMC solve, the
  Arrhenius fit, the carrier density);
* :mod:`.result`: :class:`TransportResult`;
* :mod:`.paths`: :class:`IonPath` (NEB images, ``write_neb``);
* :mod:`.percolation`: :func:`site_percolation` and the minimax site paths;
* :mod:`.rates`: harmonic rates as log flux weights;
* :mod:`.basins`: the analysed grid behind a site graph (crossings, grid rates);
* :mod:`.constants`: physical constants, ion charges and masses.
"""
from __future__ import annotations

from .api import transport
from .constants import AMU_KG, DIMENSIONALITY_FRACTION, E_CHARGE, ION_CHARGE, ION_MASS_AMU, KB_EV, KB_J  # noqa: F401
from .paths import IonPath
from .percolation import site_percolation
from .rates import _harmonic_weights  # noqa: F401 - used by the benchmarks
from .result import TransportResult

__all__ = ["transport", "TransportResult", "IonPath", "site_percolation", "KB_EV", "DIMENSIONALITY_FRACTION"]
