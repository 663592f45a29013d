"""Write an energy grid or a level map as volumetric data for crystal viewers.

Formats (picked from the file name unless ``fmt`` is given):

========  ==========================  =================================================
``fmt``   file name                   read with
========  ==========================  =================================================
cube      ``*.cube``, ``*.cub``       VESTA, VMD, Avogadro, ``ase.io.cube.read_cube_data``
chgcar    ``*.chgcar``, ``CHGCAR*``   VESTA, pymatgen ``Chgcar.from_file`` (values x V)
locpot    ``*.locpot``, ``LOCPOT*``   VESTA, pymatgen ``Locpot.from_file`` (values as is)
grd       ``*.grd``                   VESTA, BVlain-style tools
xsf       ``*.xsf``                   XCrySDen, VESTA, ``ase.io.read(..., read_data=True)``
vts       ``*.vts``                   ParaView, pyvista (any lattice, Cartesian points)
vti       ``*.vti``                   ParaView, pyvista (exact only for orthogonal cells)
========  ==========================  =================================================

Values are in eV.  Non-finite energies (forbidden nodes), unreachable nodes of
the level map and nodes above ``threshold`` are written as :data:`FILL_VALUE_EV`
(``1.0e4`` eV) because viewers cannot handle ``inf``/``nan``.

Layouts, all with values in eV:

* **cube**: Gaussian cube, lengths in Bohr (1 Bohr = 0.529177210903 Å),
  origin 0, voxel vectors ``a/na, b/nb, c/nc``, ``na x nb x nc`` values
  (no duplicated end point), z fastest.  Atoms: the framework from
  ``grid.structure``.
* **chgcar**: VASP CHGCAR layout (POSCAR header, grid line, values x
  fastest, 5 a line).  Following the CHGCAR convention each value is
  *field x cell volume (Å^3)*: VESTA divides by the volume when reading;
  pymatgen keeps the raw numbers, so use
  ``Chgcar.from_file(p).data['total'] / chg.structure.volume``.
* **locpot**: the same layout without the volume factor (LOCPOT style).
* **grd**: the text grid written by BVlain for VESTA: a ``#`` title line,
  ``a b c alpha beta gamma`` (Å, degrees), ``na nb nc``, then one value a
  line with the c index fastest (``values.ravel()``).
* **xsf**: XCrySDen ``DATAGRID_3D``; XSF grids are *general* grids, so
  the periodic end point is repeated: ``(na+1) x (nb+1) x (nc+1)`` values,
  x fastest.
* **vts**: VTK XML StructuredGrid with Cartesian points (Å) including the
  periodic end point, so the whole cell closes; correct for any lattice
  and what ParaView users should open.  Point arrays ``energy`` or
  ``level`` and ``filled`` (1 where ``fill_value`` was written); field
  data ``lattice`` (1x9, rows a, b, c), ``grid_shape``, ``fill_value_ev``.
* **vti**: VTK XML ImageData with the same arrays.  An image is
  axis-aligned, so it is exact only for lattices with ``a || x``,
  ``b || y``, ``c || z``; otherwise it is written in fractional index
  space (spacing ``|a|/na, |b|/nb, |c|/nc``) with a logged warning.

Without a pymatgen structure, one marker atom (the probe ion from
``metadata['ion']``, else the dummy ``X``) is written at the source node,
because XSF and CHGCAR readers need at least one atom.
"""
from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import ExportError

if TYPE_CHECKING:
    from ..analysis import Percolation, PercolationResult
    from ..grid import EnergyGrid, ScanResult

__all__ = [
    "write_volumetric",
    "volumetric_field",
    "infer_format",
    "VOLUMETRIC_FORMATS",
    "FILL_VALUE_EV",
    "BOHR_ANG",
    "ExportError",
]

logger = logging.getLogger(__name__)

#: Value written for forbidden / unreachable / above-threshold nodes (eV).
FILL_VALUE_EV = 1.0e4
#: One Bohr radius in Å (CODATA 2018); cube files use Bohr.
BOHR_ANG = 0.529177210903

VOLUMETRIC_FORMATS = ("cube", "chgcar", "locpot", "grd", "xsf", "vts", "vti")

_SUFFIX = {
    ".cube": "cube",
    ".cub": "cube",
    ".chgcar": "chgcar",
    ".locpot": "locpot",
    ".grd": "grd",
    ".xsf": "xsf",
    ".vts": "vts",
    ".vti": "vti",
}


def infer_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The volumetric format for ``path``: ``fmt`` if given, else from the file name.

    ``CHGCAR``/``LOCPOT`` names (VASP style, no extension) are recognised.

    Examples
    --------
    >>> infer_format("li.cube"), infer_format("out/CHGCAR_li"), infer_format("x.dat", "xsf")
    ('cube', 'chgcar', 'xsf')
    """
    if fmt is not None:
        f = str(fmt).lower().lstrip(".")
        if f not in VOLUMETRIC_FORMATS:
            raise ExportError(f"`fmt` must be one of {', '.join(VOLUMETRIC_FORMATS)} (got {fmt!r})")
        return f
    name = os.path.basename(os.fspath(path))
    ext = os.path.splitext(name)[1].lower()
    if ext in _SUFFIX:
        return _SUFFIX[ext]
    upper = name.upper()
    if upper.startswith("CHGCAR") or upper.startswith("CHG"):
        return "chgcar"
    if upper.startswith("LOCPOT"):
        return "locpot"
    raise ExportError(
        f"cannot tell the format of {name!r} from its name; use one of the extensions "
        f"{', '.join(sorted(_SUFFIX))} or pass `fmt` ({', '.join(VOLUMETRIC_FORMATS)})"
    )


# ------------------------------------------------------------------------------------ inputs
def _split(obj: EnergyGrid | ScanResult | Percolation, field: str) -> tuple[EnergyGrid, PercolationResult | None]:
    """(grid, result or None) from an EnergyGrid, ScanResult, PercolationResult or PercolationSet
    (of several maps, the lowest)."""
    from ..analysis import Percolation, analyze
    from ..grid import EnergyGrid, ScanResult

    if isinstance(obj, (ScanResult, Percolation)):
        obj = obj.lowest()
    if isinstance(obj, EnergyGrid):
        return obj, (analyze(obj) if field == "level" else None)
    if isinstance(obj, Percolation):
        return obj.grid, obj
    raise ExportError(
        f"expected an EnergyGrid or a PercolationResult (got {type(obj).__name__}); "
        "Hint: build one with ionnet.EnergyGrid(...) or ionnet.analyze(grid)"
    )


def volumetric_field(
    grid_or_result: EnergyGrid | ScanResult | Percolation,
    *,
    field: str = "energy",
    threshold: float | None = None,
    relative: bool = True,
    fill_value: float = FILL_VALUE_EV,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The finite (na, nb, nc) array that :func:`write_volumetric` writes, and its fill mask.

    Parameters
    ----------
    grid_or_result : EnergyGrid, PercolationResult or PercolationSet
        A set contributes its lowest-energy map.
    field : {'energy', 'level'}
        ``'energy'``: the probe energy at each node; ``'level'``: the level
        map (minimax energy from the source; an EnergyGrid is analysed first).
    threshold : float, eV, optional
        Nodes whose field value (relative to the reference) is above this
        are written as ``fill_value``: with ``field='level'`` only the region
        reachable from the source below ``threshold`` keeps its values.
    relative : bool
        Values relative to the reference energy (the source energy of a
        result, the grid minimum of a bare grid).  ``False`` writes absolute
        energies.  ``threshold`` is always relative.
    fill_value : float, eV
        Written for forbidden, unreachable and above-threshold nodes.

    Returns
    -------
    values : (na, nb, nc) ndarray, eV, all finite
    filled : (na, nb, nc) ndarray of bool
        Where ``fill_value`` was written.

    Examples
    --------
    >>> import numpy as np
    >>> from ionnet import EnergyGrid
    >>> e = np.zeros((2, 2, 2)); e[0, 0, 0] = np.inf; e[1, 1, 1] = 0.5
    >>> v, filled = volumetric_field(EnergyGrid(e, np.eye(3)), threshold=0.3)
    >>> float(v[0, 0, 0]), float(v[1, 1, 1]), float(v[0, 1, 0]), int(filled.sum())
    (10000.0, 10000.0, 0.0, 2)
    """
    if field not in ("energy", "level"):
        raise ExportError(f"`field` must be 'energy' or 'level' (got {field!r})")
    grid, result = _split(grid_or_result, field)
    return _field(grid, result, field, threshold, relative, fill_value)


def _field(grid, result, field, threshold, relative, fill_value):
    if not np.isfinite(fill_value):
        raise ExportError(f"`fill_value` must be finite (got {fill_value!r}); viewers cannot read inf or nan")
    e = grid.energies
    if result is not None:
        ref = float(result.e_min)
    else:
        ref = float(np.min(e[np.isfinite(e)]))
    rel = result.level_map if field == "level" else e - ref
    rel = np.asarray(rel, dtype=np.float64)
    filled = ~np.isfinite(rel)
    if threshold is not None:
        t = float(threshold)
        if not np.isfinite(t):
            raise ExportError(f"`threshold` must be a finite energy in eV (got {threshold!r})")
        filled |= rel > t
    out = rel if relative else rel + ref
    out = np.where(filled, float(fill_value), out)
    return out, filled


# ------------------------------------------------------------------------------------ atoms
def _atoms(grid: EnergyGrid, result: PercolationResult | None) -> tuple[list[str], NDArray[np.int64], NDArray[np.float64]]:
    """(symbols, atomic numbers, frac coords) of the framework, or one marker atom.

    Without a (pymatgen) structure the probe ion (``metadata['ion']``, else the
    dummy ``X``, Z = 0) is placed at the source node: XSF and CHGCAR need at
    least one atom.
    """
    st = grid.structure
    if st is not None and hasattr(st, "sites") and hasattr(st, "frac_coords") and len(st) > 0:
        symbols, numbers = [], []
        for site in st.sites:
            sp = site.specie if hasattr(site, "specie") else site.species.elements[0]
            el = getattr(sp, "element", sp)  # Species -> Element
            symbols.append(str(getattr(el, "symbol", sp)))
            numbers.append(int(getattr(el, "Z", 0) or 0))
        return symbols, np.asarray(numbers, dtype=np.int64), np.asarray(st.frac_coords, dtype=np.float64)
    ion = str(grid.metadata.get("ion") or "X")
    sym = "".join(ch for ch in ion if ch.isalpha()) or "X"
    z = _atomic_number(sym)
    if z == 0:
        sym = "X"
    src = result.source if result is not None else int(np.argmin(grid.energies))
    return [sym], np.asarray([z], dtype=np.int64), grid.frac_coords(src).reshape(1, 3)


def _atomic_number(symbol: str) -> int:
    try:
        from ase.data import atomic_numbers

        return int(atomic_numbers.get(symbol, 0)) if symbol != "X" else 0
    except ImportError:  # pragma: no cover - ase is in the structures extra
        try:
            from pymatgen.core import Element

            return int(Element(symbol).Z)
        except Exception:  # noqa: BLE001
            return 0


# ------------------------------------------------------------------------------------ text
def _block(values: NDArray[np.float64], per_line: int, fmt: str) -> str:
    """``values`` formatted ``per_line`` to a line (last line shorter), newline-terminated."""
    values = np.asarray(values, dtype=np.float64).ravel()
    n = values.size
    full, rest = divmod(n, per_line)
    line = " ".join([fmt] * per_line) + "\n"
    text = (line * full) % tuple(values[: full * per_line])
    if rest:
        text += (" ".join([fmt] * rest) + "\n") % tuple(values[full * per_line:])
    return text


def _with_end_point(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """Append the periodic end point along each axis (general grid)."""
    return np.pad(a, [(0, 1)] * 3, mode="wrap")


def _comment(grid: EnergyGrid, field: str, relative: bool, threshold: float | None) -> str:
    md = grid.metadata
    parts = [f"ionnet {field} (eV{', relative' if relative else ''})"]
    for key in ("ion", "model"):
        if md.get(key):
            parts.append(f"{key}={md[key]}")
    if threshold is not None:
        parts.append(f"threshold={float(threshold):g}")
    parts.append(f"fill={FILL_VALUE_EV:g}")
    return " ".join(parts)


def _write_cube(fh, values, grid, result, comment) -> None:
    lat_bohr = grid.lattice / BOHR_ANG
    na, nb, nc = values.shape
    symbols, numbers, frac = _atoms(grid, result)
    cart_bohr = frac @ lat_bohr
    fh.write(f"{comment}\n")
    fh.write("OUTER LOOP: X, MIDDLE LOOP: Y, INNER LOOP: Z\n")
    fh.write(f"{len(numbers):5d} {0.0:12.6f} {0.0:12.6f} {0.0:12.6f}\n")
    for n, v in zip((na, nb, nc), lat_bohr):
        step = v / n
        fh.write(f"{n:5d} {step[0]:12.6f} {step[1]:12.6f} {step[2]:12.6f}\n")
    for z, xyz in zip(numbers, cart_bohr):
        fh.write(f"{int(z):5d} {float(z):12.6f} {xyz[0]:12.6f} {xyz[1]:12.6f} {xyz[2]:12.6f}\n")
    # one (i, j) row of nc values at a time, 6 to a line (C order: z fastest)
    full, rest = divmod(nc, 6)
    row = ((" ".join(["%13.5E"] * 6) + "\n") * full) + ((" ".join(["%13.5E"] * rest) + "\n") if rest else "")
    flat = values.reshape(na * nb, nc)
    chunk = max(1, 200_000 // max(nc, 1))
    for start in range(0, na * nb, chunk):
        part = flat[start:start + chunk]
        fh.write((row * len(part)) % tuple(part.ravel()))


def _write_poscar_header(fh, grid, result, comment) -> None:
    symbols, _, frac = _atoms(grid, result)
    order = sorted(range(len(symbols)), key=lambda i: (symbols.index(symbols[i]), i))  # group by first appearance
    species: list[str] = []
    counts: list[int] = []
    for i in order:
        if species and species[-1] == symbols[i]:
            counts[-1] += 1
        else:
            species.append(symbols[i])
            counts.append(1)
    fh.write(f"{comment}\n1.0\n")
    for v in grid.lattice:
        fh.write(f" {v[0]:21.16f} {v[1]:21.16f} {v[2]:21.16f}\n")
    fh.write(" " + " ".join(f"{s:>4s}" for s in species) + "\n")
    fh.write(" " + " ".join(f"{c:4d}" for c in counts) + "\n")
    fh.write("Direct\n")
    for i in order:
        f = frac[i]
        fh.write(f" {f[0]:.10f} {f[1]:.10f} {f[2]:.10f}\n")
    fh.write("\n")


def _write_vasp(fh, values, grid, result, comment, scale: float) -> None:
    _write_poscar_header(fh, grid, result, comment)
    na, nb, nc = values.shape
    fh.write(f" {na:5d} {nb:5d} {nc:5d}\n")
    # VASP order: x (a index) fastest
    fh.write(_block(np.ravel(values * scale, order="F"), 5, "%18.11E"))


def _write_grd(fh, values, grid, comment) -> None:
    lat = grid.lattice
    abc = np.linalg.norm(lat, axis=1)

    def angle(u, v):
        return float(np.degrees(np.arccos(np.clip(np.dot(u, v) / np.linalg.norm(u) / np.linalg.norm(v), -1, 1))))

    alpha, beta, gamma = angle(lat[1], lat[2]), angle(lat[0], lat[2]), angle(lat[0], lat[1])
    na, nb, nc = values.shape
    fh.write(f"# {comment}\n")
    fh.write(f"{abc[0]:.10f} {abc[1]:.10f} {abc[2]:.10f} {alpha:.10f} {beta:.10f} {gamma:.10f}\n")
    fh.write(f"{na} {nb} {nc}\n")
    # BVlain's layout: one value a line, i outermost, k fastest (C order)
    fh.write(_block(values.ravel(order="C"), 1, "%.10E"))


def _write_xsf(fh, values, grid, result, comment, field) -> None:
    lat = grid.lattice
    _, numbers, frac = _atoms(grid, result)
    cart = frac @ lat
    fh.write(f"# {comment}\n")
    fh.write("# general grid: the periodic end point is repeated along a, b and c\n")
    fh.write("CRYSTAL\nPRIMVEC\n")
    for v in lat:
        fh.write(f" {v[0]:16.10f} {v[1]:16.10f} {v[2]:16.10f}\n")
    fh.write("PRIMCOORD\n")
    fh.write(f" {len(numbers)} 1\n")
    for z, xyz in zip(numbers, cart):
        fh.write(f" {int(z):3d} {xyz[0]:16.10f} {xyz[1]:16.10f} {xyz[2]:16.10f}\n")
    full = _with_end_point(values)
    fh.write("BEGIN_BLOCK_DATAGRID_3D\n")
    fh.write(f" ionnet_{field}\n")
    fh.write(f" BEGIN_DATAGRID_3D_{field}\n")
    fh.write("  %d %d %d\n" % full.shape)
    fh.write("  0.0 0.0 0.0\n")
    for v in lat:
        fh.write(f"  {v[0]:16.10f} {v[1]:16.10f} {v[2]:16.10f}\n")
    # XSF order: x (a index) fastest
    fh.write(_block(np.ravel(full, order="F"), 6, "%15.8E"))
    fh.write(" END_DATAGRID_3D\nEND_BLOCK_DATAGRID_3D\n")


def _is_axis_aligned(lat: NDArray[np.float64]) -> bool:
    off = lat - np.diag(np.diag(lat))
    return bool(np.all(np.abs(off) <= 1e-8 * np.abs(lat).max()) and np.all(np.diag(lat) > 0))


def _write_vtk(path, values, filled, grid, field, fmt) -> None:
    try:
        import pyvista as pv
    except ImportError as e:  # pragma: no cover - optional dependency
        from ..errors import BackendUnavailableError

        raise BackendUnavailableError(f"writing .{fmt} needs pyvista: pip install 'ionnet[render]'") from e
    lat = grid.lattice
    full = _with_end_point(values)
    dims = full.shape
    if fmt == "vts":
        idx = np.indices(dims, dtype=np.float64).reshape(3, -1, order="F").T / np.asarray(grid.shape)
        mesh = pv.StructuredGrid()
        mesh.points = idx @ lat
        mesh.dimensions = dims
    else:
        spacing = np.linalg.norm(lat, axis=1) / np.asarray(grid.shape)
        if not _is_axis_aligned(lat):
            logger.warning(
                "lattice is not orthogonal and axis-aligned: the .vti image is written in fractional index "
                "space (spacing |a|/na, |b|/nb, |c|/nc Å, cell angles lost; lattice in field data 'lattice'); "
                "write .vts for true Cartesian geometry"
            )
        mesh = pv.ImageData(dimensions=dims, spacing=tuple(float(s) for s in spacing), origin=(0.0, 0.0, 0.0))
    mesh.point_data[field] = np.ravel(full, order="F")
    mesh.point_data["filled"] = np.ravel(_with_end_point(filled.astype(np.uint8)), order="F")
    mesh.field_data["lattice"] = np.asarray(lat, dtype=np.float64).reshape(1, 9)
    mesh.field_data["grid_shape"] = np.asarray(grid.shape, dtype=np.int64)
    mesh.field_data["fill_value_ev"] = np.asarray([FILL_VALUE_EV])
    mesh.save(os.fspath(path))


# ------------------------------------------------------------------------------------ API
def write_volumetric(
    grid_or_result: EnergyGrid | ScanResult | Percolation,
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    field: str = "energy",
    threshold: float | None = None,
    relative: bool = True,
    fill_value: float = FILL_VALUE_EV,
) -> str:
    """Write an energy grid or a level map as a volumetric file.

    Parameters
    ----------
    grid_or_result : EnergyGrid, PercolationResult or PercolationSet
        What to write (a set writes its lowest-energy map).
    path : path-like
        Output file.  Parent folders must exist.
    fmt : {'cube', 'chgcar', 'locpot', 'grd', 'xsf', 'vts', 'vti'}, optional
        Default: from the file name (see :func:`infer_format`).
    field : {'energy', 'level'}
        Energy of the probe ion, or the level map (minimax energy from the
        source; a bare grid is analysed first).
    threshold : float, eV, optional
        Nodes above it (relative to the reference) are written as ``fill_value``.
    relative : bool
        Write values relative to the reference (source energy, or the grid
        minimum) rather than absolute energies.
    fill_value : float, eV
        Written for forbidden, unreachable and above-threshold nodes
        (default :data:`FILL_VALUE_EV` = 1.0e4 eV).

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ExportError
        Unknown format or field, non-finite threshold or fill value.

    Notes
    -----
    The layout of each format is described in the module documentation.

    Examples
    --------
    >>> import numpy as np, os, tempfile
    >>> from ionnet import EnergyGrid
    >>> g = EnergyGrid(np.random.default_rng(0).random((4, 4, 4)), np.eye(3) * 5.0, metadata={"ion": "Li"})
    >>> d = tempfile.mkdtemp()
    >>> os.path.basename(write_volumetric(g, os.path.join(d, "li.cube")))
    'li.cube'
    """
    fmt = infer_format(path, fmt)
    if field not in ("energy", "level"):
        raise ExportError(f"`field` must be 'energy' or 'level' (got {field!r})")
    grid, result = _split(grid_or_result, field)
    values, filled = _field(grid, result, field, threshold, relative, fill_value)
    comment = _comment(grid, field, relative, threshold)
    path = os.fspath(path)
    if fmt in ("vts", "vti"):
        _write_vtk(path, values, filled, grid, field, fmt)
        return path
    from ..io.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", encoding="ascii") as fh:  # never a half-written file
        if fmt == "cube":
            _write_cube(fh, values, grid, result, comment)
        elif fmt == "chgcar":
            _write_vasp(fh, values, grid, result, comment, scale=grid.volume_ang3)
        elif fmt == "locpot":
            _write_vasp(fh, values, grid, result, comment, scale=1.0)
        elif fmt == "grd":
            _write_grd(fh, values, grid, comment)
        elif fmt == "xsf":
            _write_xsf(fh, values, grid, result, comment, field)
    logger.info("wrote %s (%s, %s)", path, fmt, field)
    return path
