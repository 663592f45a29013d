"""Transport kernels: exact dilute-limit diffusion on a periodic hopping network, KMC, grid paths.

Array in, array out; no I/O.  One concern per module:

* :mod:`.network`: the network (sites, edges with periodic images) and its
  temperature-independent elimination plan (:func:`prepare_network`);
* :mod:`.elimination`: the exact D by star–mesh elimination, a sparse loop and
  a dense tail (:func:`exact_diffusion`), and the sparse corrector solve it is
  checked against (:func:`corrector_diffusion`); the formulas are in that
  module's docstring and in ``docs/transport.md``;
* :mod:`.kmc`: kinetic Monte Carlo on the same network (:func:`kmc_diffusion`);
* :mod:`.percolation`: Kruskal's order over the saddles with cell offsets
  (:func:`network_percolation`);
* :mod:`.paths`: the ion's path through the grid inside a basin
  (:func:`descent_path`, :func:`basin_path`), in the periodic frames of
  :func:`ionnet.core.sites.basin_images` (re-exported here with
  :func:`~ionnet.core.sites.basin_crossings`).

The periodic neighbour step and the union-find with image offsets are shared
with the grid kernels (:mod:`ionnet.core.periodic`).
"""
from __future__ import annotations

from ..sites import basin_crossings, basin_images
from .elimination import corrector_diffusion, exact_diffusion
from .kmc import kmc_diffusion
from .network import Network, prepare_network
from .paths import basin_path, descent_path
from .percolation import network_percolation

__all__ = [
    "Network",
    "prepare_network",
    "exact_diffusion",
    "corrector_diffusion",
    "kmc_diffusion",
    "network_percolation",
    "basin_images",
    "basin_crossings",
    "descent_path",
    "basin_path",
]
