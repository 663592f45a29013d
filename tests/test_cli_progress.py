"""Progress on a terminal (a bar) and in a log (plain lines, no carriage returns), and its modes."""
from __future__ import annotations

import io

import numpy as np
import pytest

import ionnet
from ionnet.errors import IonnetError
from ionnet.progress import progress_bar, resolve_mode


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("mode, tty, expected", [
    ("auto", True, "bar"), ("auto", False, "off"), (True, True, "bar"), (True, False, "lines"),
    (False, True, "off"), (None, False, "off"), ("lines", True, "lines"), ("bar", False, "bar"),
])
def test_resolve_mode(mode, tty, expected):
    assert resolve_mode(mode, _Tty() if tty else io.StringIO()) == expected


def test_bad_mode_is_refused():
    with pytest.raises(IonnetError, match="progress"):
        resolve_mode("sometimes", io.StringIO())


def test_lines_are_plain_and_end_at_the_total():
    out = io.StringIO()
    bar = progress_bar(200, "job", unit="pt", mode="lines", file=out, every_s=0.0)
    for _ in range(4):
        bar.update(50)
    bar.close()
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert [ln.split(":")[1].split("%")[0].strip() for ln in lines] == ["25", "50", "75", "100"]
    assert "ETA" in lines[0] and "(200/200 pt)" in lines[-1]


def test_lines_are_throttled():
    out = io.StringIO()
    bar = progress_bar(1000, "job", mode="lines", file=out, every_s=3600.0)
    for _ in range(1000):
        bar.update(1)
    bar.close()
    assert len(out.getvalue().splitlines()) == 1  # only the closing line within the hour


class _Plane:
    """E = x (Å) of the probe: a known field, cheap."""

    name = "plane"

    def energies(self, fw, ion, frac, *, batch_size=None, progress=False):
        return (frac @ fw.lattice.matrix)[:, 0]


def test_scan_progress_lines_reach_100_percent_and_auto_is_silent_in_a_log(capsys):
    pytest.importorskip("pymatgen.core")
    from ionnet.io import example_structure

    s = example_structure()
    g = ionnet.scan(s, "Li", _Plane(), spacing=1.0, framework="empty", symmetry=False, ceiling=None,
                    progress="lines")
    err = capsys.readouterr().err
    assert "\r" not in err
    last = err.strip().splitlines()[-1]
    n = int(np.isfinite(g.energies).sum())
    assert last.startswith("scan Li map 1: 100%") and f"({n}/{n} pt)" in last
    ionnet.scan(s, "Li", _Plane(), spacing=1.0, framework="empty", symmetry=False, ceiling=None)  # "auto"
    assert capsys.readouterr().err == ""
