"""ASE back end: any ASE calculator, energy only, one position at a time."""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ._common import BasePotential

__all__ = ["ASEPotential"]

logger = logging.getLogger(__name__)


class ASEPotential(BasePotential):
    """Wrap an ASE calculator; the energy is ``atoms.get_potential_energy()``.

    Parameters
    ----------
    calculator : ase.calculators.calculator.Calculator
        Any ASE calculator (EMT, LAMMPS, a machine-learned potential's calculator...).
    name : str, optional
        Default ``"ase:<calculator class name>"``.

    Notes
    -----
    Positions are evaluated one by one (ASE has no batch API), so this is the
    slowest back end; use it for calculators ionnet has no native support for.
    Element support is not known in advance: :meth:`supports` accepts everything
    and errors surface from the calculator as :class:`~ionnet.ModelError`.

    Examples
    --------
    >>> from ase.calculators.emt import EMT
    >>> from pymatgen.core import Lattice, Structure
    >>> from ionnet.potentials import ASEPotential
    >>> cu = Structure(Lattice.cubic(3.61), ["Cu"] * 4, [[0, 0, 0], [0, .5, .5], [.5, 0, .5], [.5, .5, 0]])
    >>> e = ASEPotential(EMT()).energies(cu, "Cu", [[0.5, 0.5, 0.5], [0.25, 0.25, 0.25]])
    >>> e.shape
    (2,)
    """

    def __init__(self, calculator: Any, *, name: str | None = None) -> None:
        if not hasattr(calculator, "get_potential_energy"):
            raise ModelError(f"`calculator` must be an ASE calculator (got {type(calculator).__name__})")
        self.calculator = calculator
        self.name = name or f"ase:{type(calculator).__name__}"

    def _energies(self, framework: Any, ion: str, frac_coords: NDArray[np.float64], *, batch_size: int | None, progress: bool) -> NDArray[np.float64]:
        from pymatgen.io.ase import AseAtomsAdaptor
        from tqdm.auto import tqdm

        s = framework.copy()
        s.append(ion, frac_coords[0], coords_are_cartesian=False)
        atoms = AseAtomsAdaptor.get_atoms(s)
        atoms.calc = self.calculator
        lattice = np.array(framework.lattice.matrix, dtype=np.float64)
        cart = frac_coords @ lattice
        out = np.empty(len(frac_coords), dtype=np.float64)
        for i in tqdm(range(len(cart)), disable=not progress, desc=self.name, unit="pt"):
            pos = atoms.get_positions()
            pos[-1] = cart[i]
            atoms.set_positions(pos)
            try:
                out[i] = float(atoms.get_potential_energy())
            except Exception as e:  # noqa: BLE001 - calculators raise anything
                raise ModelError(f"{self.name} failed with {ion} at {np.round(frac_coords[i], 4).tolist()}: {e}") from e
        return out

    def ase_calculator(self) -> Any:
        """The wrapped calculator (used by ``relax=True``)."""
        return self.calculator
