"""Bad inputs end in a clean error: exit code 1 (2 for usage), one line on stderr, no traceback, no file changed.

Each row of ``CASES`` is a command a user could type with something wrong in it (a missing, empty,
truncated or foreign file, an impossible option, an output that would overwrite an input or cannot
be written). The command runs through :func:`ionnet.cli.main`, the command line's one exception
boundary, in a folder of prepared files; afterwards every file of that folder must be byte-for-byte
what it was (nothing overwritten, no database created or changed, no stray temporary file).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import zipfile
from pathlib import Path

import numpy as np
import pytest

import ionnet
from ionnet.cli import main
from ionnet.data import cosine_field

LIFEPO4 = Path(ionnet.__file__).parent / "data" / "LiFePO4.cif"

NACL_CIF = """data_NaCl
_symmetry_space_group_name_H-M   'P 1'
_cell_length_a   5.64
_cell_length_b   5.64
_cell_length_c   5.64
_cell_angle_alpha   90
_cell_angle_beta   90
_cell_angle_gamma   90
_symmetry_Int_Tables_number   1
loop_
 _symmetry_equiv_pos_as_xyz
  'x, y, z'
loop_
 _atom_site_label
 _atom_site_type_symbol
 _atom_site_fract_x
 _atom_site_fract_y
 _atom_site_fract_z
 _atom_site_occupancy
  Na1  Na  0.0  0.0  0.0  1
  Cl1  Cl  0.5  0.5  0.5  1
"""


def _grid(offset: float = -3.0) -> ionnet.EnergyGrid:
    E = cosine_field((12, 10, 8), (0.1, 0.3, 0.5), offset=offset)
    return ionnet.EnergyGrid(E, np.diag([6.0, 5.0, 4.0]), metadata={"ion": "Li", "model": "analytic"})


def _rewrite_member(src: Path, dst: Path, name: str, value: np.ndarray | None) -> None:
    """A copy of the .npz ``src`` with member ``name`` replaced (or removed when ``value`` is None)."""
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if value is None:
        arrays.pop(name)
    else:
        arrays[name] = value
    with open(dst, "wb") as fh:
        np.savez_compressed(fh, **arrays)


def _huge_header(path: Path, shape: tuple[int, int, int]) -> None:
    """A small .npz whose ``energies`` header claims ``shape`` (float64); the data are left out."""
    import io

    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, {"descr": "<f8", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("energies.npy", head.getvalue())  # magic + header, no data
        for name, a in (("lattice", np.eye(3) * 10.0), ("metadata", np.array("{}"))):
            buf = io.BytesIO()
            np.save(buf, a)
            zf.writestr(f"{name}.npy", buf.getvalue())


CKPT_SCAN = ["scan", "LiFePO4.cif", "--model", "bvse", "--framework", "empty", "--spacing", "1.0", "--no-progress"]


def _checkpoints(d: Path) -> None:
    """A real checkpoint of CKPT_SCAN, and damaged copies of it (same key, so only the damage is found)."""
    shutil.copy(LIFEPO4, d / "LiFePO4.cif")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert main([*CKPT_SCAN, "-o", "ckpt_out/x.npz", "--checkpoint", "ckpt_ok.npz"]) == 0
    finally:
        os.chdir(cwd)
    shutil.rmtree(d / "ckpt_out")
    with np.load(d / "ckpt_ok.npz") as z:
        idx = z["idx_0"]
    _rewrite_member(d / "ckpt_ok.npz", d / "ckpt_short.npz", "e_0", np.zeros(max(len(idx) - 3, 0)))
    _rewrite_member(d / "ckpt_ok.npz", d / "ckpt_negative.npz", "idx_0", np.r_[-5, idx[1:]])
    _rewrite_member(d / "ckpt_ok.npz", d / "ckpt_badjson.npz", "structure", np.array("{not json"))
    _rewrite_member(d / "ckpt_ok.npz", d / "ckpt_nokey.npz", "key", None)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    _grid().save(d / "grid.npz")
    ionnet.save_grids([_grid(-3.0), _grid(-2.0)], d / "multi.npz")
    raw = (d / "grid.npz").read_bytes()
    (d / "empty.npz").write_bytes(b"")
    (d / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    (d / "garbage.npz").write_bytes(b"\x1b[2J\x1b]0;pwned\x07\x00\xffnot a zip")
    with zipfile.ZipFile(d / "foreign.npz", "w") as zf:
        zf.writestr("readme.txt", "a zip, but not a grid")
    _rewrite_member(d / "multi.npz", d / "multi_fewmeta.npz", "metadata", np.array(json.dumps([{"ion": "Li"}])))
    _rewrite_member(d / "multi.npz", d / "multi_badjson.npz", "metadata", np.array("{not json"))
    _rewrite_member(d / "multi.npz", d / "multi_metalist.npz", "metadata", np.array(json.dumps([1, 2])))
    _rewrite_member(d / "grid.npz", d / "no_lattice.npz", "lattice", None)
    _rewrite_member(d / "grid.npz", d / "bad_lattice.npz", "lattice", np.zeros((3, 3)))
    _rewrite_member(d / "grid.npz", d / "grid_2d.npz", "energies", np.zeros((4, 4)))
    _rewrite_member(d / "grid.npz", d / "newer.npz", "format_version", np.array(99))
    _rewrite_member(d / "multi.npz", d / "multi_badindex.npz", "structure_index", np.array([0, 7]))
    _huge_header(d / "huge.npz", (3000, 3000, 3000))
    shutil.copy(LIFEPO4, d / "LiFePO4.cif")
    (d / "notcif.cif").write_text("hello, I am not a crystal\n")
    (d / "binary.cif").write_bytes(b"\x00\x01\x02\xff\xfe" * 100)
    (d / "NaCl.cif").write_text(NACL_CIF)
    (d / "folder").mkdir()
    (d / "dir.npz").mkdir()
    (d / "folder" / "a.cif").write_text(NACL_CIF)
    (d / "a_file").write_text("a file where a folder is expected\n")
    (d / "corrupt.sqlite").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    (d / "zero.sqlite").write_bytes(b"")
    (d / "ckpt_garbage.npz").write_bytes(b"PK\x03\x04 broken checkpoint")
    _checkpoints(d)
    (d / "obelix").mkdir()
    (d / "obelix" / "obelix.csv").write_text("foo,bar\n1,2\n")
    (d / "obelix_latin1").mkdir()
    (d / "obelix_latin1" / "obelix.csv").write_bytes("ID,Ionic conductivity (S cm-1)\nx\xe9,1e-3\n".encode("latin-1"))
    return d


def _snapshot(folder: Path) -> dict[str, str]:
    out = {}
    for root, dirs, names in os.walk(folder):
        for n in names + dirs:
            p = Path(root) / n
            rel = str(p.relative_to(folder))
            out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# (id, argv, allowed exit codes, a word the message must contain (case-insensitive) or None)
CASES = [
    # --- grid files
    ("missing-grid", ["analyze", "missing.npz"], {1}, "not found"),
    ("empty-grid", ["analyze", "empty.npz"], {1}, "empty.npz"),
    ("truncated-grid", ["analyze", "truncated.npz"], {1}, "truncated.npz"),
    ("garbage-grid", ["analyze", "garbage.npz"], {1}, "garbage.npz"),
    ("zip-not-grid", ["analyze", "foreign.npz"], {1}, "foreign.npz"),
    ("folder-as-grid", ["analyze", "dir.npz"], {1}, "folder"),
    ("multimap-fewer-metadata", ["analyze", "multi_fewmeta.npz"], {1}, "metadata"),
    ("multimap-bad-json", ["analyze", "multi_badjson.npz"], {1}, "metadata"),
    ("multimap-metadata-not-dicts", ["analyze", "multi_metalist.npz"], {1}, "metadata"),
    ("multimap-bad-structure-index", ["analyze", "multi_badindex.npz"], {1}, "structure_index"),
    ("grid-without-lattice", ["analyze", "no_lattice.npz"], {1}, "no_lattice.npz"),
    ("grid-singular-lattice", ["analyze", "bad_lattice.npz"], {1}, "lattice"),
    ("grid-2d-energies", ["analyze", "grid_2d.npz"], {1}, "shape"),
    ("grid-newer-format", ["analyze", "newer.npz"], {1}, "newer"),
    ("grid-larger-than-memory", ["analyze", "huge.npz"], {1}, "memory"),
    ("export-grid-larger-than-memory", ["export", "huge.npz", "-o", "out/x.cube"], {1}, "memory"),
    ("render-grid-larger-than-memory", ["render", "huge.npz", "-o", "out/x.png"], {1}, "memory"),
    ("render-size-too-large", ["render", "grid.npz", "-o", "out/x.png", "--size", "60000", "60000"], {1}, "size"),
    ("export-truncated", ["export", "truncated.npz", "-o", "out/x.cube"], {1}, None),
    ("plot-garbage", ["plot", "garbage.npz", "-o", "out/x.png"], {1}, None),
    ("transport-empty", ["transport", "empty.npz"], {1}, None),
    # --- options of grid verbs
    ("thresholds-nan", ["analyze", "grid.npz", "--thresholds", "nan"], {1, 2}, "threshold"),
    ("thresholds-text", ["analyze", "grid.npz", "--thresholds", "a,b"], {2}, None),
    ("connectivity-7", ["analyze", "grid.npz", "--connectivity", "7"], {2}, None),
    ("export-map-out-of-range", ["export", "multi.npz", "--map", "5", "-o", "out/x.cube"], {1, 2}, "map"),
    ("export-unknown-extension", ["export", "grid.npz", "-o", "out/x.unknownext"], {1, 2}, None),
    ("export-over-its-input", ["export", "grid.npz", "-o", "grid.npz", "--format", "cube"], {1}, "input"),
    ("export-into-folder", ["export", "grid.npz", "-o", "folder", "--format", "cube"], {1}, "folder"),
    ("export-under-a-file", ["export", "grid.npz", "-o", "a_file/x.cube"], {1}, None),
    ("plot-dpi-0", ["plot", "grid.npz", "-o", "out/x.png", "--dpi", "0"], {1, 2}, "dpi"),
    ("plot-over-its-input", ["plot", "grid.npz", "-o", "grid.npz"], {1, 2}, None),
    ("transport-negative-temperature", ["transport", "grid.npz", "--temperatures", "-5"], {2}, None),
    ("misspelt-verb", ["analyse", "grid.npz"], {2}, "did you mean 'analyze'"),
    ("misspelt-option", ["analyze", "grid.npz", "--conectivity", "6"], {2}, "did you mean '--connectivity'"),
    # --- structures and scan options (each fails before a scan starts)
    ("missing-structure", ["analyze", "missing.cif", "--model", "bvse"], {1}, "not found"),
    ("not-a-cif", ["analyze", "notcif.cif", "--model", "bvse"], {1}, "notcif.cif"),
    ("binary-cif", ["analyze", "binary.cif", "--model", "bvse"], {1}, "binary.cif"),
    ("structure-without-mobile-ion", ["analyze", "NaCl.cif", "--model", "bvse"], {1}, "Li"),
    ("spacing-zero", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "0"], {1, 2}, "spacing"),
    ("spacing-negative", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "-0.2"], {1, 2}, "spacing"),
    ("spacing-nan", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "nan"], {1, 2}, "spacing"),
    ("spacing-tiny", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "1e-300"], {1, 2}, "spacing"),
    ("spacing-too-fine-for-memory", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "0.001"], {1}, "memory"),
    ("spacing-above-cell", ["analyze", "LiFePO4.cif", "--model", "bvse", "--spacing", "5"], {1, 2}, "spacing"),
    ("unknown-model", ["analyze", "LiFePO4.cif", "--model", "bvs"], {1, 2}, "did you mean 'bvse'"),
    ("unknown-ion", ["analyze", "LiFePO4.cif", "--model", "bvse", "--ion", "Lii"], {1, 2}, "ion"),
    ("output-is-the-input", ["analyze", "LiFePO4.cif", "--model", "bvse", "-o", "LiFePO4.cif"], {1}, None),
    ("scan-output-not-npz", ["scan", "LiFePO4.cif", "--model", "bvse", "-o", "out/x.cif"], {1, 2}, ".npz"),
    ("scan-output-under-a-file", ["scan", "LiFePO4.cif", "--model", "bvse", "-o", "a_file/x.npz"], {1}, "a_file"),
    ("scan-output-is-a-folder", ["scan", "LiFePO4.cif", "--model", "bvse", "-o", "folder"], {1}, None),
    ("corrupt-checkpoint", ["scan", "LiFePO4.cif", "--model", "bvse", "--spacing", "1.0", "-o", "out/x.npz",
                            "--checkpoint", "ckpt_garbage.npz"], {1}, "checkpoint"),
    ("checkpoint-length-mismatch", [*CKPT_SCAN, "-o", "out/x.npz", "--checkpoint", "ckpt_short.npz"], {1},
     "checkpoint"),
    ("checkpoint-negative-index", [*CKPT_SCAN, "-o", "out/x.npz", "--checkpoint", "ckpt_negative.npz"], {1},
     "checkpoint"),
    ("checkpoint-bad-json", [*CKPT_SCAN, "-o", "out/x.npz", "--checkpoint", "ckpt_badjson.npz"], {1}, "checkpoint"),
    ("checkpoint-without-key", [*CKPT_SCAN, "-o", "out/x.npz", "--checkpoint", "ckpt_nokey.npz"], {1}, "checkpoint"),
    ("checkpoint-of-another-scan", [*CKPT_SCAN[:-2], "0.9", "--no-progress", "-o", "out/x.npz", "--checkpoint",
                                    "ckpt_ok.npz"], {1}, "different scan"),
    ("shape-too-large", ["analyze", "LiFePO4.cif", "--model", "bvse", "--shape", "5000", "5000", "5000"], {1},
     "memory"),
    # --- screening databases
    ("screen-db-is-folder", ["screen", "folder", "--db", "folder", "--model", "bvse", "--ion", "Na"], {1}, None),
    ("screen-db-under-a-file", ["screen", "folder", "--db", "a_file/r.sqlite", "--model", "bvse", "--ion", "Na"],
     {1}, None),
    ("screen-workers-0", ["screen", "folder", "--db", "new.sqlite", "--workers", "0"], {1, 2}, "workers"),
    ("screen-timeout-0", ["screen", "folder", "--db", "new.sqlite", "--timeout", "0"], {1, 2}, "timeout"),
    ("screen-spacing-0", ["screen", "folder", "--db", "new.sqlite", "--spacing", "0"], {1, 2}, "spacing"),
    ("screen-thresholds-nan", ["screen", "folder", "--db", "new.sqlite", "--thresholds", "nan"], {1, 2}, "threshold"),
    ("screen-unknown-model", ["screen", "folder", "--db", "new.sqlite", "--model", "m3gnt", "--ion", "Na"], {1, 2},
     "m3gnet"),
    ("screen-unknown-ion", ["screen", "folder", "--db", "new.sqlite", "--model", "bvse", "--ion", "Xx"], {1, 2}, "ion"),
    ("screen-save-grids-under-a-file", ["screen", "folder", "--db", "new.sqlite", "--model", "bvse", "--ion", "Na",
                                        "--save-grids", "a_file/grids"], {1}, "--save-grids"),
    ("screen-save-grids-is-a-file", ["screen", "folder", "--db", "new.sqlite", "--model", "bvse", "--ion", "Na",
                                     "--save-grids", "a_file"], {1}, "--save-grids"),
    ("screen-corrupt-db", ["screen", "folder", "--db", "corrupt.sqlite", "--model", "bvse", "--ion", "Na"], {1},
     "corrupt.sqlite"),
    ("screen-output-is-input-cif", ["screen", "folder", "--db", "folder/a.cif", "--model", "bvse", "--ion", "Na"],
     {1}, "a.cif"),
    ("rank-missing-db", ["rank", "--db", "missing.sqlite"], {1}, "missing.sqlite"),
    ("rank-zero-byte-db", ["rank", "--db", "zero.sqlite"], {1}, "zero.sqlite"),
    ("rank-corrupt-db", ["rank", "--db", "corrupt.sqlite"], {1}, "corrupt.sqlite"),
    ("rank-db-is-folder", ["rank", "--db", "folder"], {1}, None),
    ("rank-top-negative", ["rank", "--db", "zero.sqlite", "--top", "-1"], {1, 2}, None),
    # --- validation inputs
    ("validate-missing-data", ["validate", "--data", "nowhere", "--db", "v.sqlite", "--out", "vout"], {1}, None),
    ("validate-csv-without-columns", ["validate", "--data", "obelix", "--db", "v.sqlite", "--out", "vout"], {1},
     "column"),
    ("validate-csv-not-utf8", ["validate", "--data", "obelix_latin1", "--db", "v.sqlite", "--out", "vout"], {1},
     "UTF-8"),
]


@pytest.mark.parametrize("argv, codes, word", [pytest.param(a, c, w, id=i) for i, a, c, w in CASES])
def test_bad_input_is_one_clean_line(argv, codes, word, files, capsys, monkeypatch):
    monkeypatch.chdir(files)
    monkeypatch.delenv("IONNET_DEBUG", raising=False)
    before = _snapshot(files)
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse usage errors
        code = e.code
    err = capsys.readouterr().err
    assert code in codes, f"exit {code}, stderr: {err!r}"
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert "Traceback" not in err
    assert lines[0].startswith("ionnet"), lines[0]
    assert all(c.isprintable() for c in lines[0]), repr(lines[0])
    if word:
        assert word.lower() in lines[0].lower(), lines[0]
    after = _snapshot(files)
    changed = {k for k in before.keys() & after.keys() if before[k] != after[k]}
    assert not changed, f"files changed: {sorted(changed)}"
    new = set(after) - set(before)
    assert not new - {"out"}, f"files created: {sorted(new)}"  # an output folder may be made, never a file in it
    if "out" in new:
        assert not os.listdir(files / "out")
        (files / "out").rmdir()


def test_debug_shows_the_traceback(files, monkeypatch, capsys):
    """``--debug`` (or IONNET_DEBUG=1) lets the exception through for a traceback."""
    monkeypatch.chdir(files)
    with pytest.raises(ionnet.errors.GridError, match="not found"):
        main(["analyze", "missing.npz", "--debug"])
    monkeypatch.setenv("IONNET_DEBUG", "1")
    with pytest.raises(ionnet.errors.GridError):
        main(["analyze", "missing.npz"])


def test_zero_byte_database_is_not_turned_into_one(files, monkeypatch, capsys):
    monkeypatch.chdir(files)
    main(["rank", "--db", "zero.sqlite"])
    assert (files / "zero.sqlite").stat().st_size == 0
    with pytest.raises(sqlite3.DatabaseError):
        sqlite3.connect(files / "corrupt.sqlite").execute("select * from sqlite_master").fetchall()


def test_screen_stores_a_file_name_that_is_not_utf8(tmp_path, monkeypatch, capsys):
    """A non-UTF-8 file name is stored (as \\xNN) instead of aborting the batch; a rerun skips it."""
    monkeypatch.chdir(tmp_path)
    os.makedirs(b"cifs")
    shutil.copy(LIFEPO4, b"cifs/\xff\xfeLFP.cif")
    argv = ["screen", "cifs", "--db", "r.sqlite", "--model", "bvse", "--framework", "empty", "--spacing", "1.0",
            "--no-progress", "--json"]
    assert main(argv) == 0, capsys.readouterr().err
    first = json.loads(capsys.readouterr().out)
    assert (first["n_ok"], first["n_failed"]) == (1, 0)
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out)["n_skipped"] == 1
    rows = sqlite3.connect("r.sqlite").execute("SELECT structure_id, status FROM results").fetchall()
    assert rows == [("\\xff\\xfeLFP", "ok")]


def test_m3gnet_by_name_offline_is_one_clean_line(files, monkeypatch, capsys):
    """No IONNET_M3GNET_PATH, nothing in matgl's cache, no network: one line naming the alternatives."""
    pytest.importorskip("matgl")
    import ionnet.potentials.m3gnet as m3

    monkeypatch.chdir(files)
    monkeypatch.delenv("IONNET_M3GNET_PATH", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(m3, "_matgl_cached_dir", lambda name: None)
    before = _snapshot(files)
    assert main(["analyze", "LiFePO4.cif", "--model", "m3gnet", "--framework", "empty"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "IONNET_M3GNET_PATH" in err or "network" in err
    assert _snapshot(files) == before


def test_obelix_ids_never_name_a_path_outside_the_data_folder(tmp_path):
    """An id such as ``../victim`` or ``/abs/path`` is a file name inside ``cifs/``, never a path elsewhere."""
    from ionnet.validation.datasets import load_obelix

    data = tmp_path / "obelix"
    (data / "cifs").mkdir(parents=True)
    (data / "victim.cif").write_text(NACL_CIF)  # what ../victim would reach
    (data / "cifs" / "ok1.cif").write_text(NACL_CIF)
    (data / "obelix.csv").write_text(
        "id,ionic_conductivity_S_cm,has_cif\n"
        f"../victim,1e-3,True\n{tmp_path / 'victim'},1e-3,True\nok1,1e-3,True\n")
    cifs = [e.cif for e in load_obelix(data)]
    assert cifs == [None, None, str(data / "cifs" / "ok1.cif")]


@pytest.mark.parametrize("exc, code", [
    (RuntimeError("boom\x1b[2J\nsecond line"), 1), (KeyError("x"), 1), (ZeroDivisionError(), 1),
    (PermissionError(13, "Permission denied", "/some/file"), 1), (MemoryError(), 1), (KeyboardInterrupt(), 130),
])
def test_any_unexpected_error_is_one_clean_line(exc, code, monkeypatch, capsys):
    """The boundary turns even an error ionnet did not foresee into one printable line (and Ctrl-C into 130)."""
    import ionnet.commands.rank as rank_cmd

    def boom(args):
        raise exc

    monkeypatch.setattr(rank_cmd, "run", boom)
    monkeypatch.delenv("IONNET_DEBUG", raising=False)
    assert main(["rank", "--db", "x.sqlite"]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert all(c.isprintable() for c in err.rstrip("\n"))
    if isinstance(exc, RuntimeError):
        assert "RuntimeError: boom" in err and "--debug" in err
    if isinstance(exc, PermissionError):
        assert "/some/file" in err and "Permission denied" in err
