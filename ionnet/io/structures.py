"""Read crystal structures from files and objects into a pymatgen ``Structure``.

pymatgen and ASE are imported inside the functions that need them, so importing
this module is cheap.  ASE ``Atoms`` are recognised by their class path (the
freud pattern): ASE itself is only imported to convert one.
"""
from __future__ import annotations

import json
import logging
import os
import warnings
from importlib import resources
from typing import TYPE_CHECKING

from ..errors import BackendUnavailableError, StructureError

if TYPE_CHECKING:
    from ase import Atoms
    from pymatgen.core import IStructure, Structure
    from pymatgen.core.sites import PeriodicSite

    #: What :func:`read_structure` reads.
    StructureLike = str | os.PathLike | Structure | IStructure | Atoms | dict

__all__ = ["read_structure", "site_elements", "example_structure", "example_path", "EXAMPLES"]

logger = logging.getLogger(__name__)

#: Bundled example structures: name -> file in ``ionnet/data``.
EXAMPLES = {"LiFePO4": "LiFePO4.cif"}


def _class_path(obj: object) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _is_ase_atoms(obj: object) -> bool:
    return any(f"{c.__module__}.{c.__qualname__}" == "ase.atoms.Atoms" for c in type(obj).__mro__)


def _import_pymatgen():
    try:
        from pymatgen.core import Structure  # heavy: imported here only
    except ImportError as e:  # pragma: no cover - pymatgen is part of ionnet[structures]
        raise BackendUnavailableError("reading structures needs pymatgen: pip install 'ionnet[structures]'") from e
    return Structure


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split())
    return msg[:300] if msg else type(e).__name__


def _from_path(path: str) -> Structure:
    Structure = _import_pymatgen()
    if not os.path.exists(path):
        raise StructureError(f"structure file not found: {path}")
    if os.path.isdir(path):
        raise StructureError(f"structure path is a directory, not a file: {path}")
    name = os.path.basename(path).lower()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pymatgen's CIF parser is chatty about benign issues
            if name.endswith(".json") or name.endswith(".json.gz"):
                if name.endswith(".gz"):
                    import gzip

                    with gzip.open(path, "rt") as fh:
                        d = json.load(fh)
                else:
                    with open(path) as fh:
                        d = json.load(fh)
                return _from_dict(d, source=path)
            if name.endswith(".cif") or name.endswith(".mcif"):
                from pymatgen.io.cif import CifParser

                parser = CifParser(path, occupancy_tolerance=1.05)
                structures = parser.parse_structures(primitive=False)
                if not structures:
                    raise ValueError("no structure could be parsed from the CIF")
                if len(structures) > 1:
                    logger.warning("%s holds %d structures; using the first", path, len(structures))
                return structures[0]
            return Structure.from_file(path)
    except StructureError:
        raise
    except Exception as e:  # pymatgen raises many types (ValueError, KeyError, IndexError...)
        raise StructureError(
            f"cannot read a crystal structure from {path}: {_one_line(e)} "
            "(supported: CIF, POSCAR/CONTCAR, pymatgen JSON, and anything pymatgen's Structure.from_file reads)"
        ) from None


def _from_dict(d: object, *, source: str = "dict") -> Structure:
    Structure = _import_pymatgen()
    if not isinstance(d, dict) or "lattice" not in d or "sites" not in d:
        raise StructureError(f"{source} is not a pymatgen Structure JSON (needs 'lattice' and 'sites')")
    try:
        return Structure.from_dict(d)
    except Exception as e:
        raise StructureError(f"cannot build a Structure from {source}: {_one_line(e)}") from None


def read_structure(obj: StructureLike) -> Structure:
    """Return a pymatgen ``Structure`` (a new object) from a file or a structure object.

    Parameters
    ----------
    obj : str, os.PathLike, pymatgen Structure/IStructure, ase.Atoms or dict
        A path to a CIF, POSCAR/CONTCAR (any name pymatgen recognises) or
        pymatgen JSON (``.json``, ``.json.gz``) file; a pymatgen structure;
        an ASE ``Atoms`` with a 3D periodic cell; or a ``Structure.as_dict()``
        dictionary.

    Returns
    -------
    pymatgen.core.Structure
        A copy: the caller's object is never modified.

    Raises
    ------
    StructureError
        Missing or unreadable file, empty structure, non-periodic ``Atoms``,
        or an unsupported object.

    Examples
    --------
    >>> from ionnet.io import read_structure, example_path
    >>> s = read_structure(example_path("LiFePO4"))
    >>> s.composition.reduced_formula, len(s)
    ('LiFePO4', 28)
    """
    if isinstance(obj, (str, os.PathLike)):
        s = _from_path(os.fspath(obj))
    elif isinstance(obj, dict):
        s = _from_dict(obj)
    elif _is_ase_atoms(obj):
        import numpy as np

        if not all(obj.pbc) or abs(float(np.linalg.det(np.asarray(obj.cell)))) < 1e-8:
            raise StructureError("ase.Atoms must be periodic in 3D with a non-singular cell (set atoms.pbc = True)")
        _import_pymatgen()
        from pymatgen.io.ase import AseAtomsAdaptor

        try:
            s = AseAtomsAdaptor.get_structure(obj)
        except Exception as e:
            raise StructureError(f"cannot convert ase.Atoms to a Structure: {_one_line(e)}") from None
    else:
        Structure = _import_pymatgen()
        from pymatgen.core import IStructure

        if isinstance(obj, Structure):
            s = obj.copy()
        elif isinstance(obj, IStructure):
            s = Structure.from_sites(list(obj))
        else:
            raise StructureError(
                f"cannot read a structure from a {_class_path(obj)}: pass a file path (CIF, POSCAR, JSON), "
                "a pymatgen Structure, an ase.Atoms or a Structure.as_dict() dict"
            )
    if len(s) == 0:
        raise StructureError("the structure has no atoms")
    return s


def site_elements(site: PeriodicSite) -> dict[str, float]:
    """Element -> occupancy of one site (oxidation states merged)."""
    out: dict[str, float] = {}
    for sp, occ in site.species.items():
        sym = getattr(sp, "symbol", None) or getattr(getattr(sp, "element", None), "symbol", str(sp))
        out[sym] = out.get(sym, 0.0) + float(occ)
    return out


def example_path(name: str = "LiFePO4") -> str:
    """Path of a bundled example structure file (see ``ionnet/data/README.md``)."""
    if name not in EXAMPLES:
        raise StructureError(f"no bundled example {name!r}; available: {', '.join(sorted(EXAMPLES))}")
    return str(resources.files("ionnet").joinpath("data", EXAMPLES[name]))


def example_structure(name: str = "LiFePO4") -> Structure:
    """A bundled example structure as a pymatgen ``Structure``.

    Parameters
    ----------
    name : {'LiFePO4'}
        ``'LiFePO4'``: olivine LiFePO4 (28 atoms), written with pymatgen's
        ``CifWriter`` from pymatgen's packaged test structure (MIT license).

    Examples
    --------
    >>> from ionnet.io import example_structure
    >>> example_structure("LiFePO4").composition.formula
    'Li4 Fe4 P4 O16'
    """
    return read_structure(example_path(name))
