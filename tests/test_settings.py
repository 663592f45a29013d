"""ScanSettings: framework names (occupied/empty, 'vacancy' deprecated), one key per value, defaults in --help."""
from __future__ import annotations

import re
import warnings
from dataclasses import fields

import pytest

from ionnet import settings as settings_mod
from ionnet.errors import ScanError
from ionnet.settings import DEFAULT_CONNECTIVITY, ScanSettings, ScreenSettings


def test_default_framework_is_empty():
    assert ScanSettings().framework == "empty"
    assert ScreenSettings().framework == "empty"


def test_vacancy_is_occupied_with_one_warning(monkeypatch):
    monkeypatch.setattr(settings_mod, "_WARNED", set())
    with pytest.warns(DeprecationWarning, match="'occupied'"):
        old = ScanSettings(framework="vacancy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second use does not warn again
        again = ScanSettings(framework="vacancy")
        new = ScanSettings(framework="occupied")
    assert old == again == new and old.framework == "occupied"
    assert old.key() == new.key() and hash(old) == hash(new)
    assert ScreenSettings(framework="vacancy").hash() == ScreenSettings(framework="occupied").hash()
    assert ScreenSettings(framework="occupied").hash() != ScreenSettings(framework="empty").hash()


def test_occupied_key_keeps_the_old_name():
    # keys stored before the rename (framework 'vacancy') still match the same scans
    assert ScanSettings(framework="occupied").key()["framework"] == "vacancy"
    assert ScanSettings(framework="empty").key()["framework"] == "empty"


@pytest.mark.parametrize("bad", ["full", "", None, "Empty"])
def test_bad_framework(bad):
    with pytest.raises(ScanError, match="`framework` must be 'empty' or 'occupied'"):
        ScanSettings(framework=bad)


def test_default_connectivity():
    assert DEFAULT_CONNECTIVITY == 26 and ScreenSettings().connectivity == 26


@pytest.mark.parametrize("verb", ["scan", "analyze"])
def test_help_shows_every_default(verb):
    from ionnet.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction").choices[verb]
    text = re.sub(r"\s+", " ", sub.format_help())
    helps = {a.dest: a.help or "" for a in sub._actions}
    for f in fields(ScanSettings):
        assert f.name in helps, f"`ionnet {verb}` has no option for {f.name}"
        assert "(default: " in helps[f.name], f"--{f.name} shows no default in `ionnet {verb} --help`"
    assert "(default: empty)" in text
