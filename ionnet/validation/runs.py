"""The screening runs of a validation: which OBELiX CIFs each model scores, how, and what came back.

Each (model, disorder group) is one :func:`ionnet.screening.screen` call with
the group's settings; the stored rows are then joined with the measurements
(one record per model and structure, a fallback replacing a failure) and
split into the populations the metrics are computed on.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from ..screening import ScreenSummary, StructureInput, read_results, screen
from ..screening.tasks import Task
from ..settings import framework_name
from .datasets import DISORDERED_MODES, Plan, majority_approximant

__all__ = ["GROUP_SETTINGS", "GROUP_NAMES", "Options", "Run", "framework_for", "screen_groups", "join", "populations"]

logger = logging.getLogger(__name__)

#: Scan settings of each group (``framework`` of 'ordered' and 'framework' follows ``Options.framework``).
GROUP_SETTINGS = {
    "ordered": dict(framework="occupied", order=False),
    "ion": dict(framework="empty", order=False),        # only the mobile ions are disordered: remove them all
    "framework": dict(framework="occupied", order=True),  # ordered approximant (ionnet.scan order=True)
    "majority": dict(framework="empty", order=False),   # majority_approximant, mobile ions removed
}
GROUP_NAMES = {"ordered": "ordered CIF", "ion": "disordered on Li sites only",
               "framework": "disordered framework, order=True",
               "majority": "disordered framework, majority approximant"}


def framework_for(model: str, framework: str) -> str:
    """The framework mode of the ordered groups: ``'auto'`` is ``'empty'`` for BVSE, ``'occupied'`` otherwise."""
    if framework not in ("auto", "occupied", "vacancy", "empty"):  # 'vacancy' is the old name of 'occupied'
        raise DataError(f"`framework` must be 'auto', 'occupied' or 'empty' (got {framework!r})")
    if framework != "auto":
        return framework
    return "empty" if os.path.basename(str(model).rstrip("/")).lower().startswith("bvse") else "occupied"


@dataclass(frozen=True)
class Options:
    """The options of :func:`ionnet.validate`, checked once.

    Attributes
    ----------
    models : tuple of str
        Potentials to run, e.g. ``('bvse', 'm3gnet')``.
    spacing : float, Å
        Grid spacing of the full runs.
    subset : int or None
        Run the ``subset_models`` on this many structures only, drawn with
        ``numpy.random.default_rng(seed).permutation`` of the sorted scorable
        ids; metrics of the other models on the same subset are reported too.
    subset_models : tuple of str
        Models limited to the subset.
    subset_spacing : float or None, Å
        Grid spacing of the subset runs (default ``spacing``).
    subset_from : {'scorable', 'ordered'}
        Draw the subset from every scorable id, or from the ordered CIFs only.
    seed : int
        Subset and bootstrap seed.
    disordered : {'order', 'skip', 'majority', 'order+majority'}
        Framework-disordered CIFs: ``ionnet.scan(order=True)`` (an Ewald-ranked
        ordering in a supercell of <= 200 sites); left out; the crude
        :func:`~ionnet.validation.majority_approximant` with ``framework='empty'``;
        or ``order=True`` with the approximant as fallback for those it cannot
        order.  CIFs disordered on mobile-ion sites only always use ``framework='empty'``.
    framework : {'auto', 'occupied', 'empty'}
        Framework mode of the ordered and ``order=True`` groups.  ``'auto'``:
        ``'empty'`` for ``bvse`` (bond-valence site energies are computed with
        the mobile sublattice removed, as in softBV/BVlain; with the other Li
        frozen in place they block every channel) and ``'occupied'`` for the
        machine-learned models (the authors' choice).  The groups disordered
        on Li sites and the majority approximants always use ``'empty'``.
    limit : int or None
        Only the first ``limit`` scorable ids (sorted).
    ion, workers, connectivity, refine, timeout_s, task, progress
        Passed to :func:`ionnet.screen`.
    n_boot : int
        Bootstrap resamples of the 95 % intervals.
    command : str or None
        The command line, written into the report.
    missing_ion : {'error', 'framework'}
        ``'framework'``: a CIF of an empty-framework run that holds no ``ion`` (its
        refinement did not locate it) fails first, then is screened again with
        ``missing_ion='framework'`` (the CIF as given is the empty framework; the
        other rows keep their settings hash); ``'error'``: it stays unscored.
    n_configurations : int
        Ordered configurations per framework-disordered CIF (``order=True``): the
        descriptors are their mean, the spread is stored per row (1: the lowest-Ewald one).
    """

    models: tuple[str, ...]
    spacing: float
    subset: int | None
    subset_models: tuple[str, ...]
    subset_spacing: float | None
    subset_from: str
    seed: int
    ion: str
    disordered: str
    framework: str
    limit: int | None
    workers: int
    connectivity: int
    refine: bool
    n_boot: int
    timeout_s: float | None
    task: Task | str | None
    progress: bool
    command: str | None
    missing_ion: str = "error"
    n_configurations: int = 1

    def __post_init__(self) -> None:
        models = tuple(m.strip() for m in self.models if m.strip())
        if not models:
            raise DataError("`models` must name at least one potential, e.g. ['bvse']")
        framework_for("x", self.framework)  # check the choice before any work
        if self.disordered not in DISORDERED_MODES:
            raise DataError(f"`disordered` must be one of {', '.join(DISORDERED_MODES)} (got {self.disordered!r})")
        if isinstance(self.n_configurations, bool) or not isinstance(self.n_configurations, int) \
                or self.n_configurations < 1:
            raise DataError(f"`n_configurations` must be a positive integer (got {self.n_configurations!r})")
        if self.missing_ion not in ("error", "framework"):
            raise DataError(f"`missing_ion` must be 'error' or 'framework' (got {self.missing_ion!r})")
        if self.subset and self.subset_from not in ("scorable", "ordered"):
            raise DataError(f"`subset_from` must be 'scorable' or 'ordered' (got {self.subset_from!r})")
        object.__setattr__(self, "models", models)
        object.__setattr__(self, "subset_models", tuple(m for m in self.subset_models if m in models))

    def spacing_of(self, model: str) -> float:
        return (self.subset_spacing or self.spacing) if model in self.subset_models else self.spacing


@dataclass
class Run:
    """One screen call: a model on one disorder group."""

    model: str
    group: str
    spacing: float
    ids: list[str]
    summary: ScreenSummary
    framework: str
    order: bool
    keys: dict[str, str] = field(default_factory=dict)


def select(plan: Plan, opts: Options) -> tuple[list[str], list[str]]:
    """``(scorable, subset)`` ids: sorted, limited by ``limit``; the subset drawn with ``default_rng(seed)``."""
    scorable = sorted(i for g in plan.groups.values() for i in g)
    if opts.limit:
        scorable = scorable[: int(opts.limit)]
    if not opts.subset:
        return scorable, scorable
    group_of = plan.group_of()
    pool = [i for i in scorable if opts.subset_from == "scorable" or group_of[i] == "ordered"]
    perm = np.random.default_rng(opts.seed).permutation(np.array(pool, dtype=object))
    return scorable, sorted(str(x) for x in perm[: int(opts.subset)])


class _Approximants:
    """Majority approximants of framework-disordered CIFs, written once under ``out/approximants``."""

    def __init__(self, out: str, plan: Plan, ion: str):
        self.folder, self.plan, self.ion = os.path.join(out, "approximants"), plan, ion
        self.made: dict[str, StructureInput] = {}

    def __call__(self, i: str) -> StructureInput:
        if i not in self.made:
            from pymatgen.io.cif import CifWriter

            os.makedirs(self.folder, exist_ok=True)
            from ..io.files import safe_name

            path = os.path.join(self.folder, f"{safe_name(i)}.cif")  # an id never names a path outside --out
            try:
                CifWriter(majority_approximant(self.plan.entries[i].cif, self.ion)).write_file(path)
                self.made[i] = StructureInput.from_path(i, path)
            except Exception as e:  # noqa: BLE001 - recorded as this structure's failure
                missing = StructureInput.from_path(i, path + ".missing")
                self.made[i] = StructureInput(i, path, missing.key, f"majority approximant failed: {e}")
        return self.made[i]


def _group_inputs(g: str, model: str, ids: list[str], plan: Plan, opts: Options, runs: list[Run], db: str | os.PathLike,
                  approximant: _Approximants) -> list[StructureInput]:
    """The inputs of one (model, group) run."""
    group_of = plan.group_of()
    if g != "majority":
        if g == "framework" and opts.disordered not in ("order", "order+majority"):
            return []
        return [StructureInput.from_path(i, plan.entries[i].cif) for i in ids if group_of[i] == g]
    if opts.disordered == "majority":
        gid = [i for i in ids if group_of[i] == "framework"]
    elif opts.disordered == "order+majority":
        done = {r["id"] for run in runs if run.model == model for r in run_records(run, db, opts.ion, plan)
                if r["status"] == "ok"}
        gid = [i for i in ids if group_of[i] == "framework" and i not in done]
    else:
        gid = []
    return [approximant(i) for i in gid]


def screen_groups(plan: Plan, opts: Options, db: str | os.PathLike, out: str, scorable: list[str], subset_ids: list[str]) -> list[Run]:
    """Screen every (model, group) with the group's settings; one :class:`Run` each."""
    approximant = _Approximants(out, plan, opts.ion)
    runs: list[Run] = []
    for model in opts.models:
        ids = subset_ids if model in opts.subset_models else scorable
        for g in ("ordered", "ion", "framework", "majority"):
            items = _group_inputs(g, model, ids, plan, opts, runs, db, approximant)
            if not items:
                continue
            logger.info("validate: %s on %d %s structures", model, len(items), g)
            gs = dict(GROUP_SETTINGS[g])
            if g in ("ordered", "framework"):
                gs["framework"] = framework_for(model, opts.framework)
            if gs["order"] and opts.n_configurations > 1:
                gs["n_configurations"] = opts.n_configurations
            runs.append(_screen_run(model, g, items, db, opts, gs))
            if opts.missing_ion == "framework" and framework_name(gs["framework"]) == "empty":
                runs += _without_ion(runs[-1], items, db, opts, gs)
    return runs


def _screen_run(model: str, group: str, items: list[StructureInput], db: str | os.PathLike, opts: Options,
                gs: dict) -> Run:
    """One :func:`ionnet.screen` call of ``model`` on ``items`` with the group settings ``gs``."""
    summ = screen(items, db, model=model, ion=opts.ion, spacing=opts.spacing_of(model), connectivity=opts.connectivity,
                  refine=opts.refine, workers=opts.workers, task=opts.task, progress=opts.progress,
                  timeout_s=opts.timeout_s, **gs)
    return Run(model, group, opts.spacing_of(model), [it.structure_id for it in items], summ, gs["framework"],
               gs["order"], {it.structure_id: it.key for it in items})


def _without_ion(run: Run, items: list[StructureInput], db: str | os.PathLike, opts: Options, gs: dict) -> list[Run]:
    """The structures of ``run`` that failed for holding no ``ion``, screened again as their own empty framework."""
    failed = {r["structure_key"] for r in read_results(db, model=run.model, ion=opts.ion,
                                                       settings_hash=run.summary.settings_hash, status="failed")
              if f"contains no {opts.ion};" in (r.get("error") or "")}
    again = [it for it in items if it.key in failed]
    if not again:
        return []
    logger.info("validate: %s on %d %s structures without %s, as the empty framework", run.model, len(again),
                run.group, opts.ion)
    return [_screen_run(run.model, run.group, again, db, opts, dict(gs, missing_ion="framework"))]


def run_records(run: Run, db: str | os.PathLike, ion: str, plan: Plan) -> list[dict]:
    """One record per structure of a run: the stored row joined with the measurement."""
    rows = {r["structure_key"]: r for r in read_results(db, model=run.model, ion=ion,
                                                        settings_hash=run.summary.settings_hash, status=None)}
    out = []
    for i in run.ids:
        e = plan.entries[i]
        row = rows.get(run.keys[i])
        out.append({"id": i, "formula": e.formula, "group": run.group, "log10_sigma": e.log10_sigma,
                    "censored": e.censored, "superionic": e.superionic, "row": row or {}, "model": run.model,
                    "status": row["status"] if row else "missing", "error": (row or {}).get("error")})
    return out


def short(err: str | None, n: int = 90) -> str:
    """An error on one line of at most ``n`` characters."""
    if not err:
        return "no row"
    e = " ".join(str(err).split())
    return e if len(e) <= n else e[: n - 3] + "..."


def join(runs: list[Run], db: str | os.PathLike, ion: str, plan: Plan) -> tuple[dict[str, list[dict]], dict[str, dict]]:
    """``(table, coverage)``: per model, one record per structure (a later success replaces a failure,
    noting ``fallback_from``) and the counts of attempts, successes and failure reasons."""
    per_id: dict[str, dict[str, dict]] = {}
    coverage: dict[str, dict] = {}
    seen: set[tuple[str, str, str]] = set()
    for run in runs:
        for rec in run_records(run, db, ion, plan):
            cur = per_id.setdefault(run.model, {}).get(rec["id"])
            if cur is None or cur["status"] != "ok":
                if cur is not None:
                    rec["fallback_from"] = f"{cur['group']}: {short(cur['error'])}"
                per_id[run.model][rec["id"]] = rec
            cov = coverage.setdefault(run.model, {"attempted": 0, "ok": 0, "failed": {}, "by_group": {}})
            bg = cov["by_group"].setdefault(run.group, {"attempted": 0, "ok": 0})
            if (run.model, run.group, rec["id"]) not in seen:  # a retry in the same group is one attempt
                seen.add((run.model, run.group, rec["id"]))
                bg["attempted"] += 1
            bg["ok"] += rec["status"] == "ok"
    table = {m: sorted(d.values(), key=lambda r: r["id"]) for m, d in per_id.items()}
    for model, recs in table.items():
        cov = coverage[model]
        for rec in recs:
            cov["attempted"] += 1
            if rec["status"] == "ok":
                cov["ok"] += 1
            else:
                reason = f"{(rec['row'] or {}).get('error_type') or 'missing'}: {short(rec['error'])}"
                cov["failed"].setdefault(reason, []).append(rec["id"])
    return table, coverage


def populations(table: dict[str, list[dict]], opts: Options, subset_ids: list[str]) -> list[tuple[str, str, list[dict]]]:
    """``(tag, model, records)`` of every population scored: all, ordered CIFs only, without approximants,
    the subset, and the structures every model scored; one identical to an earlier one is left out."""
    ok = {m: [r for r in table.get(m, []) if r["status"] == "ok"] for m in opts.models}
    out = []
    for model in opts.models:
        out.append((model, model, ok[model]))
        for g in ("ordered", "ion", "framework"):  # per disorder group (bootstrap intervals as everywhere)
            out.append((f"{model}@{g}", model, [r for r in ok[model] if r["group"] == g]))
        if opts.disordered in ("majority", "order+majority"):
            out.append((f"{model}@no-majority", model, [r for r in ok[model] if r["group"] != "majority"]))
    if opts.subset and opts.subset_models:
        sub = set(subset_ids)
        out += [(f"{m}@subset", m, [r for r in ok[m] if r["id"] in sub]) for m in opts.models
                if m not in opts.subset_models]
        common = set.intersection(*[{r["id"] for r in ok[m]} for m in opts.models])
        if len(opts.models) > 1:
            out += [(f"{m}@common", m, [r for r in ok[m] if r["id"] in common]) for m in opts.models]
    seen, kept = set(), []
    for tag, model, recs in out:
        key = (model, tuple(sorted(r["id"] for r in recs)))
        if key not in seen:
            seen.add(key)
            kept.append((tag, model, recs))
    return kept
