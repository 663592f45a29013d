"""Metrics of a ranking descriptor against measurements (numpy/scipy only).

* :func:`spearman` - Spearman rank correlation (average ranks for ties);
* :func:`roc_auc` - area under the ROC curve, the Mann-Whitney statistic with
  average ranks, so a tie between a positive and a negative counts 1/2;
* :func:`top_fraction` - fraction of positives among the top 10 % (expected
  value over random orderings of ties at the cut);
* :func:`roc_curve`, :func:`bootstrap_ci`;
* :func:`descriptor_metrics` - all of them for one descriptor over scored structures.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import DataError

__all__ = [
    "DESCRIPTORS",
    "spearman",
    "roc_auc",
    "roc_curve",
    "top_fraction",
    "bootstrap_ci",
    "descriptor_value",
    "descriptor_metrics",
]

#: descriptor -> True when higher values should mean a better conductor.
DESCRIPTORS: dict[str, bool] = {
    "mpe": False, "e2d": False, "e3d": False,
    "fv_0.5": True, "fv_0.9": True, "fv_1.5": True,
    "xi": True, "xi_cell": True,
    "ea": False, "log10_sigma_300": True,
}


def _clean(x: ArrayLike, y: ArrayLike) -> tuple[NDArray, NDArray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise DataError(f"inputs must have the same length (got {x.size} and {y.size})")
    ok = ~(np.isnan(x) | np.isnan(y))
    return x[ok], y[ok]


def spearman(x: ArrayLike, y: ArrayLike) -> float:
    """Spearman rank correlation of ``x`` and ``y`` (NaN pairs dropped; ±inf allowed).

    Pearson correlation of the average ranks; NaN when either is constant or
    fewer than 2 pairs remain.

    Examples
    --------
    >>> spearman([1, 2, 3, 4], [10, 20, 30, 40]), spearman([1, 2, 3, 4], [4, 3, 2, 1])
    (1.0, -1.0)
    >>> round(spearman([1, 2, 3], [1, 3, 2]), 6)
    0.5
    """
    from scipy.stats import rankdata

    x, y = _clean(x, y)
    if x.size < 2:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx -= rx.mean()
    ry -= ry.mean()
    den = math.sqrt(float(rx @ rx) * float(ry @ ry))
    return float(rx @ ry / den) if den > 0 else float("nan")


def roc_auc(scores: ArrayLike, labels: ArrayLike) -> float:
    """Area under the ROC curve: P(score of a random positive > that of a random negative).

    Ties count 1/2 (average ranks).  NaN scores are dropped; NaN if a class is empty.

    Examples
    --------
    >>> roc_auc([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1]), roc_auc([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1])
    (1.0, 0.0)
    >>> roc_auc([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1])
    0.5
    """
    from scipy.stats import rankdata

    s, lab = _clean(scores, labels)
    pos = lab > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(s)
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> tuple[NDArray, NDArray, NDArray]:
    """``(fpr, tpr, thresholds)``: one point per distinct score, from (0, 0) to (1, 1).

    A node is predicted positive when its score is ``>= threshold``.

    Examples
    --------
    >>> fpr, tpr, thr = roc_curve([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])
    >>> fpr.tolist(), tpr.tolist()
    ([0.0, 0.0, 0.5, 0.5, 1.0], [0.0, 0.5, 0.5, 1.0, 1.0])
    """
    s, lab = _clean(scores, labels)
    pos = lab > 0.5
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    # last index of each run of equal scores (compare, not subtract: -inf - -inf is NaN)
    distinct = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1] if s.size else np.array([], int)
    tp = np.cumsum(pos)[distinct]
    fp = np.cumsum(~pos)[distinct]
    n_pos, n_neg = max(int(pos.sum()), 1), max(int((~pos).sum()), 1)
    fpr = np.r_[0.0, fp / n_neg]
    tpr = np.r_[0.0, tp / n_pos]
    thr = np.r_[np.inf, s[distinct]]
    return fpr, tpr, thr


def top_fraction(scores: ArrayLike, labels: ArrayLike, frac: float = 0.1) -> float:
    """Fraction of positives among the ``ceil(frac * n)`` best scores (at least 1).

    Ties straddling the cut contribute their mean positive rate for the slots
    they fill (the expected value over random orderings of the ties).

    Examples
    --------
    >>> top_fraction(np.arange(20), [0] * 18 + [1, 1])      # top 2 of 20 are both positive
    1.0
    >>> top_fraction([1.0] * 10, [1] + [0] * 9)               # all tied: the base rate
    0.1
    """
    if not 0 < frac <= 1:
        raise DataError(f"`frac` must be in (0, 1] (got {frac!r})")
    s, lab = _clean(scores, labels)
    if s.size == 0:
        return float("nan")
    pos = lab > 0.5
    k = max(1, int(math.ceil(frac * s.size - 1e-9)))
    v = np.sort(s)[::-1][k - 1]
    above = s > v
    tie = s == v
    slots = k - int(above.sum())
    expected = float(pos[above].sum()) + slots * float(pos[tie].sum()) / float(tie.sum())
    return expected / k


def bootstrap_ci(
    fn: Callable[..., float], *arrays: ArrayLike, n_boot: int = 1000, seed: int | np.random.Generator | None = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``fn(*arrays)`` resampling the rows (NaN results dropped)."""
    rng = np.random.default_rng(seed)
    arrs = [np.asarray(a, dtype=np.float64) for a in arrays]
    n = arrs[0].size
    if n < 2:
        return (float("nan"), float("nan"))
    vals = []
    for _ in range(int(n_boot)):
        idx = rng.integers(0, n, n)
        v = fn(*[a[idx] for a in arrs])
        if np.isfinite(v):
            vals.append(v)
    if not vals:
        return (float("nan"), float("nan"))
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def descriptor_value(row: dict, name: str) -> float:
    """A stored descriptor as a float (from ``row['descriptors']``, else the row's own column).

    A missing threshold or transport ``ea`` is +inf (the map never percolates that way);
    a missing ``log10_sigma_300`` is -inf when ``ea`` is missing too (no percolating
    network: σ = 0), else NaN (unknown carrier count); any other missing value is NaN.

    Examples
    --------
    >>> descriptor_value({"descriptors": {"mpe": 0.3}}, "mpe"), descriptor_value({}, "e3d")
    (0.3, inf)
    >>> descriptor_value({"ea": None, "log10_sigma_300": None}, "log10_sigma_300")
    -inf
    """
    d = row.get("descriptors") or {}
    v = d.get(name, row.get(name))
    if v is None:
        if name in ("ea", "log10_sigma_300") and d.get("transport_error"):
            return float("nan")  # transport failed on this row: unknown, not "never percolates"
        if name in ("mpe", "e2d", "e3d", "ea"):
            return float("inf")
        if name == "log10_sigma_300" and d.get("ea", row.get("ea")) is None:
            return float("-inf")
        return float("nan")
    return float(v)


def descriptor_metrics(records: list[dict], name: str, higher_better: bool, *, seed: int, n_boot: int) -> dict:
    """Spearman with log10 σ, ROC AUC and top-10 % fraction for superionic, with bootstrap intervals."""
    x = np.array([descriptor_value(r["row"], name) for r in records], dtype=np.float64)
    y = np.array([r["log10_sigma"] for r in records], dtype=np.float64)
    lab = np.array([r["superionic"] for r in records], dtype=np.float64)
    ok = ~np.isnan(x)
    x, y, lab = x[ok], y[ok], lab[ok]
    score = x if higher_better else -x
    rho = spearman(x, y)
    auc = roc_auc(score, lab)
    out = {
        "n": int(x.size), "n_superionic": int(lab.sum()),
        "spearman": rho, "auc": auc, "top10": top_fraction(score, lab, 0.1) if x.size else float("nan"),
        "base_rate": float(lab.mean()) if lab.size else float("nan"),
        "n_inf": int(np.isinf(x).sum()),
    }
    out["spearman_ci"] = bootstrap_ci(spearman, x, y, n_boot=n_boot, seed=seed)
    out["auc_ci"] = bootstrap_ci(roc_auc, score, lab, n_boot=n_boot, seed=seed)
    return out


#: Control rows: indicators of how a structure was scored, ranked as if they were descriptors
#: (1 ranks above 0).  A descriptor that does no better than these learns the disorder class,
#: not the transport.
CONTROLS = {"control: is an approximant": lambda r: float(r["group"] in ("framework", "majority")),
            "control: is disordered": lambda r: float(r["group"] != "ordered")}


def control_metrics(records: list[dict], *, seed: int, n_boot: int) -> dict:
    """:func:`descriptor_metrics` of each :data:`CONTROLS` indicator over the same records.

    Examples
    --------
    >>> recs = [{"group": g, "log10_sigma": s, "superionic": s >= -4}
    ...         for g, s in [("ordered", -8), ("ordered", -7), ("framework", -3), ("ion", -2)]]
    >>> m = control_metrics(recs, seed=0, n_boot=10)
    >>> m["control: is disordered"]["auc"], m["control: is an approximant"]["auc"]
    (1.0, 0.75)
    """
    out = {}
    for name, f in CONTROLS.items():
        recs = [dict(r, row={"descriptors": {name: f(r)}}) for r in records]
        out[name] = descriptor_metrics(recs, name, True, seed=seed, n_boot=n_boot)
    return out
