"""Output files: checked before the work, written atomically, never over an input; multi-map grids round-trip."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import ionnet
from ionnet.cli import main
from ionnet.data import cosine_field
from ionnet.errors import GridError, OutputError
from ionnet.io.files import atomic_path, check_output

pymatgen = pytest.importorskip("pymatgen.core")

LIFEPO4 = Path(ionnet.__file__).parent / "data" / "LiFePO4.cif"


def _framework(symbol: str, a: float):
    return pymatgen.Structure(pymatgen.Lattice.cubic(a), [symbol, "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])


def test_multimap_roundtrip_keeps_each_framework_and_metadata(tmp_path):
    lat = np.eye(3) * 4.0
    frameworks = [_framework("Fe", 4.0), _framework("Mn", 4.0), _framework("Fe", 4.0)]
    maps = [ionnet.EnergyGrid(cosine_field((6, 5, 4), (0.1, 0.2, 0.3), offset=-k), lat, structure=fw,
                              metadata={"site_index": k, "multiplicity": k + 1, "nested": {"k": [k, k]}})
            for k, fw in enumerate(frameworks)]
    path = tmp_path / "sub" / "maps.npz"  # the folder does not exist yet: save creates it
    ionnet.save_grids(maps, path)
    back = ionnet.load_grids(path)
    assert len(back) == 3
    for g, h in zip(maps, back):
        np.testing.assert_array_equal(g.energies, h.energies)
        np.testing.assert_array_equal(g.lattice, h.lattice)
        assert h.metadata == g.metadata
        assert h.structure == g.structure  # its own framework, not the first map's
    assert back[1].structure.composition.reduced_formula == "MnO"
    with np.load(path) as z:  # the shared framework is stored once
        assert len(z["structures"]) == 2 and z["structure_index"].tolist() == [0, 1, 0]
    assert os.listdir(path.parent) == ["maps.npz"]  # no temporary left


def test_single_map_file_is_read_by_both_loaders(tmp_path):
    g = ionnet.EnergyGrid(cosine_field((4, 4, 4), (0.1, 0.1, 0.1)), np.eye(3) * 3.0, structure=_framework("Fe", 3.0),
                          metadata={"ion": "Li"})
    g.save(tmp_path / "one.npz")
    a, (b,) = ionnet.EnergyGrid.load(tmp_path / "one.npz"), ionnet.load_grids(tmp_path / "one.npz")
    for h in (a, b):
        np.testing.assert_array_equal(h.energies, g.energies)
        assert h.metadata == {"ion": "Li"} and h.structure == g.structure


def test_multimap_file_is_refused_by_the_single_loader(tmp_path):
    ionnet.save_grids([ionnet.EnergyGrid(np.zeros((2, 2, 2)) + k, np.eye(3)) for k in (0.0, 1.0)], tmp_path / "m.npz")
    with pytest.raises(GridError, match="2 maps.*load_grids"):
        ionnet.EnergyGrid.load(tmp_path / "m.npz")


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "result.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            Path(tmp).write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["result.npz"]


def test_symlink_at_the_target_is_replaced_not_followed(tmp_path):
    victim = tmp_path / "victim.cif"
    victim.write_text("precious")
    link = tmp_path / "out.npz"
    link.symlink_to(victim)
    ionnet.EnergyGrid(np.zeros((2, 2, 2)), np.eye(3)).save(link)
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and ionnet.EnergyGrid.load(link).shape == (2, 2, 2)


def test_concurrent_writers_get_their_own_temporary(tmp_path):
    with atomic_path(tmp_path / "x.txt") as a, atomic_path(tmp_path / "x.txt") as b:
        assert a != b and Path(a).parent == Path(b).parent == tmp_path
        Path(a).write_text("a")
        Path(b).write_text("b")
    assert (tmp_path / "x.txt").read_text() == "a"  # the last to finish wins, whole


def test_written_file_has_umask_permissions(tmp_path):
    with atomic_path(tmp_path / "p.txt") as tmp:
        Path(tmp).write_text("x")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "p.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_check_output_creates_the_folder_and_refuses_inputs(tmp_path):
    assert check_output(tmp_path / "a" / "b" / "x.npz") == str(tmp_path / "a" / "b" / "x.npz")
    assert (tmp_path / "a" / "b").is_dir()
    (tmp_path / "in.cif").write_text("x")
    with pytest.raises(OutputError, match="input"):
        check_output(tmp_path / "." / "in.cif", inputs=[tmp_path / "in.cif"])
    with pytest.raises(OutputError, match="folder"):
        check_output(tmp_path / "a")
    with pytest.raises(OutputError, match=r"\.npz"):
        check_output(tmp_path / "x.cif", suffixes=(".npz",))


def test_analyze_writes_into_a_missing_folder(tmp_path, monkeypatch, capsys):
    """The README's first command: ``-o out/...npz`` in a folder without ``out/``."""
    monkeypatch.chdir(tmp_path)
    code = main(["analyze", str(LIFEPO4), "--model", "bvse", "--framework", "empty", "--spacing", "1.0",
                 "-o", "out/deeper/lifepo4.npz"])
    assert code == 0, capsys.readouterr().err
    assert "MPE" in capsys.readouterr().out
    maps = ionnet.load_grids(tmp_path / "out" / "deeper" / "lifepo4.npz")
    assert maps[0].metadata["framework"] == "empty" and maps[0].structure is not None


def test_export_refuses_to_overwrite_its_input(tmp_path, monkeypatch, capsys):
    g = tmp_path / "g.npz"
    ionnet.EnergyGrid(cosine_field((4, 4, 4), (0.1, 0.2, 0.3)), np.eye(3) * 3.0).save(g)
    before = g.read_bytes()
    assert main(["export", str(g), "-o", str(g), "--format", "cube"]) == 1
    assert "input" in capsys.readouterr().err and g.read_bytes() == before


def test_export_writes_a_complete_file(tmp_path, capsys):
    g = tmp_path / "g.npz"
    ionnet.EnergyGrid(cosine_field((4, 4, 4), (0.1, 0.2, 0.3)), np.eye(3) * 3.0).save(g)
    assert main(["export", str(g), "-o", str(tmp_path / "new" / "g.cube")]) == 0
    lines = (tmp_path / "new" / "g.cube").read_text().splitlines()
    assert [int(lines[k].split()[0]) for k in (3, 4, 5)] == [4, 4, 4]  # cube header: nodes along a, b, c
    assert sorted(os.listdir(tmp_path / "new")) == ["g.cube"]


def test_rank_csv_is_checked_before_reading(tmp_path, capsys):
    db = tmp_path / "r.sqlite"
    db.write_bytes(b"")
    assert main(["rank", "--db", str(db), "--csv", str(db)]) == 1
    assert "--csv" in capsys.readouterr().err and db.stat().st_size == 0


def _read_grd(path: Path) -> tuple[np.ndarray, list[int], np.ndarray]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("#")
    return (np.array(lines[1].split(), dtype=float), [int(x) for x in lines[2].split()],
            np.array([float(x) for x in lines[3:] if x.strip()]))


def test_grd_export_matches_bvlains_own_writer(tmp_path):
    """The .grd file is the one BVlain writes for the same field: same cell, counts and value at every node.

    BVlain keeps the periodic end point in its arrays ((n+1) nodes an axis) and writes the first n;
    ionnet writes eV above the minimum, so BVlain is given E - E_min.
    """
    bvlain = pytest.importorskip("bvlain.core")
    from types import SimpleNamespace

    from ase.cell import Cell

    from ionnet.export import write_volumetric

    rng = np.random.default_rng(3)
    E = rng.normal(size=(5, 6, 7))
    lattice = np.array([[5.0, 0.0, 0.0], [1.2, 6.0, 0.0], [0.7, -0.4, 7.0]])  # triclinic
    write_volumetric(ionnet.EnergyGrid(E, lattice), tmp_path / "ionnet.grd")
    padded = np.pad(E - E.min(), ((0, 1), (0, 1), (0, 1)), mode="wrap")
    fake = SimpleNamespace(data=padded.ravel(), size=padded.shape, cell=Cell(lattice))
    bvlain.Lain.write_grd(fake, str(tmp_path / "bvlain"), task="bvse")
    cell_i, n_i, v_i = _read_grd(tmp_path / "ionnet.grd")
    cell_b, n_b, v_b = _read_grd(tmp_path / "bvlain.grd")
    np.testing.assert_allclose(cell_i, cell_b, rtol=1e-9)
    assert n_i == n_b == [5, 6, 7]
    np.testing.assert_allclose(v_i, v_b, rtol=1e-9, atol=1e-12)


def test_a_failed_save_after_the_scan_keeps_the_maps_in_a_rescue_file(tmp_path, monkeypatch, capsys):
    """The output was fine before the scan but cannot be written after it: the maps go to a rescue file."""
    import ionnet.grid as grid_module

    real = grid_module._write_npz
    calls = []

    def failing_once(path, **arrays):
        calls.append(os.fspath(path))
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        return real(path, **arrays)

    monkeypatch.setattr(grid_module, "_write_npz", failing_once)
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp_path / "rescue"))
    (tmp_path / "rescue").mkdir()
    out = tmp_path / "out" / "lfp.npz"
    code = main(["scan", str(LIFEPO4), "--model", "bvse", "--framework", "empty", "--spacing", "1.0", "-o", str(out),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "No space left" in err and "saved to" in err
    assert not out.exists()
    (rescued,) = (tmp_path / "rescue").iterdir()
    assert str(rescued) in err
    g = ionnet.load_grids(rescued)
    assert g[0].metadata["framework"] == "empty" and np.isfinite(g[0].energies).any()
