"""The result of an ordering: :class:`OrderingResult` and its per-site rounding report :class:`SiteRounding`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SiteRounding", "OrderingResult"]


@dataclass(frozen=True)
class SiteRounding:
    """How one element on one orbit was rounded.

    Attributes
    ----------
    orbit : int
        Orbit index (symmetry-equivalent sites of the base cell; split sites merged).
    label : str
        CIF label (or species string) of a representative site.
    element : str
    multiplicity : int
        Sites of the orbit per base cell.
    n_sites : int
        Sites of the orbit in the supercell (``multiplicity * scaling``).
    frac_coords : tuple of float
        A representative position, fractional coordinates of the base cell.
    target : float
        Occupancy in the input (0-1, summed over the positions of a split site).
    count : int
        Atoms of ``element`` placed on the orbit in the supercell.
    realised : float
        ``count / n_sites``.
    error : float
        ``realised - target``.
    """

    orbit: int
    label: str
    element: str
    multiplicity: int
    n_sites: int
    frac_coords: tuple
    target: float
    count: int
    realised: float
    error: float

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class OrderingResult:
    """Ordered supercells of a disordered structure (:func:`order_structure`).

    Attributes
    ----------
    structures : tuple of pymatgen Structure
        The ordered configurations, lowest Ewald energy first (method
        ``'ewald-*'``) or in the order drawn (``'random'``); plain elements
        (oxidation states removed).  In the ``'empty'`` mode they hold no
        mobile ion.  At most ``n_configurations``; fewer when fewer distinct
        orderings exist or ``time_limit_s`` ran out (see ``notes``).
    ion : str
    framework : {'empty', 'occupied'}
    base_cell : {'input', 'primitive'}
        The cell the supercell is built from.
    supercell_matrix : (3, 3) ndarray of int
        Rows give the supercell vectors in units of the base cell vectors.
    input_matrix : (3, 3) ndarray of float
        The same relative to the input cell (integral when the base is the input cell).
    scaling : int
        ``det(supercell_matrix)``: base cells per supercell.
    rounding : tuple of SiteRounding
        One row per orbit and element.
    composition_target, composition_realised : dict of str to float
        Atoms per supercell, input occupancies vs. the configurations.
    method : {'none', 'ewald-pymatgen', 'ewald-descent', 'random'}
    energies_ev : tuple of float or None
        Ewald energy (eV) of each configuration (point charges, no
        charged-cell background), None for ``'random'``/``'none'``.
    charge : float or None
        Total charge (e) of the configurations with ``oxidation_states``.
    oxidation_states : dict of str to float or None
    oxidation_source : {'given', 'input', 'guess'} or None
    seed : int or None
    time_s : float
        Wall time of the call (s).
    notes : tuple of str
        Anything a reader should know: capped split sites, charge residuals,
        fewer configurations than asked...
    """

    structures: tuple
    ion: str
    framework: str
    base_cell: str
    supercell_matrix: NDArray[np.int64]
    input_matrix: NDArray[np.float64]
    scaling: int
    rounding: tuple
    composition_target: dict
    composition_realised: dict
    method: str
    energies_ev: tuple | None
    charge: float | None
    oxidation_states: dict | None
    oxidation_source: str | None
    seed: Any
    time_s: float
    notes: tuple = field(default=())

    @property
    def structure(self) -> Any:
        """The first (lowest-energy) configuration."""
        return self.structures[0]

    @property
    def n_atoms(self) -> int:
        """Atoms per configuration."""
        return len(self.structures[0])

    @property
    def max_site_error(self) -> float:
        """Largest ``|realised - target|`` occupancy over orbits and elements."""
        return max((abs(r.error) for r in self.rounding), default=0.0)

    @property
    def composition_error(self) -> float:
        """Atoms missing or in excess, summed over elements, per target atom."""
        tot = sum(self.composition_target.values())
        if tot <= 0:
            return 0.0
        els = set(self.composition_target) | set(self.composition_realised)
        dev = sum(abs(self.composition_realised.get(e, 0.0) - self.composition_target.get(e, 0.0)) for e in els)
        return dev / tot

    def to_dict(self) -> dict:
        """JSON-ready record (structures as formulas; ``structure.as_dict()`` them yourself)."""
        return {
            "ion": self.ion,
            "framework": self.framework,
            "base_cell": self.base_cell,
            "supercell_matrix": np.asarray(self.supercell_matrix).tolist(),
            "input_matrix": np.round(np.asarray(self.input_matrix), 6).tolist(),
            "scaling": self.scaling,
            "n_configurations": len(self.structures),
            "n_atoms": self.n_atoms,
            "formula": self.structures[0].composition.formula,
            "method": self.method,
            "energies_ev": None if self.energies_ev is None else list(self.energies_ev),
            "charge": self.charge,
            "oxidation_states": self.oxidation_states,
            "oxidation_source": self.oxidation_source,
            "composition_target": self.composition_target,
            "composition_realised": self.composition_realised,
            "max_site_error": self.max_site_error,
            "composition_error": self.composition_error,
            "rounding": [r.to_dict() for r in self.rounding],
            "seed": self.seed if isinstance(self.seed, (int, type(None))) else repr(self.seed),
            "time_s": self.time_s,
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A few lines for people."""
        m = np.asarray(self.supercell_matrix)
        shape = (f"{m[0, 0]}x{m[1, 1]}x{m[2, 2]}" if np.count_nonzero(m - np.diag(np.diag(m))) == 0
                 else m.tolist())
        lines = [
            f"{len(self.structures)} configuration(s) of {self.structures[0].composition.formula} "
            f"({self.n_atoms} atoms, {self.framework} framework)",
            f"supercell {shape} of the {self.base_cell} cell ({self.scaling} cells), method {self.method}, "
            f"{self.time_s:.2f} s",
            f"rounding: max site error {self.max_site_error:.3f}, composition error {self.composition_error:.3%}",
        ]
        if self.charge is not None:
            what = "charge" if self.framework == "occupied" else f"framework charge (without {self.ion})"
            lines.append(f"{what} {self.charge:+.2f} e (oxidation states: {self.oxidation_source})")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)
