"""Ordered supercells of partially occupied crystals (mixed sites, vacancies, split sites).

Experimental CIFs of fast ion conductors are mostly disordered: mixed cation
sites (LGPS, garnets, NASICON), vacancies on framework sites, split sites.  An
energy scan needs one ordered framework, so :func:`order_structure` builds
ordered supercells in four steps:

1. *Sites.*  The mobile ion is removed (``framework='empty'``) or kept
   (``framework='occupied'``).  Partially occupied sites closer than
   ``split_distance_ang`` (split sites, or two CIF rows on one position) are
   merged into one site that holds at most one atom.  Sites are grouped into
   symmetry orbits (spglib on the disordered structure), in the primitive cell.
2. *Rounding.*  For every supercell size ``d`` (primitive cells) up to
   ``max_sites`` sites, the occupancies of each orbit are rounded to counts:
   largest-remainder rounding per orbit, with the element totals kept at the
   largest-remainder rounding of the whole supercell.  The size with the least
   rounding error is kept; in the occupied mode the mobile-ion count is then
   set for charge balance.
3. *Supercell.*  Among the supercells of that size (diagonal or small
   non-diagonal, Hermite normal forms) the most compact one is kept (largest
   distance between periodic images).
4. *Configurations.*  Sites are filled: lowest Ewald energy (pymatgen's
   ``OrderDisorderedStructureTransformation`` when the number of orderings is
   small, else a steepest-descent swap search with restarts on the Ewald
   matrix), or at random with a fixed seed.

Everything runs under ``time_limit_s``; pymatgen is imported inside the
functions that need it.

The package is split by step: :mod:`.sites` (site table, base cell, orbits,
split sites), :mod:`.oxidation`, :mod:`.rounding`, :mod:`.supercell`,
:mod:`.configurations` (Ewald ranking, random fillings, building the
structures), :mod:`.results` and :mod:`.api` (:func:`order_structure`).
See ``docs/ordering.md``.
"""
from __future__ import annotations

from ._common import (EWALD_MAX_SITES, FRAMEWORK_MODES, MAX_HNF, METHODS, OCC_TOL, PYMATGEN_MAX_ORDERINGS,
                      SPLIT_OVERFULL)
from .api import order_structure
from .oxidation import guess_oxidation_states
from .results import OrderingResult, SiteRounding
from .rounding import largest_remainder, round_counts

__all__ = [
    "order_structure",
    "OrderingResult",
    "SiteRounding",
    "largest_remainder",
    "round_counts",
    "guess_oxidation_states",
    "FRAMEWORK_MODES",
    "METHODS",
    "PYMATGEN_MAX_ORDERINGS",
    "EWALD_MAX_SITES",
    "MAX_HNF",
    "SPLIT_OVERFULL",
    "OCC_TOL",
]
