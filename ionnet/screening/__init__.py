"""High-throughput screening: many structures in, one SQLite table of descriptors out.

:func:`screen` runs one *task* per structure (by default ``ionnet.scan`` then
:func:`ionnet.analyze` then :func:`ionnet.descriptors.descriptor_row`)
serially, on a local process pool or on a dask.distributed cluster, and this
process commits each result to SQLite as soon as it arrives; :func:`rank`
reads the table back, sorted by a descriptor.  One concern per module:
:mod:`.inputs` (folders, globs, CSV), :mod:`.tasks` (one structure, time
limit), :mod:`.runners` (serial, pool, dask), :mod:`.store` (the database)
and :mod:`.ranking`.

Crash safety
------------
A row is keyed by ``(structure_key, model, ion, settings_hash)``, where
``structure_key`` is the SHA-256 of the structure file's bytes and
``settings_hash`` the hash of :class:`ionnet.settings.ScreenSettings` (every
setting that changes the energies).  After a crash or SIGKILL at any moment, a
rerun skips every structure that already has a row, so nothing is lost and
nothing is stored twice; failed rows are skipped too unless ``retry_failed=True``.

Example: three stand-in structures screened with a task that returns an
analytic field instead of scanning, then ranked::

    >>> import numpy as np, os, tempfile, ionnet
    >>> from ionnet.screening import screen, rank
    >>> d = tempfile.mkdtemp()
    >>> for i, a in enumerate([0.3, 0.1, 0.6]):
    ...     _ = open(os.path.join(d, f"s{i}.cif"), "w").write(f"# amplitude {a}\\n")
    >>> def cosine_task(path, settings):            # a stand-in for ionnet.scan
    ...     a = float(open(path).read().split()[-1])
    ...     E = ionnet.data.cosine_field((8, 8, 8), (a, 2 * a, 3 * a))
    ...     return ionnet.EnergyGrid(E, np.eye(3) * 4.0)
    >>> s = screen(d, os.path.join(d, "r.sqlite"), model="toy", task=cosine_task)
    >>> s.n_ok, s.n_failed
    (3, 0)
    >>> [(r["structure_id"], round(r["mpe"], 6)) for r in rank(os.path.join(d, "r.sqlite"), by="mpe")]
    [('s1', 0.2), ('s0', 0.6), ('s2', 1.2)]
"""
from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import BackendUnavailableError, ScreenError, TaskTimeout
from ..settings import DEFAULT_CONNECTIVITY, DEFAULT_THRESHOLDS, ScanSettings, ScreenSettings, check_thresholds
from .inputs import STRUCTURE_SUFFIXES, StructureInput, collect_inputs, file_key
from .ranking import RANK_KEYS, rank
from .runners import run_dask, run_pool, run_serial
from .store import SCHEMA_VERSION, connect, existing_status, model_key, read_results, record
from .tasks import Task, resolve_task, run_one, scan_task, task_identity

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = [
    "screen",
    "rank",
    "read_results",
    "collect_inputs",
    "file_key",
    "scan_task",
    "run_one",
    "ScreenSettings",
    "ScreenSummary",
    "StructureInput",
    "TaskTimeout",
    "RANK_KEYS",
    "SCHEMA_VERSION",
    "STRUCTURE_SUFFIXES",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScreenSummary:
    """What one :func:`screen` call did.

    Attributes
    ----------
    db : str
    settings_hash : str
    n_inputs : int
        Structure files found.
    n_unique : int
        Distinct structures among them (by file content).
    n_skipped : int
        Already in the database (ok rows, and failed rows without ``retry_failed``).
    n_ok, n_failed : int
        Computed in this call.
    elapsed_s : float
    failures : list of (structure_id, error)
        This call's failures.
    """

    db: str
    settings_hash: str
    n_inputs: int
    n_unique: int
    n_skipped: int
    n_ok: int
    n_failed: int
    elapsed_s: float
    failures: list = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["failures"] = [list(f) for f in self.failures]
        return d

    def summary(self) -> str:
        n = self.n_ok + self.n_failed
        lines = [f"{self.n_inputs} inputs ({self.n_unique} distinct), {self.n_skipped} already in {self.db}"]
        if n:
            lines.append(f"computed {n}: {self.n_ok} ok, {self.n_failed} failed in {self.elapsed_s:.1f} s "
                         f"({n / max(self.elapsed_s, 1e-9) * 3600:.0f} structures/h)")
        else:
            lines.append("nothing to compute (failed rows are kept; retry_failed=True recomputes them)")
        for sid, err in self.failures[:20]:
            lines.append(f"  failed {sid}: {err}")
        if len(self.failures) > 20:
            lines.append(f"  ... {len(self.failures) - 20} more failures, stored in {self.db}")
        return "\n".join(lines)


def _check(workers: int, timeout_s: float | None, task: Task | str | None) -> None:
    if workers is None or int(workers) < 1:
        raise ScreenError(f"`workers` must be >= 1 (got {workers!r})")
    if timeout_s is not None and not timeout_s > 0:
        raise ScreenError(f"`timeout_s` must be > 0 seconds or None (got {timeout_s!r})")
    if task is not None and not callable(task):
        resolve_task(task)  # fail early on a bad 'module:function'


def _todo(con: sqlite3.Connection, unique: dict[str, StructureInput], settings: ScreenSettings, shash: str,
          retry_failed: bool) -> tuple[list[StructureInput], int]:
    """The inputs without a row to keep, and how many are skipped."""
    existing = existing_status(con, settings, shash)
    todo = [it for key, it in unique.items()
            if not (existing.get(key) == "ok" or (existing.get(key) == "failed" and not retry_failed))]
    return todo, len(unique) - len(todo)


def _store(con: sqlite3.Connection, rows: Iterator[dict], settings: ScreenSettings, shash: str, n: int,
           progress: bool) -> tuple[int, int, list[tuple[str, str]]]:
    """Record each row as it arrives; (ok, failed, failures).  A fatal row (model unavailable) stops the batch."""
    from ..progress import progress_bar

    n_ok = n_failed = 0
    failures: list[tuple[str, str]] = []
    bar = progress_bar(n, "screen", unit="struct", mode=progress if n else False)  # a bar, or lines in a log
    try:
        for row in rows:
            if row.get("fatal"):
                raise BackendUnavailableError(
                    f"model {settings.model!r} is unavailable ({row['error']}); {n_ok + n_failed} results stored, "
                    "rerun to continue"
                )
            record(con, row, settings, shash)
            if row["status"] == "ok":
                n_ok += 1
            else:
                n_failed += 1
                failures.append((row["structure_id"], f"{row.get('error_type')}: {row.get('error')}"))
                logger.info("failed %s: %s", row["structure_id"], row.get("error"))
            bar.update(1)
            bar.set_postfix(ok=n_ok, failed=n_failed, refresh=False)
    finally:
        bar.close()
        close = getattr(rows, "close", None)
        if close is not None:
            close()  # shut a pool down on error / interrupt
    return n_ok, n_failed, failures


def _rows(specs: list[dict], workers: int, initargs: tuple, dask_address: str | Client | LocalCluster | None,
          mp_context: str | None) -> Iterator[dict]:
    """The rows of the specs, from the runner asked for."""
    if dask_address is not None:
        return run_dask(specs, dask_address)
    if int(workers) > 1 and len(specs) > 1:
        return run_pool(specs, int(workers), initargs, mp_context)
    return run_serial(specs)


def _screen_settings(settings: ScanSettings | None, connectivity: int, task: Task | str | None,
                     options: dict[str, Any]) -> ScreenSettings:
    base = (settings or ScanSettings()).replace(**options)
    return ScreenSettings(**{**vars(base), "model": model_key(base.model), "connectivity": connectivity,
                             "task": task_identity(task)})


def _items(inputs: str | os.PathLike | Iterable[str | os.PathLike] | Sequence[StructureInput], path_column: str, id_column: str | None) -> tuple[list[StructureInput],
                                                                         dict[str, StructureInput]]:
    """Every input, and the first input of each distinct content (by key)."""
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, StructureInput) for i in inputs):
        items = list(inputs)
    else:
        items = collect_inputs(inputs, path_column=path_column, id_column=id_column)
    unique: dict[str, StructureInput] = {}
    for it in items:
        unique.setdefault(it.key, it)
    return items, unique


def _unreadable_row(it: StructureInput) -> dict:
    return {"key": it.key, "structure_id": it.structure_id, "path": it.path, "status": "failed",
            "error_type": "StructureError", "error": it.error, "descriptors": None, "fv_curve": None}


def screen(
    inputs: str | os.PathLike | Iterable[str | os.PathLike] | Sequence[StructureInput],
    db: str | os.PathLike,
    *,
    settings: ScanSettings | None = None,
    connectivity: int = DEFAULT_CONNECTIVITY, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
    workers: int = 1, threads_per_worker: int | None = 1, dask_address: str | Client | LocalCluster | None = None,
    mp_context: str | None = None, save_grids: str | os.PathLike | None = None, retry_failed: bool = False,
    timeout_s: float | None = None, path_column: str = "path", id_column: str | None = None,
    task: Task | str | None = None, progress: bool = False,
    **options: Any,
) -> ScreenSummary:
    """Scan and analyse many structures; store one row of descriptors per structure in SQLite.

    Parameters
    ----------
    inputs : folder, glob, CSV or structure path, a list of them, or a list of StructureInput
        See :func:`collect_inputs` (``path_column``, ``id_column``: the CSV's columns).
    db : path
        SQLite file (created if missing, WAL mode).
    settings : ScanSettings, optional
        The scan options; ``options`` (any field of :class:`~ionnet.ScanSettings`:
        ``model``, ``ion``, ``spacing``, ``framework``...) override its fields.
    connectivity : {6, 18, 26}
        Grid connectivity of :func:`ionnet.analyze`.
    thresholds : sequence of float, eV
        Free-volume thresholds stored as ``fv_<t>`` (and the FV(t) curve, 0-3 eV in 0.01 eV steps).
    workers, threads_per_worker, mp_context : int, int or None, {'forkserver', 'spawn'}
        1 worker: in this process; more: a local process pool with that start
        method, each worker with ``threads_per_worker`` torch/BLAS threads.
    dask_address : str, LocalCluster or distributed.Client, optional
        Run the tasks on this dask cluster instead (``workers`` is ignored).
    save_grids, retry_failed : folder or None, bool
        Keep each structure's energy grids as ``.npz`` there; recompute the rows stored as 'failed'.
    timeout_s : float, optional
        Give up on a structure after this many seconds (``TaskTimeout`` row); not on dask workers.
    task : callable, 'module:function' or 'file.py:function', optional
        Replaces :func:`scan_task`: ``task(path, settings_dict) -> EnergyGrid | ScanResult``
        (:class:`~ionnet.settings.ScreenSettings` as a dict); importable by name in the workers.
    progress : bool
        tqdm bar with ETA on stderr.

    Returns
    -------
    ScreenSummary

    Raises
    ------
    StructureError, BackendUnavailableError
        An input matches no file; the model cannot be loaded (the batch stops, stored rows are kept).
    GridError, ScanError, ScreenError
        A bad setting (named in the message).
    """
    t_start = time.perf_counter()
    _check(workers, timeout_s, task)
    settings = _screen_settings(settings, connectivity, task, options)
    if task is None:  # a misspelt model or ion fails here, before the database is opened
        from ..potentials import check_model_name
        from ..scanning.structure import element

        check_model_name(settings.model)
        element(settings.ion)
    if save_grids:  # an unwritable folder fails now, not as a failure on every row
        from ..io.files import check_folder

        check_folder(save_grids, option="--save-grids")
    shash = settings.hash()
    run = {"settings": settings.to_dict(), "settings_hash": shash, "thresholds": check_thresholds(thresholds),
           "task": task, "timeout_s": timeout_s, "save_grids": os.fspath(save_grids) if save_grids else None,
           "threads": threads_per_worker if dask_address is not None else None}
    items, unique = _items(inputs, path_column, id_column)
    con = connect(db)
    try:
        todo, n_skipped = _todo(con, unique, settings, shash, retry_failed)
        unreadable = [it for it in todo if it.error is not None]
        for it in unreadable:  # missing or unreadable: recorded, nothing run
            record(con, _unreadable_row(it), settings, shash)
        specs = [{"structure_id": it.structure_id, "path": it.path, "key": it.key, **run}
                 for it in todo if it.error is None]
        logger.info("screen: %d inputs, %d distinct, %d skipped, %d to run (settings %s)",
                    len(items), len(unique), n_skipped, len(specs), shash)
        rows = _rows(specs, workers, (threads_per_worker, task, run["settings"], os.getpid()), dask_address, mp_context)
        n_ok, n_failed, failures = _store(con, rows, settings, shash, len(specs), progress)
    finally:
        con.close()
    return ScreenSummary(
        db=os.fspath(db), settings_hash=shash, n_inputs=len(items), n_unique=len(unique), n_skipped=n_skipped,
        n_ok=n_ok, n_failed=n_failed + len(unreadable), elapsed_s=time.perf_counter() - t_start,
        failures=[(it.structure_id, it.error) for it in unreadable] + failures,
    )
