"""ionnet.screen / ``ionnet screen`` / ``ionnet rank``: crash safety, failures, pools, dask, ranking.

The structures here are tiny text files read by :func:`analytic_task`, a
stand-in for ``ionnet.scan`` that turns a file into an analytic energy grid:
``E = a (cos 2πx + 2 cos 2πy + 3 cos 2πz)`` on an 8x8x8 grid, whose MPE is
``2a`` (along a), 2D threshold ``4a`` and 3D threshold ``6a`` (exact).  The
same function runs in process pools, dask workers and CLI subprocesses,
selected as ``"<this file>:analytic_task"``.
"""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from ionnet import BackendUnavailableError, EnergyGrid, ModelError, StructureError
from ionnet.data import cosine_field

HERE = os.path.abspath(__file__)
TASK = f"{HERE}:analytic_task"
REPO = os.path.dirname(os.path.dirname(HERE))


# ------------------------------------------------------------------ test task
def _params(path: str) -> dict:
    out = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 2:
                out[parts[0]] = parts[1]
    return out


def analytic_task(path: str, settings: dict):
    """Analytic stand-in for ionnet.scan: amplitude, delay and failure modes come from the file."""
    p = _params(path)
    if "broken" in p:
        raise StructureError(f"cannot parse {os.path.basename(path)}: not a structure")
    if os.path.exists(path + ".fail"):  # transient failure, for --retry-failed
        raise ModelError("model cannot evaluate this structure (transient)")
    if "crash" in p:
        1 / 0
    if "swallow" in p:  # a task that wraps every exception, the timeout included
        try:
            time.sleep(30)
        except Exception as e:
            raise StructureError(f"wrapped: {e}") from None
    if "nobackend" in p:
        raise BackendUnavailableError("pip install the-model")
    time.sleep(float(p.get("delay", 0)))
    a = float(p["amplitude"])
    E = cosine_field((8, 8, 8), (a, 2 * a, 3 * a))
    if "pocket" in p:  # nothing percolates: one low pocket, the rest forbidden
        E = np.full((8, 8, 8), np.inf)
        E[3:5, 3:5, 3:5] = 0.0
    return EnergyGrid(E, np.eye(3) * 4.0, metadata={"formula": p.get("formula", "X")})


def _write(folder, name, **params) -> str:
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        f.write("# ionnet test structure\n")
        for k, v in params.items():
            f.write(f"{k} {v}\n")
    return path


@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "structs"
    d.mkdir()
    for i, a in enumerate([0.30, 0.10, 0.25, 0.05, 0.40, 0.15]):
        _write(d, f"s{i}.cif", amplitude=a, formula=f"Li{i}X")
    return d


def _rows(db):
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT structure_key, structure_id, status, attempts, created_at, mpe "
                           "FROM results ORDER BY structure_id").fetchall()
    finally:
        con.close()


def _cli(args, **kw):
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "ionnet.cli", *args], capture_output=True, text=True, env=env,
                          timeout=120, **kw)


# ----------------------------------------------------------------- library
def test_screen_stores_exact_descriptors(folder, tmp_path):
    from ionnet.screening import read_results, screen

    db = tmp_path / "r.sqlite"
    s = screen(folder, db, model="toy", task=TASK)
    assert (s.n_inputs, s.n_ok, s.n_failed, s.n_skipped) == (6, 6, 0, 0)
    rows = {r["structure_id"]: r for r in read_results(db)}
    for i, a in enumerate([0.30, 0.10, 0.25, 0.05, 0.40, 0.15]):
        r = rows[f"s{i}"]
        assert r["mpe"] == pytest.approx(2 * a, abs=1e-12)
        assert r["e2d"] == pytest.approx(4 * a, abs=1e-12)
        assert r["e3d"] == pytest.approx(6 * a, abs=1e-12)
        assert r["formula"] == f"Li{i}X"
        assert r["status"] == "ok" and r["error"] is None
        assert len(r["fv_curve"]) == 301  # FV(t), t = 0..3 eV; E spans 12a, so FV(3 eV) = 1 iff 12a <= 3
        assert (r["fv_curve"][-1] == 1.0) == (12 * a <= 3.0)
        assert r["ionnet_version"] and r["t_total_s"] >= 0
    # WAL mode, one row per structure
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    con.close()


def test_rerun_skips_everything(folder, tmp_path):
    from ionnet.screening import screen

    db = tmp_path / "r.sqlite"
    screen(folder, db, model="toy", task=TASK)
    before = _rows(db)
    s = screen(folder, db, model="toy", task=TASK)
    assert (s.n_skipped, s.n_ok, s.n_failed) == (6, 0, 0)
    assert _rows(db) == before
    # other settings are a different row set
    s = screen(folder, db, model="toy", task=TASK, spacing=0.3)
    assert s.n_ok == 6 and len(_rows(db)) == 12


def test_failures_are_recorded_and_batch_continues(folder, tmp_path):
    from ionnet.screening import read_results, screen

    _write(folder, "bad.cif", broken=1)
    _write(folder, "zdiv.cif", crash=1)
    (folder / "notes.txt").write_text("not a structure file, ignored\n")
    db = tmp_path / "r.sqlite"
    s = screen(folder, db, model="toy", task=TASK)
    assert (s.n_inputs, s.n_ok, s.n_failed) == (8, 6, 2)
    failed = {r["structure_id"]: r for r in read_results(db, status="failed")}
    assert set(failed) == {"bad", "zdiv"}
    assert failed["bad"]["error_type"] == "StructureError"
    assert "not a structure" in failed["bad"]["error"]
    assert failed["zdiv"]["error_type"] == "ZeroDivisionError"
    assert "test_screen.py" in failed["zdiv"]["error"]  # where an unexpected error happened
    assert failed["bad"]["mpe"] is None
    assert len(read_results(db, status="ok")) == 6


def test_missing_file_in_csv_is_a_failed_row(folder, tmp_path):
    from ionnet.screening import read_results, screen

    csv_path = tmp_path / "list.csv"
    csv_path.write_text("name,file\nA,structs/s0.cif\nB,structs/s1.cif\nC,structs/nope.cif\n")
    db = tmp_path / "r.sqlite"
    s = screen(csv_path, db, model="toy", task=TASK, path_column="file", id_column="name")
    assert (s.n_ok, s.n_failed) == (2, 1)
    assert {r["structure_id"] for r in read_results(db)} == {"A", "B"}
    (bad,) = read_results(db, status="failed")
    assert bad["structure_id"] == "C" and "not found" in bad["error"]
    with pytest.raises(StructureError, match="no column 'path'"):
        screen(csv_path, db, model="toy", task=TASK)


def test_retry_failed(folder, tmp_path):
    from ionnet.screening import read_results, screen

    flag = folder / "s2.cif.fail"
    flag.write_text("")
    db = tmp_path / "r.sqlite"
    s = screen(folder, db, model="toy", task=TASK)
    assert (s.n_ok, s.n_failed) == (5, 1)
    flag.unlink()
    s = screen(folder, db, model="toy", task=TASK)  # failed rows are skipped by default
    assert (s.n_skipped, s.n_ok, s.n_failed) == (6, 0, 0)
    s = screen(folder, db, model="toy", task=TASK, retry_failed=True)
    assert (s.n_skipped, s.n_ok, s.n_failed) == (5, 1, 0)
    rows = read_results(db, status=None)
    assert len(rows) == 6 and all(r["status"] == "ok" for r in rows)
    (s2,) = [r for r in rows if r["structure_id"] == "s2"]
    assert s2["attempts"] == 2 and s2["error"] is None and s2["mpe"] == pytest.approx(0.5)


@pytest.mark.parametrize("workers", [1, pytest.param(2, marks=pytest.mark.slow)])
def test_timeout_is_a_failed_row(folder, tmp_path, workers):
    from ionnet.screening import read_results, screen

    _write(folder, "slow.cif", amplitude=0.2, delay=30)
    t0 = time.time()
    s = screen(folder, tmp_path / "r.sqlite", model="toy", task=TASK, timeout_s=1.0, workers=workers)
    assert time.time() - t0 < 20
    assert (s.n_ok, s.n_failed) == (6, 1)
    (row,) = read_results(tmp_path / "r.sqlite", status="failed")
    assert row["structure_id"] == "slow" and row["error_type"] == "TaskTimeout" and "1 s" in row["error"]


def test_timeout_wrapped_by_the_task_is_still_a_timeout(folder, tmp_path):
    from ionnet.screening import read_results, screen

    _write(folder, "wrap.cif", amplitude=0.2, swallow=1)
    s = screen(folder, tmp_path / "r.sqlite", model="toy", task=TASK, timeout_s=0.5)
    assert (s.n_ok, s.n_failed) == (6, 1)
    (row,) = read_results(tmp_path / "r.sqlite", status="failed")
    assert row["error_type"] == "TaskTimeout" and "wrapped" in row["error"]


@pytest.mark.parametrize(
    "species, occupancy, expected",
    [
        # Li-deficient refinement of a garnet: the framework keeps La3+, Zr4+, O2- (Li7La3Zr2O12)
        (["La", "La", "La", "Zr", "Zr"] + ["O"] * 12, 4.47, {"La": 3.0, "Zr": 4.0, "O": -2.0, "Li": 1.0}),
        (["P"] + ["S"] * 4, 3.0, {"P": 5.0, "S": -2.0, "Li": 1.0}),  # Li3PS4
        (["P"] + ["S"] * 5 + ["Cl"], 6.0, {"P": 5.0, "S": -2.0, "Cl": -1.0, "Li": 1.0}),  # Li6PS5Cl
    ],
)
def test_oxidation_states_of_the_whole_structure(tmp_path, species, occupancy, expected):
    pytest.importorskip("pymatgen")
    from pymatgen.core import Lattice, Structure

    from ionnet.io import read_structure
    from ionnet.potentials.bvse import structure_oxidation_states

    rng = np.random.default_rng(0)
    n_li = int(np.ceil(occupancy))
    li = [{"Li": occupancy / n_li}] * n_li
    s = Structure(Lattice.cubic(12.0), li + species, rng.random((n_li + len(species), 3)))
    path = tmp_path / "s.json"
    s.to(filename=str(path))
    assert structure_oxidation_states(read_structure(path)) == expected


def test_bvse_empty_framework_uses_charges_of_the_whole_structure(tmp_path):
    pytest.importorskip("pymatgen")
    bvse = pytest.importorskip("ionnet.potentials.bvse")
    from ionnet.io import example_structure

    pot = bvse.BVSEPotential()
    s = example_structure("LiFePO4")
    per = pot.for_structure(s, ion="Li", framework="empty")
    assert per is not pot and per.oxidation_states == {"Fe": 2.0, "P": 5.0, "O": -2.0, "Li": 1.0}
    assert pot.for_structure(s, ion="Li", framework="occupied").oxidation_states == per.oxidation_states
    fixed = bvse.BVSEPotential(oxidation_states={"Li": 1, "Fe": 2, "P": 5, "O": -2})
    assert fixed.for_structure(s, ion="Li", framework="empty") is fixed


def test_unavailable_model_stops_the_batch(folder, tmp_path):
    from ionnet.screening import read_results, screen

    _write(folder, "a0.cif", nobackend=1)  # sorts first
    db = tmp_path / "r.sqlite"
    with pytest.raises(BackendUnavailableError, match="unavailable"):
        screen(folder, db, model="toy", task=TASK)
    assert read_results(db, status=None) == []  # not recorded as a structure failure


def test_duplicate_files_are_screened_once(folder, tmp_path):
    from ionnet.screening import screen

    (folder / "copy_of_s0.cif").write_bytes((folder / "s0.cif").read_bytes())
    s = screen(folder, tmp_path / "r.sqlite", model="toy", task=TASK)
    assert (s.n_inputs, s.n_unique, s.n_ok) == (7, 6, 6)


def test_bad_settings_raise(folder, tmp_path):
    from ionnet.screening import screen

    db = tmp_path / "r.sqlite"
    with pytest.raises(ValueError, match="`workers` must be >= 1"):
        screen(folder, db, workers=0, task=TASK)
    with pytest.raises(ValueError, match="`framework`"):
        screen(folder, db, framework="full", task=TASK)
    with pytest.raises(ValueError, match="`spacing` must be > 0"):
        screen(folder, db, spacing=-1, task=TASK)
    with pytest.raises(StructureError, match="matches no file"):
        screen(str(folder / "*.poscar"), db, task=TASK)
    with pytest.raises(ValueError, match="no function"):
        screen(folder, db, task=f"{HERE}:no_such_function")


def test_save_grids(folder, tmp_path):
    from ionnet.screening import read_results, screen

    db = tmp_path / "r.sqlite"
    screen(folder, db, model="toy", task=TASK, save_grids=tmp_path / "grids")
    rows = read_results(db)
    assert all(os.path.exists(r["grid_file"]) for r in rows)
    g = EnergyGrid.load(rows[0]["grid_file"])
    assert g.shape == (8, 8, 8)


# ------------------------------------------------------ pools, dask, SIGKILL
def _descriptor_table(db):
    from ionnet.screening import read_results

    return sorted((r["structure_key"], r["structure_id"], r["status"], r["mpe"], r["e3d"], r["xi"], r["fvc"],
                   json.dumps(r["fv_curve"])) for r in read_results(db, status=None))


@pytest.mark.slow
def test_pool_and_dask_give_the_same_rows(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    from ionnet.screening import screen

    _write(folder, "bad.cif", broken=1)
    s1 = screen(folder, tmp_path / "serial.sqlite", model="toy", task=TASK)
    s2 = screen(folder, tmp_path / "pool.sqlite", model="toy", task=TASK, workers=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        s3 = screen(folder, tmp_path / "dask.sqlite", model="toy", task=TASK, dask_address=cluster)
    assert (s1.n_ok, s1.n_failed) == (s2.n_ok, s2.n_failed) == (s3.n_ok, s3.n_failed) == (6, 1)
    t1 = _descriptor_table(tmp_path / "serial.sqlite")
    assert t1 == _descriptor_table(tmp_path / "pool.sqlite") == _descriptor_table(tmp_path / "dask.sqlite")


@pytest.mark.slow
def test_sigkill_then_rerun_loses_nothing_and_duplicates_nothing(tmp_path):
    d = tmp_path / "structs"
    d.mkdir()
    n = 12
    for i in range(n):
        _write(d, f"k{i:02d}.cif", amplitude=0.05 + 0.03 * i, delay=0.25)
    db = str(tmp_path / "r.sqlite")
    args = ["screen", str(d), "--db", db, "--model", "toy", "--task", TASK, "--workers", "2", "--no-progress"]
    env = dict(os.environ, PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    kills = 0
    for wait_rows, group in ((2, False), (6, True)):  # kill twice, at different points of the run
        proc = subprocess.Popen([sys.executable, "-m", "ionnet.cli", *args], env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            t0 = time.time()
            while time.time() - t0 < 60:
                if os.path.exists(db) and proc.poll() is None:
                    try:
                        got = len(_rows(db))
                    except sqlite3.OperationalError:
                        got = 0
                    if got >= wait_rows:
                        break
                time.sleep(0.05)
            if proc.poll() is None:
                if group:
                    os.killpg(proc.pid, signal.SIGKILL)  # parent and its workers, at once
                else:
                    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must notice and exit
                kills += 1
        finally:
            proc.wait(timeout=30)
        t0 = time.time()
        while time.time() - t0 < 15:  # no orphaned workers keep computing
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.2)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("pool workers outlived the killed screen process")
        rows = _rows(db)
        assert len(rows) < n  # it really was interrupted
        assert len({r[0] for r in rows}) == len(rows)
    assert kills == 2
    before = {r[0]: r for r in _rows(db)}
    res = _cli(args)
    assert res.returncode == 0, res.stderr
    rows = _rows(db)
    assert len(rows) == n
    assert len({r[0] for r in rows}) == n  # no duplicates
    assert all(r[2] == "ok" and r[3] == 1 for r in rows)  # each computed and stored exactly once
    for key, r in before.items():  # rows stored before the kills were not recomputed
        assert dict((x[0], x) for x in rows)[key] == r
    assert f"{n - len(before)} ok" in res.stdout


# ------------------------------------------------------------------ ranking
@pytest.fixture
def ranked_db(folder, tmp_path):
    from ionnet.screening import screen

    _write(folder, "pocket.cif", amplitude=0.1, pocket=1)
    db = tmp_path / "r.sqlite"
    screen(folder, db, model="toy", task=TASK, thresholds=(0.5, 0.9))
    return db


@pytest.mark.parametrize(
    "by, expected",
    [
        ("mpe", ["s3", "s1", "s5", "s2", "s0", "s4", "pocket"]),  # 2a ascending, never-percolating last
        ("e3d", ["s3", "s1", "s5", "s2", "s0", "s4", "pocket"]),
        ("xi", None),
        ("fv", None),
    ],
)
def test_rank_order(ranked_db, by, expected):
    from ionnet.screening import rank

    rows = rank(ranked_db, by=by, top=None)
    ids = [r["structure_id"] for r in rows]
    assert [r["rank"] for r in rows] == list(range(1, 8))
    if expected is not None:
        assert ids == expected
        assert rows[-1]["value"] is None
    else:  # descending, monotone
        vals = [r["value"] for r in rows]
        assert vals == sorted(vals, reverse=True)


def test_rank_fv_threshold_exact_and_from_curve(ranked_db):
    from ionnet.screening import rank

    exact = {r["structure_id"]: r["fv"] for r in rank(ranked_db, by="fv", fv_threshold=0.9, top=None)}
    curve = {r["structure_id"]: r["fv"] for r in rank(ranked_db, by="fv", fv_threshold=0.7, top=None)}
    # the pocket's 8 nodes of 512 sit at 0 eV: FV = 1/64 at every threshold >= 0
    assert exact["pocket"] == curve["pocket"] == pytest.approx(8 / 512)
    # s3 (a = 0.05): E spans 12a = 0.6 eV, so everything is below 0.7 eV
    assert curve["s3"] == 1.0
    top2 = rank(ranked_db, by="mpe", top=2)
    assert [r["structure_id"] for r in top2] == ["s3", "s1"]
    with pytest.raises(ValueError, match="`by` must be one of"):
        rank(ranked_db, by="speed")


@pytest.mark.slow
def test_rank_cli_table_and_csv(ranked_db, tmp_path):
    out_csv = tmp_path / "top.csv"
    res = _cli(["rank", "--db", str(ranked_db), "--by", "mpe", "--top", "3", "--csv", str(out_csv)])
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["rank", "id"] and len(lines) == 2 + 3
    assert lines[2].split()[1] == "s3"
    import csv

    rows = list(csv.DictReader(open(out_csv)))
    assert [r["structure_id"] for r in rows] == ["s3", "s1", "s5"]
    assert float(rows[0]["mpe"]) == pytest.approx(0.1)
    res = _cli(["rank", "--db", str(ranked_db), "--by", "xi", "--top", "0", "--json"])
    assert len(json.loads(res.stdout)) == 7
    res = _cli(["rank", "--db", str(tmp_path / "missing.sqlite")])
    assert res.returncode == 1 and "not found" in res.stderr


@pytest.mark.slow
def test_screen_cli_summary_json(folder, tmp_path):
    res = _cli(["screen", str(folder), "--db", str(tmp_path / "r.sqlite"), "--model", "toy", "--task", TASK,
                "--no-progress", "--json"])
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert (d["n_ok"], d["n_failed"], d["n_inputs"]) == (6, 0, 6)
    res = _cli(["screen", str(tmp_path / "nothing_here"), "--db", str(tmp_path / "r.sqlite"), "--task", TASK])
    assert res.returncode == 1 and res.stderr.startswith("ionnet: error:")
