"""Old import paths that keep working: ``ionnet.screen`` and ``ionnet.validate`` were modules.

They are functions now (the modules are :mod:`ionnet.screening` and
:mod:`ionnet.validation`).  Two pieces keep user code written for the old
modules running, each warning once per process with a ``DeprecationWarning``:

* :class:`MovedModule`, put in ``sys.modules`` under the old name by
  ``import ionnet``, answers ``from ionnet.screen import screen, rank`` and
  ``import ionnet.screen as m`` (the import system finds it there, so the
  package attribute is never replaced by a module);
* :class:`Verb`, the object ``ionnet.screen`` / ``ionnet.validate``: it calls
  the new function (same name, signature and docstring) and answers the old
  module's attributes, as in ``ionnet.validate.spearman(x, y)``.
"""
from __future__ import annotations

import functools
import importlib
import sys
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import Any

__all__ = ["MovedModule", "Verb", "install"]

#: old module -> new module
MOVED = {"ionnet.screen": "ionnet.screening", "ionnet.validate": "ionnet.validation"}
_WARNED: set[str] = set()


def _moved(old: str, attr: str) -> Any:
    """``attr`` of the module that replaced ``old``, with a one-time DeprecationWarning."""
    new = MOVED[old]
    if old not in _WARNED:
        _WARNED.add(old)
        warnings.warn(f"the module {old} is now {new}; import {attr} from {new} (the old path will be removed)",
                      DeprecationWarning, stacklevel=3)
    return getattr(importlib.import_module(new), attr)


class MovedModule(ModuleType):
    """A stand-in for a module that moved: every attribute comes from the new module."""

    def __init__(self, old: str):
        super().__init__(old, f"Deprecated: use {MOVED[old]}.")

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        return _moved(self.__name__, attr)

    def __dir__(self) -> list[str]:
        return sorted(getattr(importlib.import_module(MOVED[self.__name__]), "__all__", []))


class Verb:
    """A public function that also answers the attributes of the old module of its name (deprecated)."""

    def __init__(self, function: Callable[..., Any], old: str):
        functools.update_wrapper(self, function)
        self._function = function
        self._old = old

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return _moved(self._old, attr)

    def __repr__(self) -> str:
        return f"<function {self._function.__module__}.{self._function.__qualname__}>"


def install() -> None:
    """Register the stand-ins of the moved modules (``import ionnet`` does this)."""
    for old in MOVED:
        sys.modules.setdefault(old, MovedModule(old))
