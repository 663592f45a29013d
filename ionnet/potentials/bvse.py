"""Bond-valence site energy (BVSE) back end with the softBV parameter set.

The site energy of a mobile ion A (charge :math:`q_A`) at position r is

.. math::

    E(r) = \\sum_{X} \\frac{D_0}{2}\\left[\\left(e^{\\alpha (R_{min} - R_{AX})} - 1\\right)^2 - 1\\right]
         + \\sum_{B} 14.4\\,\\frac{q_A q_B}{\\sqrt{n_A n_B}}\\,\\frac{1}{R_{AB}}\\,
           \\operatorname{erfc}\\!\\left(\\frac{R_{AB}}{f (r_A + r_B)}\\right)

where X runs over the framework counter-ions (opposite sign of charge) and B
over the framework ions with the same sign as A, all within ``r_cut_ang``.
:math:`R_{min}`, :math:`\\alpha = 1/b` and :math:`D_0` are the softBV
Morse parameters of the pair (A, X) (Chen & Adams 2017), :math:`n` the
principal quantum numbers, :math:`r` covalent radii and :math:`f = 0.74` the
screening factor (Adams & Rao 2011).  The Morse term carries the factor 1/2 as
in BVlain (A. D. Dembitskiy), so that energies match that code.

References
----------
.. [1] S. Adams, R. P. Rao, "High power lithium ion battery materials by
   computational design", Phys. Status Solidi A 208, 1746-1753 (2011).
.. [2] H. Chen, S. Adams, "Bond softness sensitive bond-valence parameters for
   crystal structure plausibility tests", IUCrJ 4, 614-625 (2017).
.. [3] H. Chen, L. L. Wong, S. Adams, "SoftBV - a software tool for screening the
   materials genome of inorganic fast ion conductors", Acta Cryst. B 75, 18-33 (2019).

The parameter table (``data/softbv_pairs.csv``, ``data/bvse_elements.json``) and
its provenance are described in ``data/SOURCE.md``.
"""
from __future__ import annotations

import csv
import json
import logging
import math
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ._common import BasePotential, framework_elements, iter_batches

from ._bvse_oxidation import (  # noqa: F401  (re-exported: the guesses live there)
    GUESS_TIME_LIMIT_S,
    _as_int_charge,
    _guess_states,
    _time_limit,
    input_oxidation_states,
    structure_oxidation_states,
)

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["BVSEPotential", "GUESS_TIME_LIMIT_S", "softbv_table", "structure_oxidation_states",
           "input_oxidation_states"]

logger = logging.getLogger(__name__)

_COULOMB_EV_ANG = 14.4  # e^2 / (4 pi eps0) in eV Å, rounded as in softBV and BVlain
_POINT_CHUNK = 4096  # probe positions per kd-tree query (bounds memory)


@lru_cache(maxsize=1)
def softbv_table() -> dict[str, Any]:
    """The softBV parameter tables shipped with ionnet.

    Returns
    -------
    dict
        ``pairs``: ``{(cation, q_cation, anion, q_anion): (r0, r_min, alpha, d0)}``
        (Å, Å, 1/Å, eV); ``n``: principal quantum number per element;
        ``r_softbv``: ``{element: {charge: radius}}`` (Å); ``r_cordero``: ``{element: radius}`` (Å).
    """
    data = resources.files("ionnet.potentials") / "data"
    pairs: dict[tuple[str, int, str, int], tuple[float, float, float, float]] = {}
    with (data / "softbv_pairs.csv").open("r", encoding="utf-8") as f:
        rows = csv.reader(line for line in f if not line.startswith("#"))
        header = next(rows)
        assert header[:4] == ["cation", "cation_charge", "anion", "anion_charge"], header
        for r in rows:
            pairs[(r[0], int(r[1]), r[2], int(r[3]))] = (float(r[4]), float(r[5]), float(r[6]), float(r[7]))
    with (data / "bvse_elements.json").open("r", encoding="utf-8") as f:
        el = json.load(f)
    return {
        "pairs": pairs,
        "n": {k: int(v) for k, v in el["principal_quantum_number"].items()},
        "r_softbv": {k: {int(q): float(r) for q, r in v.items()} for k, v in el["covalent_radius_softbv_ang"].items()},
        "r_cordero": {k: float(v) for k, v in el["covalent_radius_cordero_ang"].items()},
        "mobile": {(c, q) for (c, q, _, _) in pairs} | {(a, q) for (_, _, a, q) in pairs},
    }


class BVSEPotential(BasePotential):
    """Bond-valence site energy of a probe ion (softBV parameters); classical, no weights.

    Parameters
    ----------
    r_cut_ang : float, default 10.0
        Interaction cutoff in Å (as BVlain's default).
    screening_factor : float, default 0.74
        ``f`` in the Coulomb screening length ``f (r_A + r_B)``.
    oxidation_states : dict of str to float, optional
        Element -> oxidation state for the framework elements and the probe.  Default:
        the framework's own decoration when it is charge-balanced with the probe,
        else pymatgen's composition-based guess for framework + probe, else
        ``BVAnalyzer`` on the framework.
    radii : {"softbv", "cordero"}, default "softbv"
        Covalent radii in the Coulomb screening: softBV's per-oxidation-state table
        (falls back to Cordero for missing entries) or Cordero et al. (2008), the
        BVlain default.

    Attributes
    ----------
    name : str
        ``"bvse:softbv"``.

    Notes
    -----
    Cost is linear in the number of positions times neighbours within the cutoff;
    a 0.2 Å grid on LiFePO4 (37 000 positions) takes a few seconds.  A probe on
    top of a same-sign ion gets ``+inf``.

    Examples
    --------
    >>> from pymatgen.core import Lattice, Structure
    >>> from ionnet.potentials import BVSEPotential
    >>> nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    >>> fw = nacl.copy()
    >>> _ = fw.remove_sites([0])  # the Na at the origin becomes the probe
    >>> e = BVSEPotential().energies(fw, "Na", [[0, 0, 0], [0.25, 0.25, 0.25]])
    >>> bool(e[0] < e[1])
    True
    """

    name = "bvse:softbv"

    def __init__(
        self,
        *,
        r_cut_ang: float = 10.0,
        screening_factor: float = 0.74,
        oxidation_states: dict[str, float] | None = None,
        radii: str = "softbv",
    ) -> None:
        if not (isinstance(r_cut_ang, (int, float)) and r_cut_ang > 0):
            raise ModelError(f"`r_cut_ang` must be > 0 (got {r_cut_ang!r}); distances are in Å")
        if not (isinstance(screening_factor, (int, float)) and screening_factor > 0):
            raise ModelError(f"`screening_factor` must be > 0 (got {screening_factor!r})")
        if radii not in ("softbv", "cordero"):
            raise ModelError(f"`radii` must be 'softbv' or 'cordero' (got {radii!r})")
        self.r_cut_ang = float(r_cut_ang)
        self.screening_factor = float(screening_factor)
        self.oxidation_states = None if oxidation_states is None else {str(k): float(v) for k, v in oxidation_states.items()}
        self.radii = radii
        self._cache: tuple[tuple, dict] | None = None

    # -- protocol -----------------------------------------------------------------
    def _unknown_elements(self, elements: list[str]) -> list[str]:
        t = softbv_table()
        return [e for e in elements if e not in t["n"]]

    def _supports_hint(self) -> str:
        return "the softBV table has no data for it; try model='m3gnet' or model='chgnet'"

    def for_structure(self, structure: Structure, *, ion: str, framework: str,
                      oxidation_states: dict[str, float] | None = None) -> "BVSEPotential":
        """This potential adapted to one input structure (the optional ``for_structure`` hook of the protocol).

        The oxidation states come from the whole input structure, mobile ions
        included, before any of them is removed (:func:`input_oxidation_states`),
        in every framework mode: the framework then keeps its own charges
        (Fe2+ in LiFePO4, O2- in Li2O) whether the other mobile ions stay or go.
        ``oxidation_states`` (element -> state, e.g. those an ordering of the
        structure was charge-balanced with) are used as given.  Explicit
        ``oxidation_states`` of this potential always win.

        Raises
        ------
        ModelError
            No oxidation states for the input (see :func:`input_oxidation_states`).
        """
        if self.oxidation_states is not None:
            return self
        if oxidation_states:
            states = {str(k): float(v) for k, v in oxidation_states.items()}
            if ion not in states:
                from pymatgen.core import Element

                pos = [q for q in Element(ion).common_oxidation_states if q > 0]
                states[ion] = float(pos[0]) if pos else 1.0
            method = "given"
        else:
            states, method = input_oxidation_states(structure, ion)
        logger.info("BVSE oxidation states of %s (%s): %s", structure.composition.reduced_formula, method, states)
        return type(self)(r_cut_ang=self.r_cut_ang, screening_factor=self.screening_factor,
                          oxidation_states=states, radii=self.radii)

    def charges(self, framework: Any, ion: str) -> tuple[NDArray[np.float64], float]:
        """Oxidation states used for the framework sites and the probe.

        Returns
        -------
        site_charges : (N,) ndarray of float64, e
        ion_charge : float, e

        Raises
        ------
        ModelError
            If no oxidation states can be assigned.
        """
        els = framework_elements(framework)
        if self.oxidation_states is not None:
            missing = sorted({e for e in els + [ion] if e not in self.oxidation_states})
            if missing:
                raise ModelError(f"`oxidation_states` lacks {', '.join(missing)}; give a charge for every element")
            return np.array([self.oxidation_states[e] for e in els]), self.oxidation_states[ion]
        decorated = [getattr(s.specie, "oxi_state", None) for s in framework]
        if all(q is not None for q in decorated):
            q = np.array(decorated, dtype=np.float64)
            same = [qq for e, qq in zip(els, q) if e == ion]
            q_ion = float(same[0]) if same else float(-q.sum())
            if np.any(q != 0) and q_ion != 0 and abs(q.sum() + q_ion) < 1e-6:
                return q, q_ion
            logger.debug("framework oxidation states are not charge-balanced with the probe; guessing from composition")
        states = _guess_states(framework, ion)
        return np.array([states[e] for e in els], dtype=np.float64), float(states[ion])

    def _radius(self, el: str, q: float) -> float:
        t = softbv_table()
        qi = _as_int_charge(q)
        if self.radii == "softbv" and qi is not None and qi in t["r_softbv"].get(el, {}):
            return t["r_softbv"][el][qi]
        if el not in t["r_cordero"]:
            raise ModelError(f"no covalent radius for {el}")
        return t["r_cordero"][el]

    def _setup(self, framework: Any, ion: str) -> dict:
        key = (
            ion,
            np.asarray(framework.lattice.matrix).tobytes(),
            np.asarray(framework.frac_coords).tobytes(),
            tuple(str(s.specie) for s in framework),
        )
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        t = softbv_table()
        q, q_ion = self.charges(framework, ion)
        qi_ion = _as_int_charge(q_ion)
        if qi_ion is None or qi_ion == 0 or (ion, qi_ion) not in t["mobile"]:
            known = sorted(q for (e, q) in t["mobile"] if e == ion)
            raise ModelError(f"no softBV parameters for mobile ion {ion}{q_ion:+g} (table has charges {known} for {ion})")
        els = framework_elements(framework)
        n_ion = t["n"][ion]
        r_ion = self._radius(ion, q_ion)
        morse_idx, morse_par = [], []
        coul_idx, coul_pre, coul_rho = [], [], []
        missing: set[str] = set()
        for i, (el, qj) in enumerate(zip(els, q)):
            if qj * q_ion < 0:  # counter-ion: Morse attraction
                qj_i = _as_int_charge(qj)
                k = (ion, qi_ion, el, qj_i) if q_ion > 0 else (el, qj_i, ion, qi_ion)
                if qj_i is None or k not in t["pairs"]:
                    missing.add(f"{el}{qj:+g}")
                    continue
                _r0, r_min, alpha, d0 = t["pairs"][k]
                morse_idx.append(i)
                morse_par.append((r_min, alpha, d0))
            elif qj * q_ion > 0:  # same sign: screened Coulomb repulsion
                coul_idx.append(i)
                coul_pre.append(_COULOMB_EV_ANG * q_ion * qj / math.sqrt(n_ion * t["n"][el]))
                coul_rho.append(self.screening_factor * (r_ion + self._radius(el, qj)))
        if missing:
            raise ModelError(
                f"no softBV parameters for {ion}{q_ion:+g} with {', '.join(sorted(missing))}; "
                "check the oxidation states (pass oxidation_states=...) or use model='m3gnet'"
            )
        if not morse_idx:
            raise ModelError(f"framework has no counter-ions for {ion}{q_ion:+g}; BVSE needs anions (or cations for an anion probe)")
        lattice = np.array(framework.lattice.matrix, dtype=np.float64)
        frac = np.mod(np.array(framework.frac_coords, dtype=np.float64), 1.0)
        setup = {
            "lattice": lattice,
            "morse": self._images(lattice, frac[morse_idx], np.array(morse_par)),
            "coulomb": self._images(lattice, frac[coul_idx], np.column_stack([coul_pre, coul_rho])) if coul_idx else None,
            "q_ion": q_ion,
        }
        logger.debug("BVSE setup: %s%+g, %d counter-ions, %d same-sign ions", ion, q_ion, len(morse_idx), len(coul_idx))
        self._cache = (key, setup)
        return setup

    def _images(self, lattice: NDArray[np.float64], frac: NDArray[np.float64], par: NDArray[np.float64]):
        """kd-tree over all periodic images within ``r_cut_ang`` of the unit cell."""
        from scipy.spatial import cKDTree

        recip = np.linalg.norm(np.linalg.inv(lattice).T, axis=1)
        nmax = np.ceil(self.r_cut_ang * recip).astype(int) + 1
        shifts = np.stack(np.meshgrid(*[np.arange(-m, m + 1) for m in nmax], indexing="ij"), -1).reshape(-1, 3)
        f = (frac[None, :, :] + shifts[:, None, :]).reshape(-1, 3)
        # keep images whose fractional distance from the cell [0,1)^3 is within the cutoff
        lo = -self.r_cut_ang * recip
        hi = 1 + self.r_cut_ang * recip
        keep = np.all((f >= lo) & (f <= hi), axis=1)
        cart = f[keep] @ lattice
        p = np.tile(par, (len(shifts), 1))[keep]
        return cKDTree(cart), p

    def _energies(self, framework, ion, frac_coords, *, batch_size, progress):
        from scipy.special import erfc
        from tqdm.auto import tqdm

        s = self._setup(framework, ion)
        pts = np.mod(frac_coords, 1.0) @ s["lattice"]
        out = np.zeros(len(pts), dtype=np.float64)
        bs = batch_size or _POINT_CHUNK
        with tqdm(total=len(pts), disable=not progress, desc=self.name, unit="pt") as bar:
            for sl in iter_batches(len(pts), bs):
                tree_p = _tree(pts[sl])
                m = sl.stop - sl.start
                tree, par = s["morse"]
                i, j, r = _pairs(tree_p, tree, self.r_cut_ang)
                r_min, alpha, d0 = par[j, 0], par[j, 1], par[j, 2]
                em = 0.5 * d0 * ((np.exp(alpha * (r_min - r)) - 1.0) ** 2 - 1.0)
                e = np.bincount(i, weights=em, minlength=m)
                if s["coulomb"] is not None:
                    tree, par = s["coulomb"]
                    i, j, r = _pairs(tree_p, tree, self.r_cut_ang)
                    with np.errstate(divide="ignore", invalid="ignore"):
                        ec = par[j, 0] / r * erfc(r / par[j, 1])
                    ec[r < 1e-8] = np.inf
                    e = e + np.bincount(i, weights=ec, minlength=m)
                out[sl] = e
                bar.update(m)
        return out


def _tree(cart: NDArray[np.float64]):
    from scipy.spatial import cKDTree

    return cKDTree(cart)


def _pairs(tree_p, tree, r_cut: float) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """All (point, atom, distance) pairs within ``r_cut``, zero distances included."""
    coo = tree_p.sparse_distance_matrix(tree, r_cut, output_type="ndarray")
    return coo["i"].astype(np.int64), coo["j"].astype(np.int64), coo["v"].astype(np.float64)
