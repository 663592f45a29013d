"""The public shape of the package: one settings object, one error hierarchy, one return type per call,
and the old import paths that keep working."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import warnings
from dataclasses import FrozenInstanceError, fields

import numpy as np
import pytest

import ionnet
from ionnet import EnergyGrid, GridError, PercolationResult, PercolationSet, ScanResult, ScanSettings
from ionnet.data import cosine_field
from ionnet.settings import ScreenSettings

LAT = np.eye(3) * 4.0


# ------------------------------------------------------------------------- errors
def _package_modules():
    return ["ionnet"] + [m.name for m in pkgutil.walk_packages(ionnet.__path__, prefix="ionnet.")]


def test_every_exception_class_lives_in_errors_and_is_exported():
    errors = importlib.import_module("ionnet.errors")
    defined = {name for name, obj in vars(errors).items() if isinstance(obj, type) and issubclass(obj, Exception)}
    assert defined == set(errors.__all__)
    for name in defined:
        assert getattr(ionnet, name) is getattr(errors, name) and name in ionnet.__all__
        assert issubclass(getattr(errors, name), ionnet.IonnetError)
    elsewhere = []
    for mod_name in _package_modules():
        mod = importlib.import_module(mod_name)
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and issubclass(obj, BaseException) and obj.__module__ == mod_name \
                    and mod_name != "ionnet.errors":
                elsewhere.append(f"{mod_name}.{name}")
    assert elsewhere == []


def test_old_error_locations_are_the_same_classes():
    from ionnet.export import ExportError
    from ionnet.render import RenderError
    from ionnet.scanning import ScanError
    from ionnet.screening import TaskTimeout

    assert (ExportError, RenderError, ScanError, TaskTimeout) == (
        ionnet.ExportError, ionnet.RenderError, ionnet.ScanError, ionnet.TaskTimeout)


# ----------------------------------------------------------------------- settings
def test_scan_settings_are_frozen_validated_and_hashable():
    s = ScanSettings(spacing=0.3, framework="empty", min_distance={"O": 1.2, "Fe": 1.0})
    assert s == ScanSettings(min_distance={"Fe": 1.0, "O": 1.2}, framework="empty", spacing=0.3)
    assert len({s, s.replace(device="cuda"), ScanSettings()}) == 3
    assert s.radii == {"Fe": 1.0, "O": 1.2}
    with pytest.raises(FrozenInstanceError):
        s.spacing = 0.5
    with pytest.raises(GridError, match="`spacing` must be > 0"):
        s.replace(spacing=0)
    with pytest.raises(ionnet.ScanError, match="unknown option.*'spasing'"):
        s.replace(spasing=0.3)
    # device and batch size do not change the energies: not in the keys
    assert s.replace(device="cuda", batch_size=64).key() == s.key()
    assert s.replace(ceiling=2.0).key() != s.key()


def test_screen_settings_hash_is_that_of_existing_databases():
    # the value the first release stored for its default settings (framework 'vacancy', now 'occupied', and
    # connectivity 6): old databases keep matching those settings
    assert ScreenSettings(framework="occupied", connectivity=6).hash() == "1e9cd3a3b289000d"
    assert ScreenSettings(spacing=0.3, framework="empty", min_distance=1.0, connectivity=26,
                          task="x").hash() == "369a07a32ba2d442"
    assert ScreenSettings(ceiling=2.0).hash() != ScreenSettings().hash()


def test_cli_options_are_built_from_the_settings_with_their_defaults():
    from ionnet.cli import build_parser

    parser = build_parser()
    for verb in ("scan", "analyze", "screen"):
        sub = parser._subparsers._group_actions[0].choices[verb]
        text = " ".join(sub.format_help().split())
        for f in fields(ScanSettings):
            flag = "--no-symmetry" if f.name == "symmetry" else "--" + f.name.replace("_", "-")
            assert flag in text, (verb, flag)
        assert "(default: 0.2)" in text and "(default: empty)" in text and "(default: auto)" in text
        args = parser.parse_args([verb, "x.cif", "--db", "d"] if verb == "screen" else [verb, "x.cif", "-o", "g.npz"]
                                 if verb == "scan" else [verb, "x.cif"])
        from ionnet.commands._common import settings_from_args

        assert settings_from_args(args) == ScanSettings()


def test_screen_bad_spacing_is_one_line(tmp_path, capsys):
    from ionnet.cli import main

    (tmp_path / "a.cif").write_text("data_x\n")
    assert main(["screen", str(tmp_path), "--db", str(tmp_path / "x.sqlite"), "--spacing", "-1"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "`spacing` must be > 0" in err and "Traceback" not in err


# ------------------------------------------------------------------- return types
def test_scan_result_reads_through_a_single_map_only():
    one = ScanResult([EnergyGrid(cosine_field((4, 4, 4)), LAT, metadata={"ion": "Li"})])
    assert one.shape == (4, 4, 4) and one.metadata["ion"] == "Li" and one.lowest() is one[0]
    np.testing.assert_array_equal(one.energies, one[0].energies)
    two = ScanResult([one[0], EnergyGrid(cosine_field((4, 4, 4)) - 1.0, LAT, metadata={"multiplicity": 3})])
    assert two.lowest() is two[1] and two.multiplicities.tolist() == [1, 3] and two.shape == (4, 4, 4)
    with pytest.raises(GridError, match="holds 2 maps"):
        two.metadata
    with pytest.raises(GridError, match="at least one"):
        ScanResult([])


def test_load_grids_always_returns_a_scan_result(tmp_path):
    g = EnergyGrid(cosine_field((4, 4, 4)), LAT)
    g.save(tmp_path / "one.npz")
    ScanResult([g, g]).save(tmp_path / "two.npz")
    assert [len(ionnet.load_grids(tmp_path / f)) for f in ("one.npz", "two.npz")] == [1, 2]
    assert all(isinstance(ionnet.load_grids(tmp_path / f), ScanResult) for f in ("one.npz", "two.npz"))


def test_analyze_gives_a_result_for_one_map_and_a_set_for_several():
    g = EnergyGrid(cosine_field((8, 8, 8)), LAT)
    r, s = ionnet.analyze(g), ionnet.analyze(ScanResult([g]))
    assert isinstance(r, PercolationResult) and isinstance(s, PercolationSet)
    assert isinstance(ionnet.analyze(g.energies, lattice=LAT), PercolationResult)
    assert r.lowest() is r and s.lowest() is s[0] and r.results == [r]
    assert s.to_dict() == r.to_dict() and s.summary() == r.summary()
    np.testing.assert_array_equal(s.level_map, r.level_map)
    with pytest.raises(GridError, match="empty"):
        ionnet.analyze([])


# ------------------------------------------------------------------ old import paths
@pytest.fixture
def fresh_warnings():
    from ionnet import _compat

    _compat._WARNED.clear()
    yield
    _compat._WARNED.clear()


def test_verbs_are_functions_with_the_new_signatures():
    import ionnet.screening
    import ionnet.validation

    assert callable(ionnet.scan) and callable(ionnet.screen) and callable(ionnet.validate)
    assert inspect.signature(ionnet.screen) == inspect.signature(ionnet.screening.screen)
    assert ionnet.validate.__doc__ == ionnet.validation.validate.__doc__


def test_old_screen_module_path_works_and_warns_once(fresh_warnings):
    from ionnet import screening

    with pytest.warns(DeprecationWarning, match="ionnet.screen is now ionnet.screening"):
        from ionnet.screen import rank, screen
    assert (screen, rank) == (screening.screen, screening.rank)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once only
        import ionnet.screen as old

        assert old.read_results is screening.read_results
        assert ionnet.screen.collect_inputs is screening.collect_inputs


def test_old_validate_module_functions_work_and_warn(fresh_warnings):
    with pytest.warns(DeprecationWarning, match="ionnet.validate is now ionnet.validation"):
        assert ionnet.validate.spearman([1, 2, 3], [1, 3, 2]) == pytest.approx(0.5)
    from ionnet.validate import roc_auc

    assert roc_auc([0.1, 0.9], [0, 1]) == 1.0
