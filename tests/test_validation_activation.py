"""The Laskowski 2023 Ea join (ionnet.validation.activation)."""
from __future__ import annotations

import os

import pytest

from ionnet.validation.activation import ea_metrics, join_activation, load_laskowski_ea

SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data")


def test_load_strips_marks_and_skips_missing(tmp_path):
    p = tmp_path / "l.csv"
    p.write_text("A,1E-3,0.17\u0305,P1,1,,10,1\nA,2E-3,0.25,P1,1,,10,2\nB,1E-9,,P1,1,,11,3\n", encoding="utf-8")
    assert load_laskowski_ea(p) == {"10": [0.17, 0.25]}


def test_join_uses_median_and_needs_cif(tmp_path):
    csvp = tmp_path / "obelix.csv"
    csvp.write_text("id,icsd_id,has_cif\nx,10.0,True\ny,10.0,False\nz,99.0,True\n")
    assert join_activation(csvp, {"10": [0.1, 0.2, 0.6]}) == {"x": 0.2}


def test_metrics_perfect_rank_and_known_mae():
    m = ea_metrics({"a": 1.0, "b": 2.0, "c": float("nan")}, {"a": 0.5, "b": 2.5, "c": 1.0})
    assert m["n"] == 2 and m["spearman"] == pytest.approx(1.0) and m["mae_ev"] == pytest.approx(0.5)


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED, "laskowski2023")), reason="shared data absent")
def test_bundled_join_has_113_entries():
    las = load_laskowski_ea(os.path.join(SHARED, "laskowski2023"))
    assert len(join_activation(os.path.join(SHARED, "obelix", "obelix.csv"), las)) == 113
