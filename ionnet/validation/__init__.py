"""Validation of screening descriptors against measured ionic conductivity (OBELiX).

:func:`validate` screens the OBELiX CIFs, group by group of disorder
(:mod:`.datasets`, :mod:`.runs`), joins the descriptors with the measured
conductivities and scores each descriptor (:mod:`.metrics`: Spearman, ROC
AUC, top-10 % fraction, bootstrap intervals), then writes a markdown report
with scatter plots and ROC curves (:mod:`.report`).
"""
from __future__ import annotations

import os
import time
from collections.abc import Sequence

from ..settings import DEFAULT_CONNECTIVITY, ScanSettings
from ..screening.tasks import Task
from . import report
from .datasets import (
    DISORDERED_MODES,
    SUPERIONIC_S_CM,
    ObelixEntry,
    Plan,
    classify_disorder,
    load_obelix,
    majority_approximant,
    parse_conductivity,
    plan_obelix,
)
from .metrics import DESCRIPTORS, bootstrap_ci, control_metrics, descriptor_metrics, roc_auc, roc_curve, spearman, top_fraction
from .activation import activation_metrics, find_laskowski, join_activation, load_laskowski_ea, sigma_metrics
from .runs import Options, Run, join, populations, screen_groups, select

__all__ = [
    "validate",
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
    "Plan",
    "DESCRIPTORS",
    "DISORDERED_MODES",
    "SUPERIONIC_S_CM",
]


def _count_reasons(unscored: dict[str, str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for reason in unscored.values():
        key = reason.split(":")[0]
        out[key] = out.get(key, 0) + 1
    return out


def _measured_ea(data: str | os.PathLike, activation: str | os.PathLike | None) -> dict[str, float]:
    """OBELiX id -> measured Ea (eV) from the Laskowski 2023 table; ``'auto'``: the folder beside ``data``."""
    if activation is None or activation == "none":
        return {}
    path = find_laskowski(data) if activation == "auto" else os.fspath(activation)
    if path is None:
        return {}
    return join_activation(os.path.join(os.fspath(data), "obelix.csv"), load_laskowski_ea(path))


def _metrics(pops: list[tuple[str, str, list[dict]]], opts: Options, out: str,
             measured_ea: dict[str, float] | None = None) -> tuple[dict, list[str]]:
    """Per population, every descriptor's metrics, the measured-Ea and σ(300 K) comparisons;
    the figures of the whole populations."""
    metrics, files = {}, []
    for tag, model, recs in pops:
        metrics[tag] = {"model": model, "n": len(recs), "n_superionic": int(sum(r["superionic"] for r in recs)),
                        "descriptors": {name: descriptor_metrics(recs, name, higher, seed=opts.seed, n_boot=opts.n_boot)
                                        for name, higher in DESCRIPTORS.items()}}
        metrics[tag]["descriptors"].update(control_metrics(recs, seed=opts.seed, n_boot=opts.n_boot))
        if measured_ea:
            metrics[tag]["activation"] = activation_metrics(recs, measured_ea)
        metrics[tag]["sigma_300"] = sigma_metrics(recs)
        if recs and "@" not in tag:
            files += report.plots(out, tag, recs)
    return metrics, files


def _result(entries: list[ObelixEntry], plan: Plan, scorable: list[str], subset_ids: list[str],
            coverage: dict[str, dict], metrics: dict, runs: list[Run], files: list[str], opts: Options) -> dict:
    """The ``metrics.json`` object."""
    return {
        "coverage": {
            "obelix_rows": len(entries),
            "with_cif": sum(1 for e in entries if e.cif),
            "groups": {g: len(v) for g, v in plan.groups.items()},
            "unscored": _count_reasons(plan.unscored),
            "scorable": len(scorable),
            "subset_ids": subset_ids if opts.subset else None,
            "per_model": {m: {"attempted": c["attempted"], "ok": c["ok"], "by_group": c["by_group"],
                              "failed": {k: sorted(v) for k, v in c["failed"].items()}}
                          for m, c in coverage.items()},
        },
        "metrics": metrics,
        "runs": [{"model": r.model, "group": r.group, "framework": r.framework, "order": r.order,
                  "spacing": r.spacing, "n": len(r.ids), "settings_hash": r.summary.settings_hash,
                  "computed": r.summary.n_ok + r.summary.n_failed, "elapsed_s": round(r.summary.elapsed_s, 1)}
                 for r in runs],
        "elapsed_s": None,
        "files": [os.path.basename(f) for f in files],
        "command": opts.command,
        "seed": opts.seed,
    }


def validate(
    data: str | os.PathLike, db: str | os.PathLike, out: str | os.PathLike, *,
    models: Sequence[str] = ("bvse",), spacing: float = ScanSettings.spacing, subset: int | None = None,
    subset_models: Sequence[str] | None = None, subset_spacing: float | None = None, subset_from: str = "scorable",
    seed: int = 0, ion: str = ScanSettings.ion, disordered: str = "order", framework: str = "auto",
    limit: int | None = None, workers: int = 1, connectivity: int = DEFAULT_CONNECTIVITY, refine: bool = False,
    n_boot: int = 1000, timeout_s: float | None = None, task: Task | str | None = None, progress: bool = False,
    command: str | None = None, activation: str | os.PathLike | None = "auto", missing_ion: str = "error",
    n_configurations: int = 1,
) -> dict:
    """Screen the OBELiX CIFs and score each descriptor against measured conductivity.

    Parameters
    ----------
    data : folder
        OBELiX folder with ``obelix.csv`` and ``cifs/``.
    db : path
        SQLite database of :func:`ionnet.screen` (reused: finished structures are not recomputed).
    out : folder
        Report folder: ``report.md``, ``metrics.json``, ``structures.csv``,
        ``scatter_<model>.png``, ``roc_<model>.png``.
    models : sequence of str
        Potentials to run, e.g. ``('bvse', 'm3gnet')``; ``spacing`` (Å) of their runs.
    subset, subset_models, subset_spacing, subset_from, seed
        Run ``subset_models`` (default: all but ``'bvse'``) on ``subset`` structures only, at
        ``subset_spacing``, drawn with ``default_rng(seed)`` from the scorable or the ordered CIFs.
    disordered : {'order', 'skip', 'majority', 'order+majority'}
        What to do with framework-disordered CIFs.
    framework : {'auto', 'occupied', 'empty'}
        Framework mode of the ordered and ``order=True`` groups (``'auto'``: empty for BVSE).
    limit : int, optional
        Only the first ``limit`` scorable ids (sorted) - for quick trials.
    ion, workers, connectivity, refine, timeout_s, task, progress
        Passed to :func:`ionnet.screen`.
    n_boot : int
        Bootstrap resamples of the 95 % intervals.
    command : str, optional
        The command line, written into the report.
    missing_ion : {'error', 'framework'}
        ``'framework'``: an empty-framework CIF that holds no ``ion`` is screened again as
        its own empty framework (:class:`~ionnet.ScanSettings` ``missing_ion``); ``'error'``:
        it stays unscored.
    n_configurations : int
        Ordered configurations of each framework-disordered CIF: descriptors are their mean,
        the per-configuration values and spread are stored (``ionnet rank`` shows mean ± spread).
    activation : folder, 'auto', 'none' or None
        The Laskowski 2023 folder of measured activation energies, joined by ICSD id
        (:mod:`ionnet.validation.activation`); ``'auto'``: ``<data>/../laskowski2023`` when it
        exists; ``'none'``/None: no comparison.  MPE and the transport ``ea`` are compared with them
        (n, Spearman, MAE) per population.

    The options are explained in full in :class:`ionnet.validation.runs.Options`.

    Returns
    -------
    dict
        ``coverage``, ``metrics`` (per population and descriptor), ``runs`` and ``files``.

    Raises
    ------
    DataError
        A bad option, or no ``obelix.csv`` in ``data``.
    """
    t0 = time.perf_counter()
    if subset_models is None:
        subset_models = [m for m in models if m.strip() != "bvse"] if subset else []
    opts = Options(tuple(models), spacing, subset, tuple(subset_models), subset_spacing, subset_from, seed, ion,
                   disordered, framework, limit, workers, connectivity, refine, n_boot, timeout_s, task, progress,
                   command, missing_ion, n_configurations)
    out = os.fspath(out)
    entries = load_obelix(data)  # a missing or unreadable table fails before --out is created
    os.makedirs(out, exist_ok=True)
    plan = plan_obelix(entries, ion=ion, disordered=disordered)
    scorable, subset_ids = select(plan, opts)
    runs = screen_groups(plan, opts, db, out, scorable, subset_ids)
    table, coverage = join(runs, db, ion, plan)
    metrics, files = _metrics(populations(table, opts, subset_ids), opts, out, _measured_ea(data, activation))
    result = _result(entries, plan, scorable, subset_ids, coverage, metrics, runs, files, opts)
    result["elapsed_s"] = time.perf_counter() - t0
    report.write(out, result, table, opts)
    return result
