"""Analytic back end: a user function of the probe's Cartesian position."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError
from ._common import BasePotential, iter_batches

__all__ = ["AnalyticPotential"]

logger = logging.getLogger(__name__)


class AnalyticPotential(BasePotential):
    """Energies from a vectorised function ``f(cart_xyz) -> energies``.

    Parameters
    ----------
    func : callable
        ``f(cart_xyz)`` with ``cart_xyz`` an (n, 3) ndarray of probe positions in Å
        (Cartesian, in the framework's frame) returning (n,) energies in eV.
        The framework and ion are not passed: close over them if needed.
    name : str, optional
        Default ``"analytic:<function name>"``.

    Notes
    -----
    Positions are passed as given, not wrapped into the cell, so ``func`` should
    itself be periodic if the grid analysis needs it.

    Examples
    --------
    >>> import numpy as np
    >>> from pymatgen.core import Lattice, Structure
    >>> from ionnet.potentials import AnalyticPotential
    >>> fw = Structure(Lattice.cubic(4.0), ["Cl"], [[0, 0, 0]])
    >>> pot = AnalyticPotential(lambda xyz: np.cos(2 * np.pi * xyz[:, 0] / 4.0))
    >>> pot.energies(fw, "Li", [[0.0, 0, 0], [0.5, 0, 0]]).round(6).tolist()
    [1.0, -1.0]
    """

    def __init__(self, func: Callable[[NDArray[np.float64]], Any], *, name: str | None = None) -> None:
        if not callable(func):
            raise ModelError(f"`func` must be callable f(cart_xyz (n, 3) Å) -> (n,) eV (got {type(func).__name__})")
        self.func = func
        self.name = name or f"analytic:{getattr(func, '__name__', type(func).__name__)}"

    def _energies(self, framework: Any, ion: str, frac_coords: NDArray[np.float64], *, batch_size: int | None, progress: bool) -> NDArray[np.float64]:
        from tqdm.auto import tqdm

        cart = frac_coords @ np.asarray(framework.lattice.matrix, dtype=np.float64)
        out = np.empty(len(cart), dtype=np.float64)
        bs = batch_size or len(cart)
        with tqdm(total=len(cart), disable=not progress, desc=self.name, unit="pt") as bar:
            for sl in iter_batches(len(cart), bs):
                e = np.asarray(self.func(cart[sl]), dtype=np.float64)
                if e.shape != (sl.stop - sl.start,):
                    e = e.reshape(-1)
                    if e.shape != (sl.stop - sl.start,):
                        raise ModelError(f"{self.name} returned shape {np.shape(e)} for {sl.stop - sl.start} positions; it must return (n,) energies in eV")
                out[sl] = e
                bar.update(sl.stop - sl.start)
        return out
