"""Model back ends: the energy of framework + one probe ion at many positions.

Every back end follows one small protocol (:class:`Potential`)::

    name: str                                       # "m3gnet:M3GNet-MP-2021.2.8-PES", "chgnet:0.3.0", "bvse:softbv"
    energies(framework, ion, frac_coords, *, batch_size=None, progress=False) -> (n,) ndarray, eV
    supports(elements) -> None                      # raises ModelError naming unknown elements
    ase_calculator() -> ase Calculator              # optional: energy, forces, stress (used by relax=True)
    for_structure(structure, *, ion, framework)     # optional: the potential adapted to one input structure

``framework`` is an ordered pymatgen ``Structure`` (the frozen atoms, probe
excluded), ``ion`` the probe's element symbol and ``frac_coords`` an (n, 3)
array of probe positions in the framework's lattice.  :func:`get_potential`
builds one from a name, a model folder, an ASE calculator or a function.

================  ====================================  ==========================================
kind              class                                 what
================  ====================================  ==========================================
``"m3gnet"``      :class:`MatglPotential`               matgl M3GNet, batched energy-only graphs
model folder      :class:`MatglPotential`               any matgl PES model folder
``"chgnet"``      :class:`CHGNetPotential`              CHGNet (weights ship with chgnet)
``"bvse"``        :class:`BVSEPotential`                bond-valence site energy, softBV parameters
ASE calculator    :class:`ASEPotential`                 ``get_potential_energy`` per position
callable          :class:`AnalyticPotential`            ``f(cart_xyz (n, 3) Å) -> (n,) eV``
================  ====================================  ==========================================

Importing this package imports neither torch, matgl, chgnet, ase nor pymatgen;
each back end imports its libraries when it is built or used.
"""
from __future__ import annotations

import logging
import os
from typing import Any

from ..errors import BackendUnavailableError, ModelError
from ._common import Potential
from .analytic import AnalyticPotential
from .ase_calc import ASEPotential
from .bvse import BVSEPotential
from .chgnet import CHGNetPotential
from .m3gnet import DEFAULT_M3GNET, M3GNET_ENV_VAR, M3GNetPotential, MatglPotential, resolve_m3gnet_path

__all__ = [
    "Potential",
    "get_potential",
    "MatglPotential",
    "M3GNetPotential",
    "CHGNetPotential",
    "BVSEPotential",
    "ASEPotential",
    "AnalyticPotential",
    "resolve_m3gnet_path",
    "DEFAULT_M3GNET",
    "M3GNET_ENV_VAR",
    "MODEL_NAMES",
    "check_model_name",
    "potential_name",
    "ase_calculator",
]

logger = logging.getLogger(__name__)

#: Names accepted by :func:`get_potential` (besides folders, calculators and callables).
MODEL_NAMES = ("m3gnet", "chgnet", "bvse")


def check_model_name(model: Any) -> None:
    """Raise unless ``model``, when given by name or path, names a model :func:`get_potential` can build.

    Cheap (no model is loaded): run it before any work so that a misspelt
    ``--model`` fails at once, with the closest name.

    Raises
    ------
    ModelError
        An unknown name (the message suggests the closest one).
    BackendUnavailableError
        A path that is not an existing folder.

    Examples
    --------
    >>> check_model_name("bvse")
    >>> check_model_name("m3gnt")
    Traceback (most recent call last):
    ...
    ionnet.errors.ModelError: unknown model 'm3gnt'; did you mean 'm3gnet'? Use one of 'm3gnet', 'chgnet', 'bvse', 'chgnet:<version>' or a matgl model folder
    """
    if not isinstance(model, (str, os.PathLike)):
        return
    text = os.fspath(model)
    if text.lower() in MODEL_NAMES or text.lower().startswith("chgnet:") or os.path.isdir(text):
        return
    if os.sep in text or text.startswith("."):
        raise BackendUnavailableError(
            f"model folder {text!r} does not exist; pass an existing matgl model folder or one of {MODEL_NAMES}")
    import difflib

    close = difflib.get_close_matches(text.lower(), MODEL_NAMES, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ModelError(f"unknown model {text!r}; {hint}Use one of {', '.join(repr(m) for m in MODEL_NAMES)}, "
                     "'chgnet:<version>' or a matgl model folder")


def _is_potential(obj: Any) -> bool:
    """Anything with an ``energies`` method is used as a potential (``name`` and ``supports`` are optional)."""
    return callable(getattr(obj, "energies", None)) and not isinstance(obj, (str, os.PathLike))


def potential_name(pot: Any) -> str:
    """The potential's ``name``, or its class name."""
    return str(getattr(pot, "name", type(pot).__name__))


def ase_calculator(pot: Any) -> Any:
    """The potential's ASE calculator, or None.

    The protocol's optional ``ase_calculator()`` method; a ``calculator``
    attribute (or ``get_calculator()``) of a user's potential is accepted too.
    """
    for attr in ("ase_calculator", "calculator", "get_calculator"):
        c = getattr(pot, attr, None)
        if callable(c) and not hasattr(c, "get_potential_energy"):
            c = c()
        if c is not None and hasattr(c, "get_potential_energy"):
            return c
    return None


def _is_ase_calculator(obj: Any) -> bool:
    mro = [f"{c.__module__}.{c.__qualname__}" for c in type(obj).__mro__]
    if any(m.startswith("ase.calculators.") for m in mro):
        return True
    return hasattr(obj, "get_potential_energy") and hasattr(obj, "calculate")


def _is_matgl_potential(obj: Any) -> bool:
    return any(c.__module__.startswith("matgl.") and c.__name__ == "Potential" for c in type(obj).__mro__)


def _is_chgnet_model(obj: Any) -> bool:
    return any(c.__module__.startswith("chgnet.") and c.__name__ == "CHGNet" for c in type(obj).__mro__)


def get_potential(model: Any = "m3gnet", *, device: str = "cpu", **kw: Any) -> Potential:
    """Build a potential back end.

    Parameters
    ----------
    model : str, path-like, ASE calculator, callable or Potential, default "m3gnet"
        * ``"m3gnet"``: matgl's M3GNet-MP-2021.2.8-PES; weights from ``path=``, else
          ``$IONNET_M3GNET_PATH``, else matgl's cache (downloaded only if online).
        * ``"chgnet"`` or ``"chgnet:<version>"`` (e.g. ``"chgnet:0.3.0"``).
        * ``"bvse"``: bond-valence site energy with the softBV parameters.
        * a folder holding a matgl model (``model.json``, ``model.pt``, ``state.pt``).
        * an ASE calculator -> :class:`ASEPotential`.
        * a matgl ``Potential`` object -> :class:`MatglPotential`.
        * a ``chgnet.model.CHGNet`` object -> :class:`CHGNetPotential`.
        * a callable ``f(cart_xyz (n, 3) Å) -> (n,) eV`` -> :class:`AnalyticPotential`.
        * an object with an ``energies`` method (the protocol): returned as is.
    device : str, default "cpu"
        Torch device for the neural back ends (ignored by the others).
    **kw
        Passed to the back end's constructor (e.g. ``path=``, ``batch_size=``,
        ``r_cut_ang=``, ``oxidation_states=``, ``name=``).

    Returns
    -------
    Potential

    Raises
    ------
    BackendUnavailableError
        Package or weights missing (the message names the alternatives).
    ModelError
        ``model`` is not one of the kinds above.

    Examples
    --------
    >>> from ionnet.potentials import get_potential
    >>> get_potential("bvse").name
    'bvse:softbv'
    >>> get_potential(lambda xyz: xyz[:, 0]).name
    'analytic:<lambda>'
    """
    if isinstance(model, str) and model.lower() in MODEL_NAMES or (isinstance(model, str) and model.lower().startswith("chgnet:")):
        kind = model.lower()
        if kind == "m3gnet":
            return MatglPotential(kw.pop("path", None), device=device, **kw)
        if kind.startswith("chgnet"):
            version = model.split(":", 1)[1] if ":" in model else kw.pop("model_name", "0.3.0")
            return CHGNetPotential(version, device=device, **kw)
        if device != "cpu":
            logger.debug("bvse runs on the CPU (numpy); ignoring device=%r", device)
        return BVSEPotential(**kw)
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if os.path.isdir(path):
            return MatglPotential(path, device=device, **kw)
        check_model_name(path)  # raises, naming the closest model
        raise ModelError(
            f"unknown model {model!r}; use one of {', '.join(repr(m) for m in MODEL_NAMES)}, 'chgnet:<version>', "
            "a matgl model folder, an ASE calculator, or a function f(cart_xyz) -> energies"
        )
    if _is_potential(model):
        return model
    if _is_matgl_potential(model):
        return MatglPotential(potential=model, device=device, **kw)
    if _is_chgnet_model(model):
        return CHGNetPotential(model=model, device=device, **kw)
    if _is_ase_calculator(model):
        return ASEPotential(model, **kw)
    if callable(model):
        return AnalyticPotential(model, **kw)
    raise ModelError(
        f"cannot build a potential from {type(model).__name__}; pass 'm3gnet', 'chgnet', 'bvse', a matgl model folder, "
        "an ASE calculator, a function f(cart_xyz) -> energies, or an object with name/energies/supports"
    )
