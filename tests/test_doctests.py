"""Every docstring example in the package runs (freud's test_doctests pattern).

The modules are discovered, not listed: one test per module whose source holds
a ``>>>`` example that is not marked ``doctest: +SKIP``.  Each test checks that
doctest finds every such example (an example doctest cannot reach, e.g. in a
nested function, would otherwise never run) and that they all pass.
"""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import io
import pkgutil
import re

import pytest

import ionnet

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
PROMPT = re.compile(r"^\s*>>>", re.M)
OPTIONAL = ("pymatgen", "spglib", "ase", "matplotlib", "pyvista", "networkx", "igraph", "distributed")


def _source_examples(name: str) -> int:
    """``>>>`` lines in the module's source that are meant to run."""
    with open(importlib.util.find_spec(name).origin, encoding="utf-8") as f:
        text = f.read()
    return sum(1 for line in text.splitlines() if PROMPT.match(line) and "doctest: +SKIP" not in line)


def _modules() -> list[str]:
    names = ["ionnet"] + [m.name for m in pkgutil.walk_packages(ionnet.__path__, prefix="ionnet.")]
    return [n for n in names if _source_examples(n) > 0]


MODULES = _modules()


def test_discovery_finds_the_documented_modules():
    assert {"ionnet.analysis", "ionnet.grid", "ionnet.data", "ionnet.descriptors"} <= set(MODULES)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    mod = importlib.import_module(name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(mod, name)
    runnable = sum(1 for t in tests for ex in t.examples if not ex.options.get(doctest.SKIP))
    assert runnable == _source_examples(name), (
        f"{name}: the source has {_source_examples(name)} examples, doctest finds {runnable}; "
        "move examples into docstrings doctest can reach (module, class, function, method)"
    )
    out = io.StringIO()
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for t in sorted(tests, key=lambda t: t.name):
        runner.run(t, out=out.write)
    res = runner.summarize(verbose=False)
    if res.failed:
        missing = [m for m in OPTIONAL if importlib.util.find_spec(m) is None]
        if missing:
            pytest.skip(f"optional packages missing ({', '.join(missing)}); {name} examples need them")
    assert res.failed == 0, out.getvalue()
    assert res.attempted >= runnable > 0
