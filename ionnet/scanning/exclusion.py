"""Exclusion radii: nodes this close to a framework atom are not evaluated (unless the frontier needs them)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..core.frontier import sphere_mask
from ..errors import GridError

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["EXCLUSION_FACTOR", "default_min_distance", "radii", "excluded_mask"]

#: Default exclusion radius = EXCLUSION_FACTOR * (r_probe + r_atom), radii from pymatgen.
EXCLUSION_FACTOR = 0.6


def _radius(symbol: str, anion: bool) -> float:
    from pymatgen.core import Element

    el = Element(symbol)
    cand = [float(el.average_anionic_radius or 0.0)] if anion else []
    cand += [float(el.average_cationic_radius or 0.0), float(el.average_ionic_radius or 0.0)]
    return next((r for r in cand if r > 0), float(el.atomic_radius or 1.0))


def _is_anion(symbol: str) -> bool:
    from pymatgen.core import Element

    el = Element(symbol)
    return el.group in (15, 16, 17) and (el.X or 0.0) >= 2.5


def default_min_distance(ion: str, elements: Sequence[str], factor: float = EXCLUSION_FACTOR) -> dict[str, float]:
    """Default exclusion radius (Å) of each framework element around a probe ``ion``.

    ``factor * (r_ion + r_element)`` with pymatgen's average ionic radii (the
    probe and cations: average cationic radius; N, O, F, S, Cl, Se, Br, I...:
    average anionic radius).

    Examples
    --------
    >>> d = default_min_distance("Li", ["O", "Fe"])
    >>> round(d["O"], 3), round(d["Fe"], 3)
    (1.296, 1.051)
    """
    r_ion = _radius(ion, anion=False)
    return {e: float(factor * (r_ion + _radius(e, anion=_is_anion(e)))) for e in elements}


def radii(ion: str, elements: Sequence[str], min_distance: float | dict[str, float] | None) -> dict[str, float]:
    """Exclusion radius (Å) per framework element: the default, one radius, or a dict (missing: 0);
    elements without exclusion are left out."""
    if min_distance is None:
        r = default_min_distance(ion, elements)
    elif isinstance(min_distance, dict):
        r = {e: float(min_distance.get(e, 0.0)) for e in elements}
    else:
        r = {e: float(min_distance) for e in elements}
    return {e: v for e, v in r.items() if v > 0}


def excluded_mask(
    framework: Structure, shape: Sequence[int], radii_ang: dict[str, float], *, label: str = "the map"
) -> NDArray[np.bool_]:
    """(na, nb, nc) True where a node is closer than ``radii_ang[element]`` to a framework atom.

    Raises
    ------
    GridError
        Every node is excluded (``label`` names the map in the message).
    """
    r = np.array([radii_ang.get(site.specie.symbol, 0.0) for site in framework])
    mask = sphere_mask(shape, framework.lattice.matrix, framework.frac_coords, r)
    if mask.all():
        raise GridError(
            f"every node of {label} is closer than `min_distance` to a framework atom "
            f"(radii {', '.join(f'{k} {v:.2f} Å' for k, v in sorted(radii_ang.items()))}); pass a smaller min_distance"
        )
    return mask
