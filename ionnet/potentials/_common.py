"""Shared helpers of the potential back ends (input checks, batching, element checks).

Nothing heavy is imported here: numpy only.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from ..errors import ModelError, StructureError

__all__ = [
    "Potential",
    "BasePotential",
    "as_frac_coords",
    "check_framework",
    "framework_elements",
    "iter_batches",
    "normalise_elements",
]

logger = logging.getLogger(__name__)


def as_frac_coords(frac_coords: Any) -> NDArray[np.float64]:
    """Return probe positions as a C-contiguous (n, 3) float64 array.

    Parameters
    ----------
    frac_coords : (n, 3) or (3,) array_like, fractional
        Probe positions in the framework's lattice.

    Returns
    -------
    (n, 3) ndarray of float64, fractional

    Raises
    ------
    ModelError
        If the array is not (n, 3) or holds non-finite values.
    """
    try:
        fc = np.asarray(frac_coords, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise ModelError(f"`frac_coords` must be an (n, 3) array of fractional coordinates (got {type(frac_coords).__name__})") from e
    if fc.ndim == 1 and fc.shape[0] == 3:
        fc = fc[None, :]
    if fc.ndim != 2 or fc.shape[1] != 3:
        raise ModelError(f"`frac_coords` must have shape (n, 3) (got {fc.shape}); positions are fractional")
    if not np.all(np.isfinite(fc)):
        raise ModelError("`frac_coords` contains NaN or inf; every probe position must be finite")
    return np.ascontiguousarray(fc)


def check_framework(framework: Any) -> None:
    """Check that ``framework`` looks like an ordered pymatgen ``Structure``.

    Raises
    ------
    StructureError
        If it has no lattice / sites or is disordered.
    """
    if not (hasattr(framework, "lattice") and hasattr(framework, "frac_coords") and hasattr(framework, "sites")):
        raise StructureError(
            f"`framework` must be a pymatgen Structure (got {type(framework).__name__}); "
            "convert ASE Atoms with pymatgen.io.ase.AseAtomsAdaptor.get_structure"
        )
    if len(framework) == 0:
        raise StructureError("`framework` has no atoms; it must hold the frozen atoms (probe excluded)")
    if not getattr(framework, "is_ordered", True):
        raise StructureError("`framework` is disordered (partial occupancies); order it first, e.g. with OrderDisorderedStructureTransformation")


def framework_elements(framework: Any) -> list[str]:
    """Element symbol of every site, in site order (oxidation states dropped)."""
    return [site.specie.symbol for site in framework]


def normalise_elements(elements: Any) -> list[str]:
    """Turn a symbol, an iterable of symbols/species or a Structure into a list of element symbols."""
    if isinstance(elements, str):
        return [elements]
    if hasattr(elements, "sites"):  # pymatgen Structure / Molecule
        return sorted({s.specie.symbol for s in elements})
    out = []
    for e in elements:
        sym = getattr(e, "symbol", None)  # pymatgen Element / Species
        out.append(str(sym if sym is not None else e))
    return out


def iter_batches(n: int, batch_size: int) -> Iterator[slice]:
    """Yield consecutive slices of at most ``batch_size`` items covering ``range(n)``."""
    if batch_size < 1:
        raise ModelError(f"`batch_size` must be >= 1 (got {batch_size})")
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def check_batch_size(batch_size: Any) -> int | None:
    """Validate an optional ``batch_size`` argument."""
    if batch_size is None:
        return None
    try:
        b = int(batch_size)
    except (TypeError, ValueError) as e:
        raise ModelError(f"`batch_size` must be a positive integer (got {batch_size!r})") from e
    if b < 1 or b != batch_size:
        raise ModelError(f"`batch_size` must be a positive integer (got {batch_size!r})")
    return b


@runtime_checkable
class Potential(Protocol):
    """What ionnet needs from a model back end; any object with these members is one.

    ``name`` and ``energies`` are required; ``supports`` (raise
    :class:`~ionnet.ModelError` naming elements the model cannot handle),
    ``ase_calculator()`` (an ASE calculator with energy, forces and stress, used
    by ``relax=True``) and ``for_structure(structure, *, ion, framework)`` (the
    potential adapted to one input structure) are optional.
    """

    name: str

    def energies(
        self,
        framework: Any,
        ion: str,
        frac_coords: Any,
        *,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> NDArray[np.float64]:
        """Total energy (eV) of framework + one probe ion at each position.

        Back ends derived from :class:`BasePotential` inherit this
        implementation: the inputs are checked, then ``_energies`` evaluates them.

        Parameters
        ----------
        framework : pymatgen Structure
            The frozen atoms, ordered, probe not included.
        ion : str
            Element symbol of the probe (e.g. ``"Li"``).
        frac_coords : (n, 3) array_like, fractional
            Probe positions in the framework's lattice.
        batch_size : int, optional
            Positions evaluated per model call (back-end dependent default).
        progress : bool, default False
            Show a tqdm progress bar.

        Returns
        -------
        (n,) ndarray of float64, eV

        Raises
        ------
        ModelError
            Unknown element, bad ``frac_coords`` or ``batch_size``.
        StructureError
            ``framework`` is not an ordered structure.
        """
        check_framework(framework)
        if not isinstance(ion, str) or not ion:
            raise ModelError(f"`ion` must be an element symbol such as 'Li' (got {ion!r})")
        fc = as_frac_coords(frac_coords)
        bs = check_batch_size(batch_size)
        self.supports(framework_elements(framework) + [ion])
        if len(fc) == 0:
            return np.zeros(0, dtype=np.float64)
        e = np.asarray(self._energies(framework, ion, fc, batch_size=bs, progress=progress), dtype=np.float64)
        return e.reshape(len(fc))

    def supports(self, elements: Iterable[str] | Any) -> None:
        """Raise :class:`~ionnet.ModelError` naming the elements this model cannot handle."""


class BasePotential(Potential):
    """Common behaviour of ionnet's potential back ends.

    Subclasses set :attr:`name` and implement :meth:`_energies` (positions already
    checked) and :meth:`_unknown_elements`.
    """

    name: str = "base"

    def supports(self, elements: Iterable[str] | Any) -> None:
        """Raise :class:`~ionnet.ModelError` naming the elements this model cannot handle.

        Parameters
        ----------
        elements : iterable of str, or Structure
            Element symbols (or a structure whose elements are checked).

        Raises
        ------
        ModelError
            If any element is unknown to the model.
        """
        syms = normalise_elements(elements)
        bad = sorted(set(self._unknown_elements(syms)))
        if bad:
            raise ModelError(f"model {self.name!r} does not support element(s) {', '.join(bad)}; {self._supports_hint()}")

    # -- to implement -------------------------------------------------------------
    def _energies(self, framework: Any, ion: str, frac_coords: NDArray[np.float64], *, batch_size: int | None, progress: bool) -> NDArray[np.float64]:
        raise NotImplementedError

    def _unknown_elements(self, elements: list[str]) -> list[str]:
        return []

    def _supports_hint(self) -> str:
        return "choose another model"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
