"""Every docstring example in the numeric core runs (freud's test_doctests pattern)."""
import doctest
import importlib

import pytest

MODULES = ["ionnet.grid", "ionnet.analysis", "ionnet.core.sweep", "ionnet.core.sites"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    mod = importlib.import_module(name)
    failures, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert failures == 0
