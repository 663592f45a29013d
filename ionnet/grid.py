"""The :class:`EnergyGrid` (energies of a probe ion on a periodic 3D grid) and the
:class:`ScanResult` (the maps of one scan), with their ``.npz`` files."""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import GridError

if TYPE_CHECKING:
    from pymatgen.core import Structure

    #: Which nodes: a flat index, an ``(i, j, k)`` tuple, an array of flat indices, or None (all).
    NodeIndex = int | tuple[int, int, int] | ArrayLike | None

__all__ = ["EnergyGrid", "ScanResult", "FORMAT_VERSION", "save_grids", "load_grids"]

FORMAT_VERSION = 1


def _check_lattice(lattice: ArrayLike) -> NDArray[np.float64]:
    try:
        lat = np.asarray(lattice, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise GridError(f"`lattice` must be a (3, 3) array of floats in Å (got {lattice!r})") from e
    if lat.shape != (3, 3):
        raise GridError(f"`lattice` must be a (3, 3) array in Å with rows a, b, c (got shape {lat.shape})")
    if not np.all(np.isfinite(lat)):
        raise GridError("`lattice` contains non-finite values")
    vol = float(np.linalg.det(lat))
    if abs(vol) < 1e-8:
        raise GridError("`lattice` is singular (zero cell volume); rows must be the lattice vectors a, b, c in Å")
    return lat


def _check_energies(energies: ArrayLike) -> NDArray[np.float64]:
    try:
        e = np.asarray(energies, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise GridError("`energies` must be a numeric (na, nb, nc) array in eV") from exc
    if e.ndim != 3:
        raise GridError(f"`energies` must be a 3D array of shape (na, nb, nc) (got {e.ndim}D, shape {e.shape})")
    if min(e.shape) == 0:
        raise GridError(f"`energies` has a zero-size axis (shape {e.shape}); every axis needs at least one node")
    e = np.array(e, dtype=np.float64, copy=True)
    # -inf would be an infinitely attractive node: refuse it, NaN/+inf mean "forbidden".
    if np.any(np.isneginf(e)):
        raise GridError("`energies` contains -inf; use +inf or NaN to mark forbidden nodes")
    e[np.isnan(e)] = np.inf
    if not np.any(np.isfinite(e)):
        raise GridError("`energies` has no finite value: every node is forbidden (all NaN/+inf)")
    return e


def _structure_to_json(structure: Structure | dict | None) -> str:
    """JSON text of a framework (pymatgen ``as_dict``), or "" for none."""
    if structure is None:
        return ""
    return json.dumps(structure.as_dict() if hasattr(structure, "as_dict") else structure)


def _structure_from_json(text: str) -> Structure | dict | None:
    """A pymatgen Structure from :func:`_structure_to_json` text (the dict when pymatgen is absent)."""
    if not text:
        return None
    structure = json.loads(text)
    try:
        from pymatgen.core import Structure

        return Structure.from_dict(structure)
    except ImportError:  # keep the dict; pymatgen is optional
        return structure


@dataclass(frozen=True, eq=False)
class EnergyGrid:
    """Energies (eV) of a probe ion at the nodes of a periodic grid spanning one cell.

    Node ``(i, j, k)`` sits at fractional coordinates ``(i/na, j/nb, k/nc)``; the
    periodic end point is never duplicated.  Non-finite energies (NaN, +inf) mark
    forbidden nodes that are never crossed (NaN is stored as +inf).

    Attributes
    ----------
    energies : (na, nb, nc) ndarray of float64, eV
        Absolute energies (e.g. total energy of framework + probe).
    lattice : (3, 3) ndarray, Å
        Rows are the lattice vectors a, b, c.
    structure : pymatgen Structure or None
        The frozen framework (optional).
    metadata : dict
        Free-form JSON-serialisable metadata: ``ion``, ``model``, ``spacing``,
        ``framework``, ``site_index``, ``start_frac``, ``multiplicity``, ...

    Examples
    --------
    >>> import numpy as np
    >>> from ionnet import EnergyGrid
    >>> g = EnergyGrid(np.zeros((4, 4, 4)), np.eye(3) * 4.0, metadata={"ion": "Li"})
    >>> g.shape, g.spacing_ang.round(2).tolist()
    ((4, 4, 4), [1.0, 1.0, 1.0])
    """

    energies: NDArray[np.float64]
    lattice: NDArray[np.float64]
    structure: Structure | dict | None = None
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "energies", _check_energies(self.energies))
        object.__setattr__(self, "lattice", _check_lattice(self.lattice))
        object.__setattr__(self, "metadata", dict(self.metadata or {}))

    # ------------------------------------------------------------------ geometry
    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(na, nb, nc)``."""
        return tuple(int(n) for n in self.energies.shape)  # type: ignore[return-value]

    @property
    def spacing_ang(self) -> NDArray[np.float64]:
        """(3,) node spacing along a, b, c in Å."""
        return np.linalg.norm(self.lattice, axis=1) / np.asarray(self.shape)

    @property
    def volume_ang3(self) -> float:
        """Cell volume in Å^3."""
        return float(abs(np.linalg.det(self.lattice)))

    def frac_coords(self, index: NodeIndex = None) -> NDArray[np.float64]:
        """Fractional coordinates of nodes.

        ``index`` may be a flat index, an ``(i, j, k)`` tuple, an array of flat
        indices, or None (all nodes, shape (N, 3)).
        """
        shape = np.asarray(self.shape)
        if index is None:
            idx = np.indices(self.shape).reshape(3, -1).T
        elif isinstance(index, tuple) and len(index) == 3:
            idx = np.asarray(index)
        else:
            idx = np.stack(np.unravel_index(np.asarray(index), self.shape), axis=-1)
        return idx / shape

    def cart_coords(self, index: NodeIndex = None) -> NDArray[np.float64]:
        """Cartesian coordinates (Å) of nodes; same ``index`` rules as :meth:`frac_coords`."""
        return self.frac_coords(index) @ self.lattice

    # ----------------------------------------------------------------------- I/O
    def save(self, path: str | os.PathLike) -> None:
        """Write the grid to a ``.npz`` file (lossless; metadata as JSON).

        The file is written atomically (:func:`ionnet.io.files.atomic_path`): a
        failed or interrupted save leaves any earlier file and no temporary; the
        output's folder is created.
        """
        _write_npz(
            path,
            energies=self.energies,
            lattice=self.lattice,
            metadata=np.array(json.dumps(self.metadata, default=_json_default)),
            structure=np.array(_structure_to_json(self.structure)),
            format_version=np.array(FORMAT_VERSION),
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> "EnergyGrid":
        """Read a grid written by :meth:`save` (a one-map file).

        Raises
        ------
        GridError
            The file is missing, is not an ionnet grid, is damaged, or holds several maps.
        ResourceError
            The grid would not fit in memory.
        """
        maps = load_grids(path)
        if len(maps) != 1:
            raise GridError(
                f"{os.fspath(path)} holds {len(maps)} maps (one per mobile-ion orbit); read it with ionnet.load_grids()"
            )
        return maps[0]

    def __repr__(self) -> str:
        finite = self.energies[np.isfinite(self.energies)]
        return (
            f"EnergyGrid(shape={self.shape}, e_min={finite.min():.4f} eV, "
            f"ion={self.metadata.get('ion')!r}, model={self.metadata.get('model')!r})"
        )


def _json_default(o: object) -> object:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    return str(o)


class ScanResult(list):
    """The maps of one scan: a list of :class:`EnergyGrid`, one per symmetry-distinct mobile ion.

    ``ionnet.scan`` and :func:`load_grids` always return one.  An empty-framework
    scan holds a single map; for convenience its ``energies``, ``metadata``,
    ``structure`` (and the grid's other attributes) are then read through,
    while a result of several maps asks for :meth:`lowest` or an index.
    ``analyze`` of a ScanResult gives a :class:`~ionnet.PercolationSet`.

    Examples
    --------
    >>> import numpy as np
    >>> from ionnet import EnergyGrid, ScanResult
    >>> maps = ScanResult([EnergyGrid(np.zeros((4, 4, 4)) + k, np.eye(3) * 4.0, metadata={"multiplicity": 2})
    ...                    for k in (1.0, 0.0)])
    >>> len(maps), maps.multiplicities.tolist(), float(maps.lowest().energies.min()), maps.shape
    (2, [2, 2], 0.0, (4, 4, 4))
    >>> maps.energies
    Traceback (most recent call last):
    ...
    ionnet.errors.GridError: this result holds 2 maps; pick one (result[i], result.lowest()) to read `energies`
    """

    def __init__(self, grids: Iterable[EnergyGrid] = ()) -> None:
        super().__init__(grids)
        if not self:
            raise GridError("a scan result needs at least one EnergyGrid")
        bad = [type(g).__name__ for g in self if not isinstance(g, EnergyGrid)]
        if bad:
            raise GridError(f"a scan result holds EnergyGrid maps (got {', '.join(sorted(set(bad)))})")

    @property
    def multiplicities(self) -> NDArray[np.int64]:
        """(n,) how many mobile ions of the cell each map stands for (``metadata['multiplicity']``, default 1)."""
        return np.asarray([int(g.metadata.get("multiplicity", 1)) for g in self], dtype=np.int64)

    def lowest(self) -> EnergyGrid:
        """The map with the lowest energy (the ground state of the mobile ion)."""
        return min(self, key=lambda g: float(np.min(g.energies)))

    def save(self, path: str | os.PathLike) -> None:
        """Write every map to one ``.npz`` (:func:`save_grids`)."""
        save_grids(self, path)

    def _single(self, name: str) -> EnergyGrid:
        if len(self) != 1:
            raise GridError(f"this result holds {len(self)} maps; pick one (result[i], result.lowest()) to read `{name}`")
        return self[0]

    def _common(self, name: str) -> Any:
        values = [getattr(g, name) for g in self]
        if any(not np.array_equal(v, values[0]) for v in values[1:]):
            raise GridError(f"the maps of this result differ in `{name}`; pick one (result[i])")
        return values[0]

    energies = property(lambda self: self._single("energies").energies, doc="The single map's energies (eV).")
    metadata = property(lambda self: self._single("metadata").metadata, doc="The single map's metadata.")
    structure = property(lambda self: self._single("structure").structure, doc="The single map's framework.")
    shape = property(lambda self: self._common("shape"), doc="Grid shape ``(na, nb, nc)`` shared by the maps.")
    lattice = property(lambda self: self._common("lattice"), doc="(3, 3) lattice (Å) shared by the maps.")
    spacing_ang = property(lambda self: self._common("spacing_ang"), doc="(3,) node spacing along a, b, c in Å.")

    def frac_coords(self, index: NodeIndex = None) -> NDArray[np.float64]:
        """Fractional coordinates of nodes (see :meth:`EnergyGrid.frac_coords`)."""
        return EnergyGrid.frac_coords(self, index)  # type: ignore[arg-type]

    def cart_coords(self, index: NodeIndex = None) -> NDArray[np.float64]:
        """Cartesian coordinates (Å) of nodes (see :meth:`EnergyGrid.cart_coords`)."""
        return self.frac_coords(index) @ self.lattice

    def __repr__(self) -> str:
        return f"ScanResult({len(self)} map{'s' if len(self) != 1 else ''}, shape={self[0].shape})"


def _write_npz(path: str | os.PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` through :func:`ionnet.io.files.atomic_path` (never a half-written file)."""
    from .io.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def save_grids(grids: EnergyGrid | Iterable[EnergyGrid], path: str | os.PathLike) -> None:
    """Write one grid, or every map of a scan (same lattice and shape), to one ``.npz``, atomically.

    A single grid is written exactly as :meth:`EnergyGrid.save` does.  Several
    maps keep their own metadata and their own framework (written once when
    shared): ``energies`` (n, na, nb, nc), ``metadata`` (JSON list of n dicts),
    ``structures`` (the distinct frameworks as JSON) and ``structure_index`` (n,).

    Raises
    ------
    GridError
        No maps, or maps of different shapes or lattices.
    OutputError
        The file cannot be written there.
    """
    if isinstance(grids, EnergyGrid):
        grids.save(path)
        return
    grids = list(grids)
    if not grids:
        raise GridError("no grids to save")
    if len(grids) == 1:
        grids[0].save(path)
        return
    shapes = {g.shape for g in grids}
    if len(shapes) != 1:
        raise GridError(f"maps saved together must share one grid shape (got {sorted(shapes)})")
    first = grids[0]
    if any(not np.allclose(g.lattice, first.lattice, rtol=0, atol=1e-9) for g in grids[1:]):
        raise GridError("maps saved together must share one lattice")
    texts: list[str] = []
    index = []
    for g in grids:
        t = _structure_to_json(g.structure)
        if t not in texts:
            texts.append(t)
        index.append(texts.index(t))
    _write_npz(
        path,
        energies=np.stack([g.energies for g in grids]),
        lattice=first.lattice,
        metadata=np.array(json.dumps([g.metadata for g in grids], default=_json_default)),
        structure=np.array(texts[index[0]]),
        structures=np.array(texts),
        structure_index=np.asarray(index, dtype=np.int64),
        format_version=np.array(FORMAT_VERSION),
    )


def _npz_header(path: str) -> tuple[tuple[int, ...], list[str]]:
    """Shape of ``energies`` and the member names of a ``.npz``, read without loading the data."""
    import zipfile

    with zipfile.ZipFile(path) as zf:
        names = [n[:-4] if n.endswith(".npy") else n for n in zf.namelist()]
        if "energies" not in names:
            raise KeyError("no 'energies' array")
        with zf.open("energies.npy") as fh:
            version = np.lib.format.read_magic(fh)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, _ = read(fh)
    return tuple(int(n) for n in shape), names


def _read_text(z: Any, name: str, path: str) -> str:
    if name not in z.files:
        return ""
    a = z[name]
    if a.shape != () or a.dtype.kind != "U":
        raise GridError(f"cannot read grid file {path}: `{name}` is not text; the file is damaged")
    return str(a)


def _check_metadata(meta: Any, n_maps: int, path: str) -> list[dict]:
    if n_maps == 1 and isinstance(meta, dict):
        meta = [meta]
    if not isinstance(meta, list) or not all(isinstance(m, dict) for m in meta):
        raise GridError(f"cannot read grid file {path}: its metadata is not a JSON object per map; the file is damaged")
    if len(meta) != n_maps:
        raise GridError(f"cannot read grid file {path}: {n_maps} maps but {len(meta)} metadata entries; "
                        "the file is damaged (rewrite it with ionnet scan)")
    return meta


def load_grids(path: str | os.PathLike) -> ScanResult:
    """Read a file written by :func:`save_grids`, :meth:`ScanResult.save` or :meth:`EnergyGrid.save`.

    The grid's size is read from the file header first, so a grid that would not
    fit in memory is refused before it is loaded.

    Returns
    -------
    ScanResult
        Every map of the file (one for a single-map file), each with its own
        metadata and framework.

    Raises
    ------
    GridError
        The file is missing, not an ionnet grid, damaged, or from a newer ionnet.
    ResourceError
        The grid would not fit in memory.
    """
    from .io.files import one_line
    from .memory import check_grid_memory

    p = os.fspath(path)
    shown = one_line(p)
    if not os.path.exists(p):
        raise GridError(f"grid file not found: {shown}")
    if os.path.isdir(p):
        raise GridError(f"grid path {shown} is a folder; give a .npz file written by ionnet scan")
    try:
        shape, _ = _npz_header(p)
    except Exception as e:  # noqa: BLE001 - any damage: truncated zip, bad header, missing array
        raise GridError(f"cannot read grid file {shown}: not an ionnet .npz grid or damaged "
                        f"({one_line(type(e).__name__ + ': ' + str(e), 120)})") from None
    if len(shape) not in (3, 4) or min(shape, default=0) < 1:
        raise GridError(f"cannot read grid file {shown}: `energies` has shape {shape}, expected (na, nb, nc) "
                        "or (maps, na, nb, nc)")
    check_grid_memory(shape[-3:], shape[0] if len(shape) == 4 else 1)
    try:
        with np.load(p, allow_pickle=False) as z:
            version = int(z["format_version"]) if "format_version" in z.files else 0
            if version > FORMAT_VERSION:
                raise GridError(f"{shown} was written by a newer ionnet (format {version} > {FORMAT_VERSION}); "
                                "upgrade ionnet")
            energies = z["energies"]
            lattice = z["lattice"]
            meta_text = _read_text(z, "metadata", shown)
            texts = [str(t) for t in z["structures"]] if "structures" in z.files else [_read_text(z, "structure", shown)]
            index = (np.asarray(z["structure_index"], dtype=np.int64) if "structure_index" in z.files
                     else np.zeros(shape[0] if len(shape) == 4 else 1, dtype=np.int64))
    except GridError:
        raise
    except Exception as e:  # noqa: BLE001 - damaged members, wrong dtypes
        raise GridError(f"cannot read grid file {shown}: damaged ({one_line(type(e).__name__ + ': ' + str(e), 120)}); "
                        "rewrite it with ionnet scan") from None
    stack = energies[None] if energies.ndim == 3 else energies
    n_maps = stack.shape[0]
    try:
        meta = json.loads(meta_text) if meta_text else ([{}] * n_maps)
    except ValueError:
        raise GridError(f"cannot read grid file {shown}: its metadata is not JSON; the file is damaged") from None
    metas = _check_metadata(meta, n_maps, shown)
    if index.shape != (n_maps,) or (n_maps and (index.min() < 0 or index.max() >= len(texts))):
        raise GridError(f"cannot read grid file {shown}: `structure_index` does not match its maps; the file is damaged")
    try:
        frameworks = [_structure_from_json(t) for t in texts]
    except Exception as e:  # noqa: BLE001 - bad JSON or a structure pymatgen refuses
        raise GridError(f"cannot read grid file {shown}: its framework cannot be read "
                        f"({one_line(type(e).__name__ + ': ' + str(e), 120)})") from None
    return ScanResult(EnergyGrid(e, lattice, structure=frameworks[int(i)], metadata=m)
                      for e, m, i in zip(stack, metas, index))
