"""ASE calculator for M3GNet weights (:class:`~ionnet.potentials.m3gnet.M3GNetASECalculator`).

Split out of :mod:`ionnet.potentials.m3gnet`, which creates the class on first access
(ASE and torch are imported only then).
"""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError


def _evaluate(pot: Any, atoms: Any, grads: bool) -> tuple[float, NDArray[np.float64] | None, NDArray[np.float64] | None]:
    """Energy (eV) of periodic ``atoms`` under ``pot``'s fast path; forces and 3x3 stress by autograd if ``grads``."""
    import torch

    from ._m3gnet_torch import positions_and_shifts
    from ._m3gnet_inputs import _graph_batch

    if not atoms.pbc.all():
        raise ModelError("M3GNetASECalculator needs periodic boundaries in all three directions (atoms.pbc)")
    symbols = atoms.get_chemical_symbols()
    pot.supports(sorted(set(symbols)))
    index = {e: i for i, e in enumerate(pot.element_types)}
    node_type = np.array([index[e] for e in symbols], dtype=np.int64)
    lattice = np.array(atoms.get_cell(), dtype=np.float64)
    dev = torch.device(pot.device)
    dtype = pot.potential.data_mean.dtype
    batch, frac, img, lat = _graph_batch(
        node_type, [atoms.get_scaled_positions(False)], [atoms.get_positions()], [lattice], pot.cutoff,
        device=dev, dtype=dtype,
    )
    with torch.enable_grad() if grads else torch.inference_mode():
        strain = torch.zeros((1, 3, 3), dtype=dtype, device=dev, requires_grad=grads)
        lat = lat @ (torch.eye(3, dtype=dtype, device=dev) + strain)
        pos, shift = positions_and_shifts(frac, img, lat, batch)
        energy = pot._net(pos, shift, batch)
        if grads:
            d_pos, d_strain = torch.autograd.grad(energy.sum(), [pos, strain])
    e = float(energy.detach().sum())
    if not grads:
        return e, None, None
    forces = -d_pos.detach().to("cpu", torch.float64).numpy()
    virial = d_strain[0].detach().to("cpu", torch.float64).numpy()
    return e, forces, 0.5 * (virial + virial.T) / abs(np.linalg.det(lattice))


def _ase_calculator_class() -> type:
    """Build :class:`M3GNetASECalculator` (ASE is imported only when it is first used)."""
    from ase.calculators.calculator import Calculator, all_changes
    from ase.stress import full_3x3_to_voigt_6_stress

    from .m3gnet import MatglPotential

    class M3GNetASECalculator(Calculator):
        """ASE calculator for M3GNet weights with matgl 1.x (DGL) conventions.

        Energies equal matgl 1.1.3's ``PESCalculator`` (and :class:`MatglPotential`'s
        fast path); forces (eV/Å) and stress (eV/Å^3, ASE's sign and Voigt order)
        come from autograd of the same energy and are computed only when asked for.

        Parameters
        ----------
        potential : MatglPotential or path-like, optional
            A :class:`MatglPotential` using the fast path (shared, not copied), or a
            model folder as accepted by :class:`MatglPotential`.
        device : str, default "cpu"
            Torch device, when ``potential`` is a folder.
        **kwargs
            Passed to ``ase.calculators.calculator.Calculator``.

        Raises
        ------
        ModelError
            If the model is not a plain M3GNet, or an atom's element is unknown to it.

        Examples
        --------
        >>> from ionnet.potentials.m3gnet import M3GNetASECalculator   # doctest: +SKIP
        >>> atoms.calc = M3GNetASECalculator("/path/to/M3GNet-MP-2021.2.8-PES")  # doctest: +SKIP
        >>> atoms.get_potential_energy() / len(atoms)                   # doctest: +SKIP
        -3.3675...
        """

        implemented_properties = ("energy", "free_energy", "forces", "stress")

        def __init__(self, potential: Any = None, *, device: str = "cpu", **kwargs: Any) -> None:
            super().__init__(**kwargs)
            if not isinstance(potential, MatglPotential):
                potential = MatglPotential(potential, device=device)
            if potential._net is None:
                raise ModelError(f"{potential.name!r} is not a plain M3GNet; use matgl.ext.ase.PESCalculator")
            self.matgl_potential = potential

        def calculate(self, atoms: Any = None, properties: Any = ("energy",), system_changes: Any = all_changes) -> None:
            super().calculate(atoms, properties, system_changes)
            grads = "forces" in properties or "stress" in properties
            e, forces, stress = _evaluate(self.matgl_potential, self.atoms, grads)
            self.results.update(energy=e, free_energy=e)
            if grads:
                self.results["forces"] = forces
                self.results["stress"] = full_3x3_to_voigt_6_stress(stress)

    M3GNetASECalculator.__module__ = "ionnet.potentials.m3gnet"
    return M3GNetASECalculator
