"""The OBELiX data set: measured conductivities, CIFs, their disorder, and crude approximants.

:func:`load_obelix` reads ``obelix.csv`` (censored conductivities such as
``<1E-10`` become their bound, flagged ``censored``); :func:`plan_obelix`
sorts the CIFs into ordered / disordered on mobile-ion sites only /
disordered framework.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from ..errors import BackendUnavailableError, DataError, StructureError
from ..io.files import safe_name
from ..io.structures import site_elements

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = [
    "SUPERIONIC_S_CM",
    "DISORDERED_MODES",
    "parse_conductivity",
    "ObelixEntry",
    "load_obelix",
    "classify_disorder",
    "Plan",
    "plan_obelix",
    "majority_approximant",
]

#: Superionic: measured room-temperature conductivity >= 1e-4 S/cm.
SUPERIONIC_S_CM = 1e-4
#: ``disordered=`` choices for framework-disordered CIFs.
DISORDERED_MODES = ("order", "skip", "majority", "order+majority")


def parse_conductivity(text: str) -> tuple[float, bool]:
    """``(sigma_S_cm, censored)`` from an OBELiX conductivity cell.

    ``'<1E-10'`` (an upper bound: below the detection limit) gives
    ``(1e-10, True)``: the bound is used as the value.  Empty gives NaN.

    Examples
    --------
    >>> parse_conductivity("1.58489e-06"), parse_conductivity("<1E-10"), parse_conductivity(" ")
    ((1.58489e-06, False), (1e-10, True), (nan, False))
    """
    t = (text or "").strip()
    if not t:
        return float("nan"), False
    censored = False
    if t[0] in "<≤":
        censored, t = True, t[1:].lstrip("=").strip()
    try:
        v = float(t)
    except ValueError:
        raise DataError(f"cannot parse conductivity {text!r} (expected a number in S/cm or '<bound')") from None
    if not v > 0:
        raise DataError(f"conductivity must be > 0 S/cm (got {text!r})")
    return v, censored


@dataclass(frozen=True)
class ObelixEntry:
    """One OBELiX row.

    Attributes
    ----------
    id : str
    formula : str
    sigma_s_cm : float
        Room-temperature ionic conductivity, S/cm (the bound when censored).
    censored : bool
        The measurement is an upper bound ('<1E-10').
    cif : str or None
        Path of the CIF (None when OBELiX has none).
    cif_ordered : bool or None
    family : str
    """

    id: str
    formula: str
    sigma_s_cm: float
    censored: bool
    cif: str | None
    cif_ordered: bool | None
    family: str = ""

    @property
    def log10_sigma(self) -> float:
        return math.log10(self.sigma_s_cm)

    @property
    def superionic(self) -> bool:
        return self.sigma_s_cm >= SUPERIONIC_S_CM and not self.censored


def load_obelix(data_dir: str | os.PathLike) -> list[ObelixEntry]:
    """Read ``obelix.csv`` (and locate ``cifs/<id>.cif``) from an OBELiX folder."""
    data_dir = os.fspath(data_dir)
    path = os.path.join(data_dir, "obelix.csv")
    if not os.path.exists(path):
        raise DataError(f"{path} not found: `data` must be the OBELiX folder holding obelix.csv and cifs/")
    out = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
            missing = {"id", "ionic_conductivity_S_cm"} - set(reader.fieldnames or ())
    except UnicodeDecodeError as e:
        raise DataError(f"{path} is not UTF-8 text (byte {e.start}); save the table as UTF-8 CSV") from None
    except (OSError, csv.Error) as e:
        raise DataError(f"cannot read {path} ({e}); it must be the OBELiX CSV table") from None
    if missing:
        raise DataError(f"{path} has no column {', '.join(sorted(missing))}: it must be the OBELiX CSV table")
    for row in rows:
        sigma, cens = parse_conductivity(row["ionic_conductivity_S_cm"])
        cif = os.path.join(data_dir, "cifs", f"{safe_name(row['id'])}.cif")  # never outside data_dir/cifs
        has = row.get("has_cif", "").strip() == "True" and os.path.exists(cif)
        ordered = {"True": True, "False": False}.get(row.get("cif_ordered", "").strip())
        out.append(ObelixEntry(row["id"], row.get("reduced_composition", ""), sigma, cens,
                               cif if has else None, ordered if has else None, row.get("family", "")))
    return out


def classify_disorder(cif: str | os.PathLike, ion: str = "Li") -> str:
    """``'ordered'``, ``'ion'`` (only sites holding ``ion`` and vacancies are partial) or ``'framework'``.

    Raises
    ------
    StructureError
        The CIF cannot be read.
    """
    try:
        from pymatgen.core import Structure
    except ImportError as e:  # pragma: no cover
        raise BackendUnavailableError("pymatgen is needed to read CIFs: pip install 'ionnet[structures]'") from e
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(os.fspath(cif))
    except Exception as e:  # noqa: BLE001
        raise StructureError(f"cannot read {cif}: {e}") from None
    kind = "ordered"
    for site in s:
        occ = site_elements(site)
        if len(occ) == 1 and abs(sum(occ.values()) - 1.0) < 1e-3:
            continue
        if set(occ) == {ion}:
            kind = "ion"
        else:
            return "framework"
    return kind


@dataclass
class Plan:
    """Which OBELiX entries are screened, how, and why the others are not."""

    entries: dict[str, ObelixEntry]
    groups: dict[str, list[str]] = field(default_factory=dict)  # 'ordered' | 'ion' | 'framework' -> [id]
    unscored: dict[str, str] = field(default_factory=dict)      # id -> reason

    def group_of(self) -> dict[str, str]:
        """id -> its disorder group."""
        return {i: g for g, ids in self.groups.items() for i in ids}


def plan_obelix(entries: Sequence[ObelixEntry], *, ion: str = "Li", disordered: str = "order") -> Plan:
    """Sort entries by disorder class; ``disordered='skip'`` leaves framework-disordered ones out."""
    if disordered not in DISORDERED_MODES:
        raise DataError(f"`disordered` must be one of {', '.join(DISORDERED_MODES)} (got {disordered!r})")
    plan = Plan({e.id: e for e in entries}, {"ordered": [], "ion": [], "framework": []})
    for e in sorted(entries, key=lambda e: e.id):
        if e.cif is None:
            plan.unscored[e.id] = "no CIF in OBELiX"
            continue
        if not math.isfinite(e.sigma_s_cm):
            plan.unscored[e.id] = "no conductivity value"
            continue
        try:
            kind = "ordered" if e.cif_ordered else classify_disorder(e.cif, ion)
        except StructureError as err:
            plan.unscored[e.id] = f"unreadable CIF: {err}"
            continue
        if kind == "framework" and disordered == "skip":
            plan.unscored[e.id] = "framework disorder (disordered='skip')"
            continue
        plan.groups[kind].append(e.id)
    return plan


def majority_approximant(cif: str | os.PathLike, ion: str = "Li", *, min_separation_ang: float = 1.0) -> Structure:
    """A crude ordered framework for a CIF whose framework is disordered (for ``framework='empty'``).

    Every site keeps its majority non-``ion`` element when the non-``ion``
    occupancy is >= 0.5 (ties: the alphabetically first element); a site
    holding mostly ``ion`` (or only ``ion``) becomes a full ``ion`` site (it is
    removed anyway by ``framework='empty'``); other sites are dropped.  If no
    ``ion`` site is left (the ion always shares its sites with a majority
    element), the sites richest in ``ion`` become ``ion`` sites.  Sites
    are placed in order of decreasing occupancy and a framework atom closer
    than ``min_separation_ang`` to one already placed is dropped (split sites).

    Returns
    -------
    pymatgen Structure
        Ordered; charge balance is not enforced.
    """
    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure.from_file(os.fspath(cif))
    picks = []
    for site in s:
        occ = site_elements(site)
        other = {k: v for k, v in occ.items() if k != ion}
        tot_other = sum(other.values())
        if tot_other >= 0.5 - 1e-6:
            el = sorted(other.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            picks.append((tot_other, el, site.frac_coords))
        elif occ.get(ion, 0.0) > 0:
            picks.append((occ[ion], ion, site.frac_coords))
    if not any(el == ion for _, el, _ in picks):
        # every ion shares its sites with a majority framework element (e.g. Li/La A sites of a perovskite):
        # the site(s) with the most ion become ion sites, so the structure still has its mobile ion
        ion_occ = [site_elements(site).get(ion, 0.0) for site in s]
        best = max(ion_occ) if ion_occ else 0.0
        if best > 0:
            for k, site in enumerate(s):
                if abs(ion_occ[k] - best) < 1e-6:
                    picks = [p for p in picks if not np.allclose(p[2], site.frac_coords)]
                    picks.append((best, ion, site.frac_coords))
    picks.sort(key=lambda p: (p[1] == ion, -p[0]))  # framework first, most occupied first
    species, coords = [], []
    lat = s.lattice
    for _, el, fc in picks:
        if coords and el != ion:
            fw = [c for c, e in zip(coords, species) if e != ion]
            if fw:
                d = lat.get_all_distances([fc], fw)[0]
                if d.min() < min_separation_ang:
                    continue
        species.append(el)
        coords.append(fc)
    return Structure(lat, species, coords)
