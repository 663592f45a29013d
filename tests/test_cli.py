"""The command line, called as a user would: real subprocesses, exit codes, JSON output."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import ionnet

pytestmark = pytest.mark.slow  # real subprocesses
from ionnet.data import cosine_field


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "ionnet.cli", *map(str, args)], capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def grid_file(tmp_path_factory):
    E = cosine_field((12, 10, 8), (0.1, 0.3, 0.5), offset=-3.0)
    path = tmp_path_factory.mktemp("cli") / "g.npz"
    ionnet.EnergyGrid(E, np.diag([6.0, 5.0, 4.0]), metadata={"ion": "Li", "model": "analytic"}).save(path)
    return path


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"ionnet {ionnet.__version__}"
    for verb in ("analyze", "scan"):
        h = run(verb, "--help")
        assert h.returncode == 0 and "example" in h.stdout.lower()


def test_analyze_json_has_documented_keys(grid_file):
    r = run("analyze", grid_file, "--json", "--thresholds", "0.5,0.9")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert set(d) >= {"e_min", "mpe", "percolation_energy", "percolation_directions", "free_volume",
                      "grid_shape", "source_frac", "model", "ion"}
    assert d["e_min"] == pytest.approx(-3.9)
    assert d["mpe"] == pytest.approx(0.2)
    assert d["percolation_energy"] == pytest.approx({"1d": 0.2, "2d": 0.6, "3d": 1.0})
    assert d["percolation_directions"]["1d"] == [[1, 0, 0]]
    assert set(d["free_volume"]) == {"0.5", "0.9"}
    assert d["grid_shape"] == [12, 10, 8] and d["ion"] == "Li" and d["model"] == "analytic"


def test_analyze_human_summary(grid_file):
    r = run("analyze", grid_file, "--connectivity", "26")
    assert r.returncode == 0
    assert "MPE (1D)" in r.stdout and "0.2000 eV" in r.stdout and "FV(0.9 eV)" in r.stdout


def test_missing_file_is_one_line_exit_1(tmp_path):
    r = run("analyze", tmp_path / "missing.npz")
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr and "not found" in r.stderr


def test_corrupt_file_is_one_line_exit_1(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"\x00garbage")
    r = run("analyze", bad)
    assert r.returncode == 1 and "Traceback" not in r.stderr and r.stderr.startswith("ionnet: error:")


def test_usage_error_exit_2(grid_file):
    assert run("analyze", grid_file, "--connectivity", "7").returncode == 2
    assert run("no-such-verb").returncode == 2
    assert run().returncode == 2
    r = run("analyze", grid_file, "--thresholds", "a,b")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_verbose_shows_traceback(tmp_path):
    r = run("-v", "analyze", tmp_path / "missing.npz")
    assert r.returncode != 0 and "Traceback" in r.stderr
