"""Descriptors of a structure ordered into several configurations: mean and spread over the configurations.

``scan(order=True, n_configurations=k)`` gives ``k`` ordered configurations of
one disordered structure; each is analysed on its own and gives one
descriptor row.  :func:`combine` turns them into the row a screening database
stores: every numeric descriptor is the **mean** over the configurations and
``spread`` holds the **sample standard deviation** (``ddof=1``) of each.

Missing thresholds mean "never percolates": ``mpe``, ``e2d``, ``e3d`` and
``ea`` count as +inf and ``log10_sigma_300`` as -inf, so one configuration
that never percolates makes the mean infinite (stored as None, ranked last)
and its spread None.  The per-configuration rows are kept (table
``configurations``), so nothing is lost to the mean.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["combine", "mean_curve", "INF_IF_MISSING", "NEG_INF_IF_MISSING"]

#: Descriptors whose None means +inf (a threshold never reached).
INF_IF_MISSING = ("mpe", "e2d", "e3d", "ea")
#: Descriptors whose None means -inf (no conduction).
NEG_INF_IF_MISSING = ("log10_sigma_300",)
#: Kept from the first configuration, not averaged.
_FIRST = ("grid_shape", "connectivity", "n_maps", "transport_framework", "transport_T_K")


def _value(row: dict, key: str) -> float:
    v = row.get(key)
    if v is None:
        return math.inf if key in INF_IF_MISSING else -math.inf if key in NEG_INF_IF_MISSING else math.nan
    return float(v)


def _numeric_keys(rows: Sequence[dict]) -> list[str]:
    keys: list[str] = []
    for r in rows:
        for k, v in r.items():
            if k in _FIRST or k in keys:
                continue
            if (v is None and (k in INF_IF_MISSING or k in NEG_INF_IF_MISSING)) or (
                    isinstance(v, (int, float)) and not isinstance(v, bool)):
                keys.append(k)
    return keys


def combine(rows: Sequence[dict]) -> dict:
    """One descriptor row from the rows of several configurations: means, with ``spread`` and ``n_configurations``.

    Parameters
    ----------
    rows : sequence of dict
        One ``descriptor_row`` (plus transport columns) per configuration.

    Returns
    -------
    dict
        The first row's non-numeric entries, every numeric descriptor's mean
        (None when infinite or undefined), ``n_configurations`` and, for more
        than one configuration, ``spread``: descriptor -> sample standard
        deviation (None when a configuration is infinite).

    Examples
    --------
    >>> r = combine([{"mpe": 0.2, "xi": 0.5}, {"mpe": 0.4, "xi": 0.7}, {"mpe": 0.3, "xi": 0.6}])
    >>> round(r["mpe"], 6), round(r["spread"]["mpe"], 6), r["n_configurations"]
    (0.3, 0.1, 3)
    >>> combine([{"mpe": 0.2}, {"mpe": None}])["mpe"] is None     # one never percolates: +inf
    True
    """
    rows = list(rows)
    if not rows:
        raise ValueError("`rows` must hold at least one configuration's descriptors")
    out = {k: v for k, v in rows[0].items()}
    out["n_configurations"] = len(rows)
    if len(rows) == 1:
        return out
    spread: dict[str, float | None] = {}
    for key in _numeric_keys(rows):
        x = np.array([_value(r, key) for r in rows], dtype=float)
        if np.isnan(x).any():
            out[key], spread[key] = None, None
            continue
        finite = bool(np.all(np.isfinite(x)))
        out[key] = float(np.mean(x)) if finite else None       # an infinite configuration: the mean is too
        spread[key] = float(np.std(x, ddof=1)) if finite else None
    out["spread"] = spread
    return out


def mean_curve(curves: Sequence[Sequence[float] | None]) -> list[float] | None:
    """Element-wise mean of equally long curves (the FV(t) curve of each configuration); None if any is missing."""
    if not curves or any(c is None for c in curves):
        return None
    a = np.array(curves, dtype=float)
    return [round(float(x), 8) for x in a.mean(axis=0)]
