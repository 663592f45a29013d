"""Validation of screening descriptors against measured ionic conductivity (OBELiX).

Metrics (numpy/scipy only):

* :func:`spearman` - Spearman rank correlation (average ranks for ties);
* :func:`roc_auc` - area under the ROC curve, the Mann-Whitney statistic with
  average ranks, so a tie between a positive and a negative counts 1/2;
* :func:`top_fraction` - fraction of positives among the top 10 % (expected
  value over random orderings of ties at the cut);
* :func:`roc_curve`, :func:`bootstrap_ci`.

Pipeline: :func:`load_obelix` reads ``obelix.csv`` (censored conductivities
such as ``<1E-10`` become their bound, flagged ``censored``),
:func:`plan_obelix` sorts the CIFs into ordered / disordered on mobile-ion
sites only / disordered framework, :func:`validate` screens each group with
:func:`ionnet.screen.screen` and writes a markdown report with scatter plots
and ROC curves.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import BackendUnavailableError, DataError, StructureError

__all__ = [
    "spearman",
    "roc_auc",
    "roc_curve",
    "top_fraction",
    "bootstrap_ci",
    "parse_conductivity",
    "ObelixEntry",
    "load_obelix",
    "classify_disorder",
    "majority_approximant",
    "plan_obelix",
    "validate",
    "DESCRIPTORS",
    "SUPERIONIC_S_CM",
]

logger = logging.getLogger(__name__)

#: Superionic: measured room-temperature conductivity >= 1e-4 S/cm.
SUPERIONIC_S_CM = 1e-4
#: descriptor -> True when higher values should mean a better conductor.
DESCRIPTORS: dict[str, bool] = {
    "mpe": False, "e2d": False, "e3d": False,
    "fv_0.5": True, "fv_0.9": True, "fv_1.5": True,
    "xi": True, "xi_cell": True,
}
_LABELS = {
    "mpe": "MPE (eV)", "e2d": "2D threshold (eV)", "e3d": "3D threshold (eV)",
    "fv_0.5": "FV(0.5 eV)", "fv_0.9": "FV(0.9 eV)", "fv_1.5": "FV(1.5 eV)",
    "xi": "Xi (authors)", "xi_cell": "Xi (periodic FVc)",
}


# --------------------------------------------------------------------------- metrics
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


# ------------------------------------------------------------------------------ data
def parse_conductivity(text: str) -> tuple[float, bool]:
    """``(sigma_S_cm, censored)`` from an OBELiX conductivity cell.

    ``'<1E-10'`` (an upper bound: below the detection limit) gives
    ``(1e-10, True)``: the bound is used as the value.  Empty gives NaN.

    Examples
    --------
    >>> parse_conductivity("1.58489e-06"), parse_conductivity("<1E-10"), parse_conductivity(" ")
    ((1.58489e-06, False), (1e-10, True), (nan, False))
    """
    t = (text or "").strip()
    if not t:
        return float("nan"), False
    censored = False
    if t[0] in "<≤":
        censored, t = True, t[1:].lstrip("=").strip()
    try:
        v = float(t)
    except ValueError:
        raise DataError(f"cannot parse conductivity {text!r} (expected a number in S/cm or '<bound')") from None
    if not v > 0:
        raise DataError(f"conductivity must be > 0 S/cm (got {text!r})")
    return v, censored


@dataclass(frozen=True)
class ObelixEntry:
    """One OBELiX row.

    Attributes
    ----------
    id : str
    formula : str
    sigma_s_cm : float
        Room-temperature ionic conductivity, S/cm (the bound when censored).
    censored : bool
        The measurement is an upper bound ('<1E-10').
    cif : str or None
        Path of the CIF (None when OBELiX has none).
    cif_ordered : bool or None
    family : str
    """

    id: str
    formula: str
    sigma_s_cm: float
    censored: bool
    cif: str | None
    cif_ordered: bool | None
    family: str = ""

    @property
    def log10_sigma(self) -> float:
        return math.log10(self.sigma_s_cm)

    @property
    def superionic(self) -> bool:
        return self.sigma_s_cm >= SUPERIONIC_S_CM and not self.censored


def load_obelix(data_dir: str | os.PathLike) -> list[ObelixEntry]:
    """Read ``obelix.csv`` (and locate ``cifs/<id>.cif``) from an OBELiX folder."""
    data_dir = os.fspath(data_dir)
    path = os.path.join(data_dir, "obelix.csv")
    if not os.path.exists(path):
        raise DataError(f"{path} not found: `data` must be the OBELiX folder holding obelix.csv and cifs/")
    out = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            sigma, cens = parse_conductivity(row["ionic_conductivity_S_cm"])
            cif = os.path.join(data_dir, "cifs", f"{row['id']}.cif")
            has = row.get("has_cif", "").strip() == "True" and os.path.exists(cif)
            ordered = {"True": True, "False": False}.get(row.get("cif_ordered", "").strip())
            out.append(ObelixEntry(row["id"], row.get("reduced_composition", ""), sigma, cens,
                                   cif if has else None, ordered if has else None, row.get("family", "")))
    return out


def classify_disorder(cif: str | os.PathLike, ion: str = "Li") -> str:
    """``'ordered'``, ``'ion'`` (only sites holding ``ion`` and vacancies are partial) or ``'framework'``.

    Raises
    ------
    StructureError
        The CIF cannot be read.
    """
    try:
        from pymatgen.core import Structure
    except ImportError as e:  # pragma: no cover
        raise BackendUnavailableError("pymatgen is needed to read CIFs: pip install 'ionnet[structures]'") from e
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = Structure.from_file(os.fspath(cif))
    except Exception as e:  # noqa: BLE001
        raise StructureError(f"cannot read {cif}: {e}") from None
    kind = "ordered"
    for site in s:
        sp = {getattr(x, "symbol", str(x)) for x in site.species}
        occ = sum(site.species.values())
        if len(sp) == 1 and abs(occ - 1.0) < 1e-3:
            continue
        if sp == {ion}:
            kind = "ion"
        else:
            return "framework"
    return kind


@dataclass
class Plan:
    """Which OBELiX entries are screened, how, and why the others are not."""

    entries: dict                          # id -> ObelixEntry
    groups: dict = field(default_factory=dict)   # 'ordered' | 'ion' | 'framework' -> [id]
    unscored: dict = field(default_factory=dict)  # id -> reason


def plan_obelix(entries: Sequence[ObelixEntry], *, ion: str = "Li", disordered: str = "order") -> Plan:
    """Sort entries by disorder class; ``disordered='skip'`` leaves framework-disordered ones out."""
    if disordered not in DISORDERED_MODES:
        raise DataError(f"`disordered` must be one of {', '.join(DISORDERED_MODES)} (got {disordered!r})")
    plan = Plan({e.id: e for e in entries}, {"ordered": [], "ion": [], "framework": []})
    for e in sorted(entries, key=lambda e: e.id):
        if e.cif is None:
            plan.unscored[e.id] = "no CIF in OBELiX"
            continue
        if not math.isfinite(e.sigma_s_cm):
            plan.unscored[e.id] = "no conductivity value"
            continue
        try:
            kind = "ordered" if e.cif_ordered else classify_disorder(e.cif, ion)
        except StructureError as err:
            plan.unscored[e.id] = f"unreadable CIF: {err}"
            continue
        if kind == "framework" and disordered == "skip":
            plan.unscored[e.id] = "framework disorder (disordered='skip')"
            continue
        plan.groups[kind].append(e.id)
    return plan


def majority_approximant(cif: str | os.PathLike, ion: str = "Li", *, min_separation_ang: float = 1.0) -> Any:
    """A crude ordered framework for a CIF whose framework is disordered (for ``framework='empty'``).

    Every site keeps its majority non-``ion`` element when the non-``ion``
    occupancy is >= 0.5 (ties: the alphabetically first element); a site
    holding mostly ``ion`` (or only ``ion``) becomes a full ``ion`` site (it is
    removed anyway by ``framework='empty'``); other sites are dropped.  If no
    ``ion`` site is left (the ion always shares its sites with a majority
    element), the sites richest in ``ion`` become ``ion`` sites.  Sites
    are placed in order of decreasing occupancy and a framework atom closer
    than ``min_separation_ang`` to one already placed is dropped (split sites).

    Returns
    -------
    pymatgen Structure
        Ordered; charge balance is not enforced.
    """
    import warnings

    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure.from_file(os.fspath(cif))
    picks = []
    for site in s:
        occ: dict[str, float] = {}
        for sp, o in site.species.items():
            sym = getattr(sp, "symbol", None) or str(getattr(sp, "element", sp))
            occ[sym] = occ.get(sym, 0.0) + float(o)
        other = {k: v for k, v in occ.items() if k != ion}
        tot_other = sum(other.values())
        if tot_other >= 0.5 - 1e-6:
            el = sorted(other.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
            picks.append((tot_other, el, site.frac_coords))
        elif occ.get(ion, 0.0) > 0:
            picks.append((occ[ion], ion, site.frac_coords))
    if not any(el == ion for _, el, _ in picks):
        # every ion shares its sites with a majority framework element (e.g. Li/La A sites of a perovskite):
        # the site(s) with the most ion become ion sites, so the structure still has its mobile ion
        ion_occ = []
        for site in s:
            ion_occ.append(sum(float(o) for sp, o in site.species.items()
                               if (getattr(sp, "symbol", None) or str(getattr(sp, "element", sp))) == ion))
        best = max(ion_occ) if ion_occ else 0.0
        if best > 0:
            for k, site in enumerate(s):
                if abs(ion_occ[k] - best) < 1e-6:
                    picks = [p for p in picks if not np.allclose(p[2], site.frac_coords)]
                    picks.append((best, ion, site.frac_coords))
    picks.sort(key=lambda p: (p[1] == ion, -p[0]))  # framework first, most occupied first
    species, coords = [], []
    lat = s.lattice
    for _, el, fc in picks:
        if coords and el != ion:
            fw = [c for c, e in zip(coords, species) if e != ion]
            if fw:
                d = lat.get_all_distances([fc], fw)[0]
                if d.min() < min_separation_ang:
                    continue
        species.append(el)
        coords.append(fc)
    return Structure(lat, species, coords)


#: ``disordered=`` choices for framework-disordered CIFs.
DISORDERED_MODES = ("order", "skip", "majority", "order+majority")

_GROUP_SETTINGS = {
    "ordered": dict(framework="vacancy", order=False),
    "ion": dict(framework="empty", order=False),        # only the mobile ions are disordered: remove them all
    "framework": dict(framework="vacancy", order=True),  # ordered approximant (ionnet.scan order=True)
    "majority": dict(framework="empty", order=False),   # majority_approximant, mobile ions removed
}
_GROUP_NAMES = {"ordered": "ordered CIF", "ion": "disordered on Li sites only",
                "framework": "disordered framework, order=True",
                "majority": "disordered framework, majority approximant"}


def _value(row: dict, name: str) -> float:
    d = row.get("descriptors") or {}
    v = d.get(name)
    if v is None:
        # a missing threshold means the map never percolates that way: +inf energy
        return float("inf") if name in ("mpe", "e2d", "e3d") else float("nan")
    return float(v)


def _metrics_block(records: list[dict], name: str, higher_better: bool, *, seed: int, n_boot: int) -> dict:
    x = np.array([_value(r["row"], name) for r in records], dtype=np.float64)
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


def _fmt(v: float, nd: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def _plots(out_dir: str, tag: str, records: list[dict], names: list[str]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    y = np.array([r["log10_sigma"] for r in records])
    cens = np.array([r["censored"] for r in records])
    sup = np.array([r["superionic"] for r in records], dtype=float)
    ncol = min(3, len(names))
    nrow = int(math.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        x = np.array([_value(r["row"], name) for r in records])
        fin = np.isfinite(x)
        xp = x.copy()
        note = ""
        if np.isinf(x).any():  # never percolates: drawn at the right edge
            right = (np.max(x[fin]) * 1.08 + 0.05) if fin.any() else 1.0
            xp[np.isinf(x)] = right
            ax.axvline(right, color="grey", lw=0.5, ls=":")
            note = f"; {int(np.isinf(x).sum())} never (right edge)"
        logx = False
        if DESCRIPTORS[name]:  # FV and Xi span decades: log axis, zeros at the left edge
            pos = xp[(xp > 0) & np.isfinite(xp)]
            if pos.size and pos.max() / pos.min() > 100:
                logx = True
                floor = pos.min() / 3
                if (xp <= 0).any():
                    note += f"; {int((xp <= 0).sum())} zero (left edge)"
                xp = np.where(xp <= 0, floor, xp)
        for mask, marker in ((~cens, "o"), (cens, "v")):
            m = mask & ~np.isnan(xp)
            ax.scatter(xp[m], y[m], s=18, marker=marker, alpha=0.7,
                       c=np.where(sup[m] > 0, "tab:red", "tab:blue"))
        if logx:
            ax.set_xscale("log")
        ax.axhline(math.log10(SUPERIONIC_S_CM), color="k", lw=0.6, ls="--")
        ax.set_xlabel(_LABELS.get(name, name))
        ax.set_ylabel("log10 σ (S/cm)")
        rho = spearman(x, y)
        ax.set_title(f"{name}: ρ = {_fmt(rho)}  (n = {int((~np.isnan(x)).sum())}{note})", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color="grey", label="measured"),
               Line2D([], [], ls="", marker="v", color="grey", label="upper bound (<)"),
               Line2D([], [], ls="", marker="s", color="tab:red", label="≥ 1e-4 S/cm"),
               Line2D([], [], ls="", marker="s", color="tab:blue", label="< 1e-4 S/cm")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{tag}: descriptor vs measured room-temperature conductivity (OBELiX)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    f1 = os.path.join(out_dir, f"scatter_{tag}.png")
    fig.savefig(f1, dpi=110)
    plt.close(fig)
    files.append(f1)

    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name in names:
        x = np.array([_value(r["row"], name) for r in records])
        ok = ~np.isnan(x)
        score = x[ok] if DESCRIPTORS[name] else -x[ok]
        fpr, tpr, _ = roc_curve(score, sup[ok])
        ax.plot(fpr, tpr, label=f"{name} (AUC {_fmt(roc_auc(score, sup[ok]))})", lw=1.2)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls="--")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{tag}: superionic (≥ 1e-4 S/cm) vs rest", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    f2 = os.path.join(out_dir, f"roc_{tag}.png")
    fig.savefig(f2, dpi=110)
    plt.close(fig)
    files.append(f2)
    return files


def _framework_for(model: str, framework: str) -> str:
    if framework not in ("auto", "vacancy", "empty"):
        raise DataError(f"`framework` must be 'auto', 'vacancy' or 'empty' (got {framework!r})")
    if framework != "auto":
        return framework
    return "empty" if os.path.basename(str(model).rstrip("/")).lower().startswith("bvse") else "vacancy"


def _run_records(run: dict, db: Any, ion: str, plan: Plan) -> list[dict]:
    from .screen import read_results

    rows = {r["structure_key"]: r for r in read_results(db, model=run["model"], ion=ion,
                                                        settings_hash=run["summary"].settings_hash, status=None)}
    out = []
    for i in run["ids"]:
        e = plan.entries[i]
        row = rows.get(run["keys"][i])
        out.append({"id": i, "formula": e.formula, "group": run["group"], "log10_sigma": e.log10_sigma,
                    "censored": e.censored, "superionic": e.superionic, "row": row or {}, "model": run["model"],
                    "status": row["status"] if row else "missing", "error": (row or {}).get("error")})
    return out


def validate(
    data: str | os.PathLike,
    db: str | os.PathLike,
    out: str | os.PathLike,
    *,
    models: Sequence[str] = ("bvse",),
    spacing: float = 0.2,
    subset: int | None = None,
    subset_models: Sequence[str] | None = None,
    subset_spacing: float | None = None,
    subset_from: str = "scorable",
    seed: int = 0,
    ion: str = "Li",
    disordered: str = "order",
    framework: str = "auto",
    limit: int | None = None,
    workers: int = 1,
    connectivity: int = 6,
    refine: bool = False,
    n_boot: int = 1000,
    timeout_s: float | None = None,
    task: Any = None,
    progress: bool = False,
    command: str | None = None,
) -> dict:
    """Screen the OBELiX CIFs and score each descriptor against measured conductivity.

    Parameters
    ----------
    data : folder
        OBELiX folder with ``obelix.csv`` and ``cifs/``.
    db : path
        SQLite database of :func:`ionnet.screen.screen` (reused: finished
        structures are not recomputed).
    out : folder
        Report folder: ``report.md``, ``metrics.json``, ``structures.csv``,
        ``scatter_<model>.png``, ``roc_<model>.png``.
    models : sequence of str
        Potentials to run, e.g. ``('bvse', 'm3gnet')``.
    spacing : float, Å
        Grid spacing of the full runs.
    subset : int, optional
        Run the ``subset_models`` on this many structures only, drawn with
        ``numpy.random.default_rng(seed).permutation`` of the sorted scorable
        ids; metrics of the other models on the same subset are reported too.
    subset_models : sequence of str, optional
        Default: every model except ``'bvse'``.
    subset_spacing : float, Å, optional
        Grid spacing of the subset runs (default ``spacing``).
    subset_from : {'scorable', 'ordered'}
        Draw the subset from every scorable id, or from the ordered CIFs only.
    disordered : {'order', 'skip', 'majority', 'order+majority'}
        Framework-disordered CIFs: ``ionnet.scan(order=True)`` (an Ewald-ranked
        ordering in a supercell of <= 200 sites); left out; the crude
        :func:`majority_approximant` with ``framework='empty'``; or
        ``order=True`` with the approximant as fallback for those it cannot
        order.  CIFs disordered on mobile-ion sites only always use
        ``framework='empty'``.
    framework : {'auto', 'vacancy', 'empty'}
        Framework mode of the ordered and ``order=True`` groups.  ``'auto'``:
        ``'empty'`` for ``bvse`` (bond-valence site energies are computed with
        the mobile sublattice removed, as in softBV/BVlain; with the other Li
        frozen in place they block every channel) and ``'vacancy'`` for the
        machine-learned models (the authors' choice).  The groups disordered
        on Li sites and the majority approximants always use ``'empty'``.
    timeout_s : float, optional
        Per-structure limit passed to :func:`ionnet.screen.screen`.
    limit : int, optional
        Only the first ``limit`` scorable ids (sorted) - for quick trials.
    workers, connectivity, refine, task, progress
        Passed to :func:`ionnet.screen.screen`.
    n_boot : int
        Bootstrap resamples of the 95 % intervals.

    Returns
    -------
    dict
        ``coverage``, ``metrics`` (per population and descriptor) and ``files``.
    """
    from .screen import StructureInput, _file_key, read_results, screen

    t0 = time.perf_counter()
    out = os.fspath(out)
    os.makedirs(out, exist_ok=True)
    models = [m.strip() for m in models if m.strip()]
    _framework_for("x", framework)  # check the choice before any work
    if not models:
        raise DataError("`models` must name at least one potential, e.g. ['bvse']")
    if subset_models is None:
        subset_models = [m for m in models if m != "bvse"] if subset else []
    subset_models = [m for m in subset_models if m in models]
    entries = load_obelix(data)
    plan = plan_obelix(entries, ion=ion, disordered=disordered)
    scorable = sorted(i for g in plan.groups.values() for i in g)
    if limit:
        scorable = scorable[: int(limit)]
    group_of = {i: g for g, ids in plan.groups.items() for i in ids}
    subset_ids = scorable
    if subset:
        if subset_from not in ("scorable", "ordered"):
            raise DataError(f"`subset_from` must be 'scorable' or 'ordered' (got {subset_from!r})")
        pool = [i for i in scorable if subset_from == "scorable" or group_of[i] == "ordered"]
        perm = np.random.default_rng(seed).permutation(np.array(pool, dtype=object))
        subset_ids = sorted(str(x) for x in perm[: int(subset)])

    # ---- screen every (model, group)
    keys = {}
    for i in scorable:
        key, err = _file_key(plan.entries[i].cif)
        keys[i] = (key, err)
    approx_dir = os.path.join(out, "approximants")
    approx: dict[str, tuple[str, str, str | None]] = {}  # id -> (path, key, error)

    def approximant(i: str) -> tuple[str, str, str | None]:
        if i not in approx:
            os.makedirs(approx_dir, exist_ok=True)
            path = os.path.join(approx_dir, f"{i}.cif")
            try:
                from pymatgen.io.cif import CifWriter

                CifWriter(majority_approximant(plan.entries[i].cif, ion)).write_file(path)
                key, err = _file_key(path)
            except Exception as e:  # noqa: BLE001 - recorded as this structure's failure
                key, err = _file_key(path + ".missing")[0], f"majority approximant failed: {e}"
            approx[i] = (path, key, err)
        return approx[i]

    runs = []
    for model in models:
        ids = subset_ids if model in subset_models else scorable
        sp = (subset_spacing or spacing) if model in subset_models else spacing
        for g in ("ordered", "ion", "framework", "majority"):
            if g == "framework" and disordered not in ("order", "order+majority"):
                continue
            if g == "majority":
                if disordered == "majority":
                    gid = [i for i in ids if group_of[i] == "framework"]
                elif disordered == "order+majority":
                    done = {r["id"] for run in runs if run["model"] == model
                            for r in _run_records(run, db, ion, plan) if r["status"] == "ok"}
                    gid = [i for i in ids if group_of[i] == "framework" and i not in done]
                else:
                    gid = []
                items = [StructureInput(i, *approximant(i)) for i in gid]
            else:
                gid = [i for i in ids if group_of[i] == g]
                items = [StructureInput(i, plan.entries[i].cif, keys[i][0], keys[i][1]) for i in gid]
            if not gid:
                continue
            logger.info("validate: %s on %d %s structures", model, len(items), g)
            gs = dict(_GROUP_SETTINGS[g])
            if g in ("ordered", "framework"):
                gs["framework"] = _framework_for(model, framework)
            summ = screen(items, db, model=model, ion=ion, spacing=sp, connectivity=connectivity,
                          refine=refine, workers=workers, task=task, progress=progress, timeout_s=timeout_s, **gs)
            runs.append({"model": model, "group": g, "spacing": sp, "ids": gid, "summary": summ,
                         "framework": gs["framework"], "order": gs["order"],
                         "keys": {it.structure_id: it.key for it in items}})

    # ---- join with measurements
    per_id: dict[str, dict[str, dict]] = {}
    coverage = {}
    for run in runs:
        for rec in _run_records(run, db, ion, plan):
            cur = per_id.setdefault(run["model"], {}).get(rec["id"])
            if cur is None or cur["status"] != "ok":
                if cur is not None:
                    rec["fallback_from"] = f"{cur['group']}: {_short(cur['error'])}"
                per_id[run["model"]][rec["id"]] = rec
            cov = coverage.setdefault(run["model"], {"attempted": 0, "ok": 0, "failed": {}, "by_group": {}})
            bg = cov["by_group"].setdefault(run["group"], {"attempted": 0, "ok": 0})
            bg["attempted"] += 1
            bg["ok"] += rec["status"] == "ok"
    table: dict[str, list[dict]] = {m: sorted(d.values(), key=lambda r: r["id"]) for m, d in per_id.items()}
    for model, recs in table.items():
        cov = coverage[model]
        for rec in recs:
            cov["attempted"] += 1
            if rec["status"] == "ok":
                cov["ok"] += 1
            else:
                reason = f"{(rec['row'] or {}).get('error_type') or 'missing'}: {_short(rec['error'])}"
                cov["failed"].setdefault(reason, []).append(rec["id"])

    # ---- metrics
    names = list(DESCRIPTORS)
    metrics: dict[str, dict] = {}
    populations = []
    for model in models:
        ok = [r for r in table.get(model, []) if r["status"] == "ok"]
        populations.append((f"{model}", model, ok))
        # the cleanest population: ordered CIFs only, all in vacancy mode
        populations.append((f"{model}@ordered", model, [r for r in ok if r["group"] == "ordered"]))
        if disordered in ("majority", "order+majority"):  # without the crude approximants
            populations.append((f"{model}@no-majority", model, [r for r in ok if r["group"] != "majority"]))
    if subset and subset_models:
        sub = set(subset_ids)
        for model in models:
            if model in subset_models:
                continue
            ok = [r for r in table.get(model, []) if r["status"] == "ok" and r["id"] in sub]
            populations.append((f"{model}@subset", model, ok))
        # the like-for-like set: structures every model scored
        common = set.intersection(*[{r["id"] for r in table.get(m, []) if r["status"] == "ok"} for m in models])
        if len(models) > 1:
            for model in models:
                ok = [r for r in table.get(model, []) if r["status"] == "ok" and r["id"] in common]
                populations.append((f"{model}@common", model, ok))
    seen: dict[tuple, str] = {}
    kept = []
    for tag, model, recs in populations:  # a population identical to an earlier one of the same model adds nothing
        key = (model, tuple(sorted(r["id"] for r in recs)))
        if key in seen:
            continue
        seen[key] = tag
        kept.append((tag, model, recs))
    populations = kept
    files = []
    for tag, model, recs in populations:
        metrics[tag] = {"model": model, "n": len(recs), "n_superionic": int(sum(r["superionic"] for r in recs)),
                        "descriptors": {}}
        for name in names:
            metrics[tag]["descriptors"][name] = _metrics_block(recs, name, DESCRIPTORS[name], seed=seed,
                                                               n_boot=n_boot)
        if recs and "@" not in tag:
            files += _plots(out, tag, recs, ["mpe", "e3d", "fv_0.9", "fv_0.5", "xi", "xi_cell"])

    # ---- write
    with open(os.path.join(out, "structures.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "formula", "model", "group", "status", "log10_sigma", "censored", "superionic", *names,
                    "error"])
        for model in models:
            for r in table.get(model, []):
                w.writerow([r["id"], r["formula"], model, r["group"], r["status"], f"{r['log10_sigma']:.4f}",
                            r["censored"], r["superionic"],
                            *[(_value(r["row"], n) if r["status"] == "ok" else "") for n in names],
                            r["error"] or ""])
    result = {
        "coverage": {
            "obelix_rows": len(entries),
            "with_cif": sum(1 for e in entries if e.cif),
            "groups": {g: len(v) for g, v in plan.groups.items()},
            "unscored": _count_reasons(plan.unscored),
            "scorable": len(scorable),
            "subset_ids": subset_ids if subset else None,
            "per_model": {m: {"attempted": c["attempted"], "ok": c["ok"], "by_group": c["by_group"],
                              "failed": {k: sorted(v) for k, v in c["failed"].items()}}
                          for m, c in coverage.items()},
        },
        "metrics": metrics,
        "runs": [{"model": r["model"], "group": r["group"], "framework": r["framework"], "order": r["order"],
                  "spacing": r["spacing"], "n": len(r["ids"]),
                  "settings_hash": r["summary"].settings_hash, "computed": r["summary"].n_ok + r["summary"].n_failed,
                  "elapsed_s": round(r["summary"].elapsed_s, 1)} for r in runs],
        "elapsed_s": time.perf_counter() - t0,
        "files": [os.path.basename(f) for f in files],
        "command": command,
        "seed": seed,
    }
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(result, f, indent=1, default=_json_default)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(_report(result, models, spacing, subset, subset_models, subset_spacing, seed, disordered, subset_from))
    return result


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _short(err: str | None, n: int = 90) -> str:
    if not err:
        return "no row"
    e = " ".join(str(err).split())
    return e if len(e) <= n else e[: n - 3] + "..."


def _count_reasons(unscored: dict) -> dict:
    out: dict[str, int] = {}
    for reason in unscored.values():
        key = reason.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out


def _report(res: dict, models, spacing, subset, subset_models, subset_spacing, seed, disordered,
            subset_from="scorable") -> str:
    cov = res["coverage"]
    L = ["# ionnet validation against OBELiX", ""]
    if res.get("command"):
        L += ["Command:", "", "```", res["command"], "```", ""]
    L += [
        f"Models: {', '.join(models)}; spacing {spacing} Å"
        + (f"; {', '.join(subset_models)} on a random subset of {subset} structures "
           f"(the first {subset} of numpy default_rng({seed}).permutation of the sorted "
           f"{'ordered-CIF' if subset_from == 'ordered' else 'scorable'} ids) at {subset_spacing or spacing} Å"
           if subset and subset_models else "")
        + f". Wall time {res['elapsed_s'] / 60:.1f} min.",
        "",
        "Superionic: measured room-temperature σ ≥ 1e-4 S/cm. Censored values (`<1E-10`) are used at their bound "
        "(they are all far below 1e-4 S/cm, so labels are unaffected). Spearman ρ is of the raw descriptor with "
        "log10 σ (expected sign: negative for MPE/E2D/E3D, positive for FV and Xi); AUC and the top-10 % fraction "
        "rank by the descriptor's good direction (low energy, high FV/Xi); a structure that never percolates has "
        "threshold +inf (last). 95 % bootstrap intervals in brackets.",
        "",
        "## Coverage",
        "",
        f"- OBELiX rows: {cov['obelix_rows']}; with a CIF: {cov['with_cif']}",
        f"- ordered CIFs: {cov['groups'].get('ordered', 0)} (framework per model, see Runs); "
        f"disordered on Li sites only: "
        f"{cov['groups'].get('ion', 0)} (framework='empty': all Li removed, one map); disordered framework: "
        f"{cov['groups'].get('framework', 0)} ("
        + {"order": "order=True: ionnet.scan's Ewald-ranked ordering in a supercell of <= 200 sites, vacancy mode",
           "skip": "skipped",
           "majority": "majority approximant (each site its majority element, split sites dropped), "
                       "framework='empty'",
           "order+majority": "order=True where ionnet.scan can order it, else the majority approximant "
                             "(each site its majority element, split sites dropped) with framework='empty'",
           }[disordered] + ")",
        f"- not scorable: {', '.join(f'{k}: {v}' for k, v in cov['unscored'].items()) or 'none'}",
        f"- scorable structures in this run: {cov['scorable']}",
        "",
        "Scored / attempted per group (a structure that order=True cannot order and the approximant then scores "
        "counts as attempted in both groups, scored once):",
        "",
        "| model | structures | scored | " + " | ".join(_GROUP_NAMES[g] for g in _GROUP_NAMES) + " |",
        "|---|---|---|" + "---|" * len(_GROUP_NAMES),
    ]
    for m, c in cov["per_model"].items():
        bg = c["by_group"]
        cells = [f"{bg[g]['ok']}/{bg[g]['attempted']}" if g in bg else "–" for g in _GROUP_NAMES]
        L.append(f"| {m} | {c['attempted']} | {c['ok']} | " + " | ".join(cells) + " |")
    L.append("")
    for m, c in cov["per_model"].items():
        if c["failed"]:
            L.append(f"Not scored with {m}:")
            L.append("")
            for reason, ids in sorted(c["failed"].items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(ids[:12]) + (" ..." if len(ids) > 12 else "")
                L.append(f"- {len(ids)} × {reason} ({shown})")
            L.append("")
    L += ["## Metrics", ""]
    for tag, m in res["metrics"].items():
        L += [f"### {tag} (n = {m['n']}, superionic {m['n_superionic']})", "",
              "| descriptor | n | Spearman ρ | ROC AUC | superionic in top 10 % | base rate | never percolates |",
              "|---|---|---|---|---|---|---|"]
        for name, d in m["descriptors"].items():
            L.append(
                f"| {name} | {d['n']} | {_fmt(d['spearman'])} [{_fmt(d['spearman_ci'][0])}, {_fmt(d['spearman_ci'][1])}]"
                f" | {_fmt(d['auc'])} [{_fmt(d['auc_ci'][0])}, {_fmt(d['auc_ci'][1])}] | {_fmt(d['top10'])}"
                f" | {_fmt(d['base_rate'])} | {d['n_inf']} |")
        L.append("")
    L += ["## Figures", ""]
    for f in res["files"]:
        L.append(f"![{f}]({f})")
    L += ["", "## Runs", "",
          "| model | group | framework | order | spacing (Å) | structures | computed now | settings | seconds |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        L.append(f"| {r['model']} | {r['group']} | {r['framework']} | {r['order']} | {r['spacing']} | {r['n']} | "
                 f"{r['computed']} | `{r['settings_hash']}` | {r['elapsed_s']} |")
    L.append("")
    return "\n".join(L)
