"""Screening inputs: folders, globs, CSV files and structure files, each identified by its bytes."""
from __future__ import annotations

import csv
import glob
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import StructureError

__all__ = ["STRUCTURE_SUFFIXES", "StructureInput", "file_key", "collect_inputs"]

#: File name suffixes taken from a folder (case-insensitive); files named POSCAR*/CONTCAR* too.
STRUCTURE_SUFFIXES = (".cif", ".mcif", ".vasp", ".poscar", ".json", ".xyz", ".extxyz", ".cssr")


@dataclass(frozen=True)
class StructureInput:
    """One structure to screen.

    Attributes
    ----------
    structure_id : str
        Name shown in tables (file stem, or the CSV's id column).
    path : str
        Absolute path of the structure file.
    key : str
        SHA-256 of the file's bytes (of the path if it cannot be read).
    error : str or None
        Why the file cannot be read (it is then stored as a failed row).
    """

    structure_id: str
    path: str
    key: str
    error: str | None = None

    @classmethod
    def from_path(cls, structure_id: str, path: str | os.PathLike) -> "StructureInput":
        """The input for one file (keyed by its bytes; a missing or unreadable file keeps its ``error``)."""
        p = os.path.abspath(os.fspath(path))
        if not os.path.exists(p):
            return cls(structure_id, p, hashlib.sha256(("missing:" + p).encode()).hexdigest(), f"file not found: {p}")
        return cls(structure_id, p, *file_key(p))


def file_key(path: str) -> tuple[str, str | None]:
    """SHA-256 of a file's bytes and None, or of its path and why it cannot be read."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest(), None
    except OSError as e:
        return hashlib.sha256(("unreadable:" + path).encode()).hexdigest(), f"cannot read {path}: {e.strerror or e}"


def _is_structure_file(name: str) -> bool:
    low = name.lower()
    base = os.path.basename(low)
    return low.endswith(STRUCTURE_SUFFIXES) or base.startswith(("poscar", "contcar"))


def _named(path: str) -> tuple[str, str]:
    """(file stem, absolute path)."""
    return os.path.splitext(os.path.basename(path))[0], os.path.abspath(path)


def _from_csv(path: str, path_column: str, id_column: str | None) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        if path_column not in cols:
            raise StructureError(
                f"CSV {path} has no column {path_column!r} (columns: {', '.join(cols)}); "
                "name the column of structure paths with `path_column`"
            )
        if id_column is not None and id_column not in cols:
            raise StructureError(f"CSV {path} has no id column {id_column!r} (columns: {', '.join(cols)})")
        base = os.path.dirname(os.path.abspath(path))
        out = []
        for row in reader:
            p = (row[path_column] or "").strip()
            if not p:
                continue
            full = p if os.path.isabs(p) else os.path.join(base, p)
            sid = row[id_column] if id_column else os.path.splitext(os.path.basename(p))[0]
            out.append((str(sid), os.path.abspath(full)))
        return out


def collect_inputs(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    path_column: str = "path",
    id_column: str | None = None,
) -> list[StructureInput]:
    """Expand folders, globs and CSV files into a sorted-within-input list of structures.

    Parameters
    ----------
    inputs : path, glob or CSV, or an iterable of them
        A folder contributes its structure files (``*.cif``, ``*.vasp``,
        ``POSCAR*``, ... not recursive); a pattern with ``*?[`` is globbed; a
        ``.csv`` file contributes the paths in its ``path_column`` (relative
        to the CSV's folder); any other path is taken as a structure file.
    path_column, id_column : str
        CSV columns holding the structure path and (optionally) its name.

    Returns
    -------
    list of StructureInput
        In input order (folders and globs sorted by name); a file listed in a
        CSV that is missing or unreadable is kept with its ``error`` so it is
        recorded as failed.

    Raises
    ------
    StructureError
        An input does not exist or matches nothing, or a CSV lacks the named column.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pairs: list[tuple[str, str]] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if _is_structure_file(n))
            files = [os.path.join(item, n) for n in names if os.path.isfile(os.path.join(item, n))]
            if not files:
                raise StructureError(f"folder {item} holds no structure files ({', '.join(STRUCTURE_SUFFIXES)}, POSCAR*)")
            pairs += [_named(p) for p in files]
        elif item.lower().endswith(".csv") and os.path.isfile(item):
            pairs += _from_csv(item, path_column, id_column)
        elif any(c in item for c in "*?["):
            files = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not files:
                raise StructureError(f"pattern {item!r} matches no file")
            pairs += [_named(p) for p in files]
        elif os.path.isfile(item):
            pairs.append(_named(item))
        else:
            raise StructureError(f"input not found: {item} (expected a folder, a glob, a CSV or a structure file)")
    return [StructureInput.from_path(sid, p) for sid, p in pairs]
