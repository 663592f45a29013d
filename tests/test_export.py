"""Volumetric and graph exports: every file is read back by the tool its users use.

The grid is a separable cosine field plus a coupling term on a 12x10x8 grid
(three different sizes, so any axis mix-up shows) in a triclinic cell, with
two forbidden nodes and a three-atom pymatgen structure.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest

import ionnet
from ionnet import EnergyGrid, analyze
from ionnet.data import cosine_field
from ionnet.export import (
    FILL_VALUE_EV,
    ExportError,
    export_format,
    infer_format,
    volumetric_field,
    write,
    write_graph,
    write_volumetric,
)

LATTICE = np.array([[5.0, 0.0, 0.0], [1.0, 4.5, 0.0], [0.5, 0.3, 4.0]])  # triclinic, Å
SHAPE = (12, 10, 8)


def coupled_field(shape=SHAPE, amps=(0.1, 0.3, 0.5), coupling=0.05):
    """A cos 2πx + B cos 2πy + C cos 2πz + coupling sin 2πx sin 2πz (eV); MPE = 2A when small coupling."""
    x, z = (np.arange(n) / n for n in (shape[0], shape[2]))
    e = cosine_field(shape, amps)
    return e + coupling * np.sin(2 * np.pi * x)[:, None, None] * np.sin(2 * np.pi * z)[None, None, :]


def structure(lattice=LATTICE):
    from pymatgen.core import Lattice, Structure

    return Structure(Lattice(lattice), ["O", "Fe", "O"], [[0, 0, 0], [0.5, 0.5, 0.5], [0.25, 0.1, 0.9]])


@pytest.fixture(scope="module")
def grid():
    e = coupled_field()
    e[0, 0, 0] = np.inf  # forbidden nodes (at the maxima)
    e[0, 0, 1] = np.nan
    return EnergyGrid(e, LATTICE, structure=structure(), metadata={"ion": "Li", "model": "cosine"})


@pytest.fixture(scope="module")
def result(grid):
    return analyze(grid)


def expected(result, field="energy", threshold=None):
    rel = result.level_map if field == "level" else result.grid.energies - result.e_min
    out = np.where(np.isfinite(rel), rel, FILL_VALUE_EV)
    if threshold is not None:
        out = np.where(rel > threshold, FILL_VALUE_EV, out)
    return out


# ---------------------------------------------------------------------------- round trips
def test_cube_read_by_ase(result, tmp_path):
    from ase.io.cube import read_cube_data

    path = write_volumetric(result, tmp_path / "li.cube")
    data, atoms = read_cube_data(path)
    assert data.shape == SHAPE
    np.testing.assert_allclose(data, expected(result), rtol=1e-5, atol=1e-5)  # %13.5E
    np.testing.assert_allclose(atoms.cell[:], LATTICE, atol=1e-5)  # Bohr in the file, Å back
    assert atoms.get_chemical_symbols() == ["O", "Fe", "O"]
    np.testing.assert_allclose(atoms.positions, structure().cart_coords, atol=1e-5)


def test_cube_header_is_in_bohr(result, tmp_path):
    from ionnet.export import BOHR_ANG

    path = write_volumetric(result, tmp_path / "li.cube")
    lines = open(path).read().splitlines()
    n, *step = lines[3].split()
    assert int(n) == SHAPE[0]
    np.testing.assert_allclose([float(s) for s in step], LATTICE[0] / SHAPE[0] / BOHR_ANG, atol=1e-6)


def test_chgcar_read_by_pymatgen_with_volume_factor(result, tmp_path):
    from pymatgen.io.vasp.outputs import Chgcar, VolumetricData

    path = write_volumetric(result, tmp_path / "CHGCAR")
    chg = Chgcar.from_file(path)
    vol = chg.structure.volume
    assert vol == pytest.approx(abs(np.linalg.det(LATTICE)))
    # CHGCAR convention: stored value = field x cell volume
    np.testing.assert_allclose(chg.data["total"] / vol, expected(result), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(chg.structure.lattice.matrix, LATTICE, atol=1e-10)
    assert chg.structure.composition.reduced_formula == structure().composition.reduced_formula
    poscar, data, _ = VolumetricData.parse_file(path)
    np.testing.assert_allclose(data["total"], chg.data["total"])


def test_locpot_has_no_volume_factor(result, tmp_path):
    from pymatgen.io.vasp.outputs import Locpot

    pot = Locpot.from_file(write_volumetric(result, tmp_path / "LOCPOT"))
    np.testing.assert_allclose(pot.data["total"], expected(result), rtol=1e-10, atol=1e-9)


def read_grd(path):
    with open(path) as fh:
        title = fh.readline()
        cell = [float(x) for x in fh.readline().split()]
        shape = tuple(int(x) for x in fh.readline().split())
        data = np.loadtxt(fh)
    return title, cell, data.reshape(shape)


def test_grd_layout(result, tmp_path):
    from pymatgen.core import Lattice

    title, cell, data = read_grd(write_volumetric(result, tmp_path / "li.grd"))
    assert title.startswith("#")
    lat = Lattice(LATTICE)
    np.testing.assert_allclose(cell, [*lat.abc, *lat.angles], atol=1e-8)
    np.testing.assert_allclose(data, expected(result), rtol=1e-9, atol=1e-9)


def test_xsf_general_grid_read_by_ase(result, tmp_path):
    from ase.io.xsf import read_xsf

    path = write_volumetric(result, tmp_path / "li.xsf")
    with open(path) as fh:
        data, origin, span, atoms = read_xsf(fh, read_data=True)
    assert data.shape == tuple(n + 1 for n in SHAPE)  # periodic end point repeated
    np.testing.assert_allclose(data[:-1, :-1, :-1], expected(result), rtol=1e-7, atol=1e-7)
    np.testing.assert_array_equal(data[-1], data[0])
    np.testing.assert_array_equal(data[:, -1], data[:, 0])
    np.testing.assert_array_equal(data[:, :, -1], data[:, :, 0])
    np.testing.assert_allclose(span, LATTICE, atol=1e-9)
    np.testing.assert_allclose(origin, 0.0)
    np.testing.assert_allclose(atoms.cell[:], LATTICE, atol=1e-9)
    assert atoms.get_chemical_symbols() == ["O", "Fe", "O"]


def test_vts_cartesian_points_read_by_pyvista(result, tmp_path):
    pv = pytest.importorskip("pyvista")
    mesh = pv.read(write_volumetric(result, tmp_path / "li.vts", field="level"))
    assert isinstance(mesh, pv.StructuredGrid)
    dims = tuple(int(d) for d in mesh.dimensions)
    assert dims == tuple(n + 1 for n in SHAPE)
    level = mesh.point_data["level"].reshape(dims, order="F")
    np.testing.assert_allclose(level[:-1, :-1, :-1], expected(result, "level"))
    pts = mesh.points.reshape(dims + (3,), order="F")
    np.testing.assert_allclose(pts[3, 4, 5], np.array([3 / 12, 4 / 10, 5 / 8]) @ LATTICE, atol=1e-5)
    np.testing.assert_allclose(pts[-1, -1, -1], LATTICE.sum(axis=0), atol=1e-5)  # the cell closes
    np.testing.assert_allclose(mesh.field_data["lattice"].reshape(3, 3), LATTICE)
    filled = mesh.point_data["filled"].reshape(dims, order="F")[:-1, :-1, :-1].astype(bool)
    np.testing.assert_array_equal(filled, ~np.isfinite(result.level_map))


def test_vti_orthogonal_is_exact(tmp_path):
    pv = pytest.importorskip("pyvista")
    lat = np.diag([5.0, 4.0, 3.0])
    g = EnergyGrid(coupled_field(), lat)
    mesh = pv.read(write_volumetric(g, tmp_path / "o.vti"))
    assert isinstance(mesh, pv.ImageData)
    np.testing.assert_allclose(mesh.spacing, [5 / 12, 4 / 10, 3 / 8], rtol=1e-6)
    e = mesh.point_data["energy"].reshape(tuple(mesh.dimensions), order="F")[:-1, :-1, :-1]
    np.testing.assert_allclose(e, g.energies - g.energies.min(), atol=1e-12)
    np.testing.assert_allclose(mesh.bounds[1::2], [5.0, 4.0, 3.0], rtol=1e-6)


def test_vti_non_orthogonal_warns_and_keeps_lattice(grid, tmp_path, caplog):
    pv = pytest.importorskip("pyvista")
    with caplog.at_level(logging.WARNING, logger="ionnet.export.volumetric"):
        path = write_volumetric(grid, tmp_path / "t.vti")
    assert "write .vts" in caplog.text
    mesh = pv.read(path)
    np.testing.assert_allclose(mesh.field_data["lattice"].reshape(3, 3), LATTICE)
    np.testing.assert_allclose(mesh.spacing, np.linalg.norm(LATTICE, axis=1) / SHAPE, rtol=1e-6)


@pytest.mark.parametrize("name", ["a.cube", "CHGCAR", "a.locpot", "a.grd", "a.xsf"])
def test_text_files_hold_no_inf_or_nan(result, tmp_path, name):
    text = open(write_volumetric(result, tmp_path / name, field="level")).read().lower()
    assert "inf" not in text and "nan" not in text


def test_level_threshold_fills_nodes_above(result):
    t = result.mpe + 0.05
    values, filled = volumetric_field(result, field="level", threshold=t)
    np.testing.assert_array_equal(filled, ~(result.level_map <= t))
    np.testing.assert_allclose(values, expected(result, "level", t))
    assert np.isfinite(values).all()
    assert result.free_volume(t) == pytest.approx(np.mean(~filled))


def test_absolute_values(result):
    values, filled = volumetric_field(result, relative=False)
    np.testing.assert_allclose(values[~filled], result.grid.energies[~filled])


def test_bare_grid_level_field_is_analysed(grid, result):
    values, _ = volumetric_field(grid, field="level")
    np.testing.assert_allclose(values, expected(result, "level"))


def test_percolation_set_writes_lowest_map(grid, tmp_path):
    shifted = EnergyGrid(grid.energies + 1.0, LATTICE, metadata={"ion": "Li"})
    pset = analyze([shifted, grid])
    values, _ = volumetric_field(pset)
    np.testing.assert_allclose(values, expected(pset[1]))


@pytest.mark.parametrize("fmt", ["xsf", "chgcar", "cube"])
def test_without_structure_a_marker_atom_sits_at_the_source(fmt, tmp_path):
    g = EnergyGrid(coupled_field(), LATTICE, metadata={"ion": "Li"})
    r = analyze(g)
    path = write_volumetric(r, tmp_path / f"bare.{fmt}", fmt)
    src = r.grid.cart_coords(r.source).ravel()
    if fmt == "xsf":
        from ase.io.xsf import read_xsf

        with open(path) as fh:
            *_, atoms = read_xsf(fh, read_data=True)
        symbols, pos = atoms.get_chemical_symbols(), atoms.positions
    elif fmt == "cube":
        from ase.io.cube import read_cube_data

        _, atoms = read_cube_data(path)
        symbols, pos = atoms.get_chemical_symbols(), atoms.positions
    else:
        from pymatgen.io.vasp.outputs import Chgcar

        st = Chgcar.from_file(path).structure
        symbols, pos = [s.specie.symbol for s in st], st.cart_coords
    assert symbols == ["Li"]
    np.testing.assert_allclose(pos[0], src, atol=1e-5)


# ---------------------------------------------------------------------------- formats and errors
@pytest.mark.parametrize(
    "name, fmt",
    [("x.cube", "cube"), ("x.CUB", "cube"), ("CHGCAR", "chgcar"), ("out/CHGCAR_li", "chgcar"),
     ("LOCPOT", "locpot"), ("x.grd", "grd"), ("x.xsf", "xsf"), ("x.vts", "vts"), ("x.vti", "vti")],
)
def test_infer_format(name, fmt):
    assert infer_format(name) == fmt


def test_export_format_knows_graphs():
    assert export_format("a.graphml") == "graphml"
    assert export_format("a.dat", "gml") == "gml"
    with pytest.raises(ExportError, match="choose one of graphml, gml, cube"):
        export_format("a.dat")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fmt": "png"}, "`fmt` must be one of"),
        ({"field": "force"}, "`field` must be 'energy' or 'level'"),
        ({"threshold": float("inf")}, "`threshold` must be a finite energy"),
        ({"fill_value": float("nan")}, "`fill_value` must be finite"),
    ],
)
def test_bad_arguments(result, tmp_path, kwargs, match):
    with pytest.raises(ExportError, match=match):
        write_volumetric(result, tmp_path / "x.cube", **kwargs)
    assert not (tmp_path / "x.cube").exists()


def test_unknown_extension(result, tmp_path):
    with pytest.raises(ExportError, match="cannot tell the format"):
        write_volumetric(result, tmp_path / "x.dat")


def test_wrong_object():
    with pytest.raises(ExportError, match="expected an EnergyGrid or a PercolationResult"):
        volumetric_field(np.zeros((2, 2, 2)))
    assert issubclass(ExportError, ionnet.IonnetError) and issubclass(ExportError, ValueError)


# ---------------------------------------------------------------------------- graphs
def test_graphml_grid_graph(result, tmp_path):
    import networkx as nx

    t = result.mpe + 0.01
    g = nx.read_graphml(write_graph(result, tmp_path / "g.graphml", threshold=t))
    keep = (result.grid.energies - result.e_min) <= t
    assert g.number_of_nodes() == int(keep.sum())
    node = next(iter(g.nodes(data=True)))[1]
    assert {"energy", "level", "x", "y", "z"} <= set(node)
    assert max(d["weight"] for *_, d in g.edges(data=True)) <= t + 1e-12


def test_gml_site_graph(result, tmp_path):
    import networkx as nx

    g = nx.read_gml(write(result, tmp_path / "s.gml", graph="sites"))
    sites = result.sites()
    assert g.number_of_nodes() == sites.n_sites
    assert g.number_of_edges() == len(sites.edges)


def test_write_graph_analyses_a_bare_grid(grid, tmp_path):
    import networkx as nx

    g = nx.read_graphml(write(grid, tmp_path / "s.graphml", graph="sites"))
    assert g.number_of_nodes() == analyze(grid).sites().n_sites


# ---------------------------------------------------------------------------- package hygiene
def test_import_stays_light():
    code = (
        "import sys, ionnet, ionnet.export, ionnet.render; "
        "heavy = [m for m in ('pyvista', 'vtk', 'vtkmodules', 'matplotlib', 'networkx') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ---------------------------------------------------------------------------- command line
def cli(*args, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "ionnet.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=300)


@pytest.fixture(scope="module")
def grid_file(grid, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "grid.npz"
    grid.save(path)
    return path


@pytest.mark.slow
def test_cli_export_cube_and_sites(grid_file, result, tmp_path):
    from ase.io.cube import read_cube_data

    out = cli("export", str(grid_file), "-o", str(tmp_path / "g.cube"), "--field", "level")
    assert out.returncode == 0, out.stderr
    assert "wrote" in out.stdout
    data, _ = read_cube_data(str(tmp_path / "g.cube"))
    np.testing.assert_allclose(data, expected(result, "level"), rtol=1e-5, atol=1e-5)
    out = cli("export", str(grid_file), "--format", "graphml", "--graph", "sites", "-o", str(tmp_path / "s.xml"))
    assert out.returncode == 0, out.stderr
    import networkx as nx

    assert nx.read_graphml(tmp_path / "s.xml").number_of_nodes() == result.sites().n_sites


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, message",
    [
        (["{grid}", "-o", "{tmp}/x.unknown"], "unknown export format"),
        (["{tmp}/missing.npz", "-o", "{tmp}/x.cube"], "grid file not found"),
        (["{grid}", "-o", "{grid}", "--format", "cube"], "is an input"),  # a missing folder is created instead
    ],
)
def test_cli_export_errors_are_one_line(grid_file, tmp_path, args, message):
    args = [a.format(grid=grid_file, tmp=tmp_path) for a in args]
    out = cli("export", *args)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_cli_export_help_has_example():
    out = cli("export", "--help")
    assert out.returncode == 0
    assert "examples:" in out.stdout and "ionnet export" in out.stdout
