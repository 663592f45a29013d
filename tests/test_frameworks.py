"""Framework modes with every default: the empty framework's thresholds are LiFePO4's migration barrier.

Known answer: Li in LiFePO4 migrates along b ([0, 1, 0] of the bundled Pnma
cell) with a barrier of 0.27 eV (NEB, Morgan, Van der Ven & Ceder, ESSL 7, A30,
2004) to 0.55 eV (curved path, Islam et al., Chem. Mater. 17, 5085, 2005).
The bounds below (BVSE 0.2-0.8 eV, M3GNet 0.2-0.6 eV) allow for each model's
error; the occupied framework (every other Li frozen) is the method's ranking
setting and far above them.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import ionnet
from ionnet.data import path as data_path

pytest.importorskip("pymatgen")

LFP = data_path("LiFePO4.cif")
B_AXIS = [0, 1, 0]


def test_scan_default_is_the_empty_framework():
    g = ionnet.scan(LFP, model="bvse", spacing=0.5, progress=False)
    assert len(g) == 1 and g[0].metadata["framework"] == "empty"
    assert g[0].structure.composition["Li"] == 0 and g[0].metadata["n_removed"] == 4


def test_vacancy_is_the_occupied_framework():
    new = ionnet.scan(LFP, model="bvse", spacing=0.6, framework="occupied", progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old = ionnet.scan(LFP, model="bvse", spacing=0.6, framework="vacancy", progress=False)
    assert [g.metadata["framework"] for g in old] == ["occupied"] * len(new)
    for a, b in zip(old, new):
        np.testing.assert_array_equal(a.energies, b.energies)
    # one Li moves, the three others stay frozen in the framework
    assert all(g.structure.composition["Li"] == 3 for g in new)


def test_bvse_defaults_give_the_b_channel_barrier():
    r = ionnet.analyze(ionnet.scan(LFP, model="bvse", progress=False))  # every default (0.2 Å, empty, 26)
    assert 0.2 <= r.mpe <= 0.8
    assert r.percolation_directions[1] == [B_AXIS]


def test_occupied_mpe_is_not_a_barrier():
    r = ionnet.analyze(ionnet.scan(LFP, model="bvse", spacing=0.4, framework="occupied", progress=False))
    assert r.mpe > 0.8  # the other Li block the channel: the method's ranking value, not a barrier


@pytest.mark.slow
def test_cli_analyze_with_every_default_gives_the_b_channel():
    r = subprocess.run([sys.executable, "-m", "ionnet.cli", "analyze", LFP, "--model", "bvse", "--json"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert 0.2 <= d["percolation_energy"]["1d"] <= 0.8
    assert d["percolation_directions"]["1d"] == [B_AXIS]
    assert d["connectivity"] == 26


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("IONNET_M3GNET_PATH"), reason="set IONNET_M3GNET_PATH to the M3GNet weights")
def test_m3gnet_empty_framework_gives_the_b_channel_barrier():
    pytest.importorskip("matgl")
    r = ionnet.analyze(ionnet.scan(LFP, model=os.environ["IONNET_M3GNET_PATH"], spacing=0.3, progress=False))
    assert 0.2 <= r.mpe <= 0.6
    assert r.percolation_directions[1] == [B_AXIS]


def test_screening_labels_each_descriptor_with_its_framework():
    from ionnet.screening.tasks import _labelled

    row = _labelled({"mpe": 0.3, "fv_0.9": 0.1, "xi": 0.5, "n_maps": 1}, "empty")
    assert row["framework"] == "empty" and row["mpe_empty"] == 0.3 and row["fv_empty_0.9"] == 0.1
    assert row["xi_empty"] == 0.5 and "n_maps_empty" not in row and row["mpe"] == 0.3
