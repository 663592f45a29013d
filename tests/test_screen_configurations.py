"""Screening rows of structures ordered into several configurations; the transport columns; schema upgrade.

The task here is an analytic stand-in for ``ionnet.scan(order=True,
n_configurations=k)``: a file lists ``k`` amplitudes, and configuration ``j``
is ``E = a_j (cos 2πx + 2 cos 2πy + 3 cos 2πz)`` on an 8x8x8 grid, whose MPE
is exactly ``2 a_j``.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest

import ionnet
from ionnet import EnergyGrid, ScanResult
from ionnet.data import cosine_field
from ionnet.descriptors import transport_descriptors
from ionnet.errors import ScreenError
from ionnet.screening import rank, read_results, screen
from ionnet.screening.aggregate import combine
from ionnet.screening.store import SCHEMA_VERSION, connect, read_configurations

HERE = os.path.abspath(__file__)
TASK = f"{HERE}:configurations_task"
REPO = os.path.dirname(os.path.dirname(HERE))
N_LI = 4.0   # mobile ions per cell, recorded as the scan does (metadata n_mobile)


def _maps(amplitudes: list[float]) -> ScanResult:
    maps = []
    for k, a in enumerate(amplitudes):
        E = cosine_field((8, 8, 8), (a, 2 * a, 3 * a))
        maps.append(EnergyGrid(E, np.eye(3) * 4.0, metadata={
            "configuration": k, "n_configurations": len(amplitudes), "framework": "empty", "ion": "Li",
            "n_mobile": N_LI, "formula": "X"}))
    return ScanResult(maps)


def configurations_task(path: str, settings: dict) -> ScanResult:
    """Amplitudes (eV) of the configurations, comma-separated, on the file's only line."""
    with open(path) as f:
        return _maps([float(x) for x in f.read().split(",")])


@pytest.fixture
def db(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    for name, amps in {"three": "0.10,0.20,0.15", "one": "0.05", "two": "0.30,0.26"}.items():
        (folder / f"{name}.cif").write_text(amps)
    path = str(tmp_path / "r.sqlite")
    s = screen(str(folder), path, model="toy", task=TASK)
    assert s.n_ok == 3 and s.n_failed == 0
    return path


def test_rows_hold_the_mean_and_spread_and_each_configuration(db):
    rows = {r["structure_id"]: r for r in read_results(db)}
    r = rows["three"]
    mpe = 2 * np.array([0.10, 0.20, 0.15])
    assert r["n_configurations"] == 3
    assert r["mpe"] == pytest.approx(mpe.mean(), abs=1e-9)
    assert r["spread"]["mpe"] == pytest.approx(np.std(mpe, ddof=1), abs=1e-9)
    assert r["descriptors"]["e3d"] == pytest.approx(6 * 0.15, abs=1e-9)
    per = read_configurations(db, r["structure_key"], model="toy", ion="Li", settings_hash=r["settings_hash"])
    assert [c["configuration"] for c in per] == [0, 1, 2]
    assert [c["mpe"] for c in per] == pytest.approx(list(mpe), abs=1e-9)
    # the transport columns are those of ionnet.transport on each configuration, averaged
    direct = [transport_descriptors(ionnet.analyze(m)) for m in _maps([0.10, 0.20, 0.15])]
    assert r["ea"] == pytest.approx(np.mean([d["ea"] for d in direct]), rel=1e-9)
    assert r["log10_sigma_300"] == pytest.approx(np.mean([d["log10_sigma_300"] for d in direct]), rel=1e-9)
    assert [c["ea"] for c in per] == pytest.approx([d["ea"] for d in direct], rel=1e-9)
    # one configuration: no spread, no per-configuration rows
    one = rows["one"]
    assert one["n_configurations"] == 1 and one["spread"] is None
    assert read_configurations(db, one["structure_key"], model="toy", ion="Li", settings_hash=one["settings_hash"]) == []


def test_transport_columns_follow_the_barrier():
    """Ea of the cosine field tends to its MPE (2a); σ(300 K) falls with the barrier; no carriers: no σ."""
    lo, hi = (transport_descriptors(ionnet.analyze(m)) for m in _maps([0.10, 0.20]))
    assert lo["ea"] == pytest.approx(0.2, abs=0.03) and hi["ea"] == pytest.approx(0.4, abs=0.03)
    assert lo["log10_sigma_300"] > hi["log10_sigma_300"] + 2
    assert lo["carrier_density_cm3"] == pytest.approx(N_LI / 64e-24)
    bare = ionnet.analyze(cosine_field((8, 8, 8), (0.1, 0.2, 0.3)), lattice=np.eye(3) * 4.0)
    assert transport_descriptors(bare)["log10_sigma_300"] is None


@pytest.mark.parametrize("by, expected", [
    ("mpe", ["one", "three", "two"]),     # 0.10, 0.30, 0.56
    ("ea", ["one", "three", "two"]),
    ("sigma", ["one", "three", "two"]),   # highest log10 sigma first
])
def test_rank_shows_mean_and_spread(db, by, expected):
    rows = rank(db, by=by, top=None)
    assert [r["structure_id"] for r in rows] == expected
    spread = {r["structure_id"]: r["value_spread"] for r in rows}
    assert spread["one"] is None and spread["three"] > 0 and spread["two"] > 0
    if by == "mpe":
        assert spread["two"] == pytest.approx(np.std([0.60, 0.52], ddof=1), abs=1e-9)


@pytest.mark.slow
def test_rank_cli_prints_mean_plus_minus_spread(db):
    out = subprocess.run([sys.executable, "-m", "ionnet.cli", "rank", "--db", db, "--by", "mpe"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO}, check=True).stdout
    line = next(x for x in out.splitlines() if " three " in x)
    assert "0.300±0.100" in line


def test_combine_mean_spread_and_infinities():
    r = combine([{"mpe": 0.2, "ea": 0.3, "log10_sigma_300": -3.0, "grid_shape": [8, 8, 8]},
                 {"mpe": 0.4, "ea": None, "log10_sigma_300": None, "grid_shape": [8, 8, 8]}])
    assert r["mpe"] == pytest.approx(0.3) and r["spread"]["mpe"] == pytest.approx(np.sqrt(0.02))
    assert r["ea"] is None and r["spread"]["ea"] is None            # one never percolates: +inf
    assert r["log10_sigma_300"] is None and r["grid_shape"] == [8, 8, 8]
    with pytest.raises(ValueError, match="at least one"):
        combine([])


_V1_SCHEMA = """
CREATE TABLE results (
    id INTEGER PRIMARY KEY AUTOINCREMENT, structure_key TEXT NOT NULL, structure_id TEXT, path TEXT, formula TEXT,
    model TEXT NOT NULL, ion TEXT NOT NULL, settings_hash TEXT NOT NULL, settings TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')), error_type TEXT, error TEXT,
    mpe REAL, e2d REAL, e3d REAL, fvc REAL, fvd REAL, xi REAL, xi_cell REAL, e_min REAL,
    n_sites INTEGER, n_maps INTEGER, grid_shape TEXT, descriptors TEXT, fv_curve TEXT, grid_file TEXT,
    t_scan_s REAL, t_analysis_s REAL, t_total_s REAL, worker TEXT, ionnet_version TEXT,
    attempts INTEGER NOT NULL DEFAULT 1, created_at TEXT, updated_at TEXT,
    UNIQUE (structure_key, model, ion, settings_hash));
CREATE TABLE ionnet_meta (key TEXT PRIMARY KEY, value TEXT);
INSERT INTO ionnet_meta VALUES ('schema_version', '1');
INSERT INTO results (structure_key, structure_id, model, ion, settings_hash, status, mpe, descriptors)
    VALUES ('k1', 'old', 'toy', 'Li', 'h', 'ok', 0.42, '{"mpe": 0.42}');
"""


def test_schema_1_database_stays_readable_and_is_upgraded(tmp_path):
    path = str(tmp_path / "v1.sqlite")
    con = sqlite3.connect(path)
    con.executescript(_V1_SCHEMA)
    con.close()
    # read-only: old rows as they are; ranking by a transport column says why it cannot
    assert [r["mpe"] for r in rank(path, by="mpe")] == [0.42]
    with pytest.raises(ScreenError, match="no `ea` column"):
        rank(path, by="ea")
    # opened for writing: upgraded in place, rows kept, the new columns NULL
    connect(path).close()
    con = sqlite3.connect(path)
    assert con.execute("SELECT value FROM ionnet_meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    cols = {r[1] for r in con.execute("PRAGMA table_info(results)")}
    assert {"ea", "log10_sigma_300", "n_configurations", "spread", "ordering"} <= cols
    assert con.execute("SELECT name FROM sqlite_master WHERE name='configurations'").fetchone()
    con.close()
    rows = read_results(path)
    assert rows[0]["structure_id"] == "old" and rows[0]["mpe"] == 0.42 and rows[0]["ea"] is None
    connect(path).close()   # a second upgrade is a no-op
    assert json.loads(json.dumps(read_results(path)[0]["descriptors"])) == {"mpe": 0.42}
