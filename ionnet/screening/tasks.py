"""One screening task: a structure file in, one row of descriptors out (never raises for a structure problem).

:func:`run_one` runs the task (by default :func:`scan_task`: ``ionnet.scan``
with the screen's settings) under a time limit, analyses the grids and returns
the row to store.  It runs in the screening process, in pool workers and on
dask workers alike, so everything it needs travels in one picklable ``spec``.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from types import FrameType, ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BackendUnavailableError, IonnetError, ScreenError, TaskTimeout
from ..grid import EnergyGrid, ScanResult
from ..settings import DEFAULT_CONNECTIVITY, DEFAULT_THRESHOLDS, ScanSettings
from .store import FV_CURVE_MAX_EV, FV_CURVE_STEP_EV

if TYPE_CHECKING:
    from ..analysis import Percolation
    from ..potentials import Potential

__all__ = ["Task", "resolve_task", "task_identity", "scan_task", "run_one", "set_threads", "load_potential"]

logger = logging.getLogger(__name__)

#: ``task(path, settings) -> EnergyGrid | ScanResult | list of EnergyGrid``.
Task = Callable[[str, dict], Any]

_TASKS: dict[str, Task] = {}
_POTENTIALS: dict[tuple[str, str], Potential] = {}
_THREADS: int | None = None


def task_identity(task: Task | str | None) -> str:
    """The name a task is stored under in the settings hash."""
    if task is None:
        return "ionnet.scan"
    if isinstance(task, str):
        mod, sep, fn = task.rpartition(":")
        return f"{os.path.abspath(mod)}:{fn}" if sep and mod.endswith(".py") else task
    return f"{getattr(task, '__module__', '?')}:{getattr(task, '__qualname__', repr(task))}"


def _import_file(path: str) -> ModuleType:
    name = "_ionnet_task_" + hashlib.sha256(path.encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ScreenError(f"cannot load task file {path}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def resolve_task(task: Task | str | None) -> Task:
    """None -> :func:`scan_task`; a callable; or ``'pkg.mod:func'`` / ``'/path/file.py:func'``.

    Raises
    ------
    ScreenError
        Not a callable or a loadable ``module:function``.
    """
    if task is None or task == "ionnet.scan":
        return scan_task
    if callable(task):
        return task
    if not isinstance(task, str) or ":" not in task:
        raise ScreenError(f"`task` must be a callable or 'module:function' / 'file.py:function' (got {task!r})")
    if task not in _TASKS:
        mod_name, _, fn = task.rpartition(":")
        mod = _import_file(os.path.abspath(mod_name)) if mod_name.endswith(".py") else importlib.import_module(mod_name)
        try:
            _TASKS[task] = getattr(mod, fn)
        except AttributeError:
            raise ScreenError(f"task {task!r}: {mod_name} has no function {fn!r}") from None
    return _TASKS[task]


def set_threads(threads: int | None) -> None:
    """torch threads of this process for the tasks that follow (None: leave them)."""
    global _THREADS
    _THREADS = None if threads is None else int(threads)


def _apply_threads() -> None:
    if _THREADS is not None and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != _THREADS:
            torch.set_num_threads(_THREADS)


def load_potential(model: str, device: str) -> Potential:
    """The potential for ``model``, loaded once per process."""
    from ..potentials import get_potential

    if (model, device) not in _POTENTIALS:
        _POTENTIALS[(model, device)] = get_potential(model, device=device)
    _apply_threads()
    return _POTENTIALS[(model, device)]


def scan_task(path: str, settings: dict) -> ScanResult:
    """The default task: ``ionnet.scan`` of one structure file with the screen settings.

    The potential is loaded once per process and reused for every structure;
    ``ionnet.scan`` adapts a back end with a ``for_structure`` hook to each
    input (BVSE in the empty framework takes the charges of the whole
    structure, or those the ordering used).

    Parameters
    ----------
    path : str
        Structure file.
    settings : dict
        :class:`~ionnet.settings.ScreenSettings` as a dict.

    Returns
    -------
    ScanResult
        Each map's metadata also holds ``formula``, the input's reduced formula.
    """
    from ..io import read_structure
    from ..scanning import scan

    s = ScanSettings.from_dict(settings)
    structure = read_structure(path)
    pot = load_potential(s.model, s.device)  # scan() adapts it to the structure (its for_structure hook)
    grids = scan(structure, model=pot, settings=s, progress=False)
    for g in grids:
        g.metadata["formula"] = structure.composition.reduced_formula
    return grids


def _as_maps(grids: EnergyGrid | Iterable[EnergyGrid]) -> ScanResult:
    if isinstance(grids, ScanResult):
        return grids
    return ScanResult([grids] if isinstance(grids, EnergyGrid) else list(grids))


def _formula(grids: ScanResult, path: str) -> str | None:
    """Reduced formula of the input structure (not of the scanned framework, which lacks the probe)."""
    md = grids[0].metadata
    if md.get("formula"):
        return str(md["formula"])
    try:
        from ..io import read_structure

        return str(read_structure(path).composition.reduced_formula)
    except Exception:  # noqa: BLE001 - a custom task's input need not be a structure file
        return None


def _fv_curve(result: Percolation) -> list[float]:
    ts = np.round(np.arange(0.0, FV_CURVE_MAX_EV + 1e-9, FV_CURVE_STEP_EV), 10)
    return [round(float(x), 8) for x in np.atleast_1d(result.free_volume(ts))]


def _grid_file(spec: dict) -> str:
    """``save_grids/<id>-<key>-<model>-<settings>.npz``, the folder created."""
    safe = lambda t: "".join(c if c.isalnum() or c in "-_." else "_" for c in t)  # noqa: E731
    model = safe(os.path.basename(spec["settings"]["model"].rstrip("/")) or "model")
    os.makedirs(spec["save_grids"], exist_ok=True)
    name = f"{safe(spec['structure_id'])}-{spec['key'][:8]}-{model}-{spec['settings_hash'][:8]}.npz"
    return os.path.join(spec["save_grids"], name)


class _Alarm:
    """Raise :class:`~ionnet.TaskTimeout` after ``seconds`` (SIGALRM; main thread of a POSIX process only)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.active = bool(seconds) and hasattr(signal, "setitimer") and \
            threading.current_thread() is threading.main_thread()
        self.old: Any = None
        self.fired = False

    def _fire(self, signum: int, frame: FrameType | None) -> None:
        self.fired = True
        raise TaskTimeout(f"took longer than timeout_s = {self.seconds:g} s")

    def __enter__(self) -> "_Alarm":
        if self.active:
            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))
        return self

    def __exit__(self, *exc: object) -> bool:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


def _describe(e: BaseException, alarm: _Alarm) -> tuple[str, str]:
    """``(error_type, message)`` of a failed task; an unexpected error keeps where it happened."""
    if alarm.fired and not isinstance(e, TaskTimeout):  # the task wrapped our timeout in its own error
        e = TaskTimeout(f"took longer than timeout_s = {alarm.seconds:g} s (then: {type(e).__name__}: {e})")
    msg = str(e).strip() or repr(e)
    if not isinstance(e, IonnetError):
        tb = traceback.extract_tb(e.__traceback__)
        if tb:
            msg += f" [{os.path.basename(tb[-1].filename)}:{tb[-1].lineno} in {tb[-1].name}]"
    return type(e).__name__, msg


def _transport(result: Percolation) -> dict:
    """``ea``, ``log10_sigma_300`` (see :func:`ionnet.descriptors.transport_descriptors`); never loses a row."""
    from ..descriptors import transport_descriptors

    try:
        return transport_descriptors(result)
    except TaskTimeout:
        raise
    except Exception as e:  # noqa: BLE001 - transport is one column among many; the error is kept in the row
        logger.warning("transport failed: %s", e)
        return {"ea": None, "log10_sigma_300": None, "transport_error": f"{type(e).__name__}: {e}"}


def _analyse(out: dict, spec: dict, grids: ScanResult) -> None:
    """Descriptors of each ordered configuration, then their mean and spread (:mod:`.aggregate`)."""
    from ..analysis import analyze
    from ..descriptors import descriptor_row
    from ..scanning import split_configurations
    from .aggregate import combine, mean_curve

    rows, curves = [], []
    for maps in split_configurations(grids):
        result = analyze(maps, connectivity=int(spec["settings"].get("connectivity", DEFAULT_CONNECTIVITY)))
        row = descriptor_row(result, thresholds=spec.get("thresholds") or DEFAULT_THRESHOLDS)
        row.update(_transport(result))
        rows.append(row)
        curves.append(_fv_curve(result))
    out["descriptors"] = _labelled(combine(rows), str(spec["settings"].get("framework", "empty")))
    out["configurations"] = rows if len(rows) > 1 else []
    out["fv_curve"] = mean_curve(curves)
    out["formula"] = _formula(grids, spec["path"])
    order = (grids[0].metadata or {}).get("order")
    out["ordering"] = _ordering_summary(order) if order else None


#: Descriptors also stored under a name that says which framework they come from (``mpe_empty``, ``xi_occupied``...).
_FRAMEWORK_LABELLED = ("mpe", "e2d", "e3d", "fvc", "fvd", "xi", "xi_cell")


def _labelled(row: dict, framework: str) -> dict:
    """``row`` plus ``framework`` and each descriptor under ``<name>_<framework>`` (``fv_<t>`` -> ``fv_<framework>_<t>``).

    The empty framework's thresholds and free volumes are migration barriers;
    the occupied framework's FV(0.9 eV), MPE and Xi are the method's ranking
    descriptors: the labelled names keep the two apart in one table.
    """
    out = dict(row)
    out["framework"] = framework
    for k, v in row.items():
        if k in _FRAMEWORK_LABELLED:
            out[f"{k}_{framework}"] = v
        elif k.startswith("fv_") and k[3:4].isdigit():
            out[f"fv_{framework}_{k[3:]}"] = v
    return out


def _ordering_summary(order: dict) -> dict:
    """The ordering record a screening row keeps (the per-site rounding included)."""
    keys = ("framework", "method", "scaling", "n_atoms", "n_configurations", "max_site_error", "composition_error",
            "charge", "oxidation_states", "oxidation_source", "energies_ev", "supercell_matrix", "base_cell",
            "composition_target", "composition_realised", "rounding", "notes", "time_s", "n_mobile")
    return {k: order.get(k) for k in keys if k in order}


def run_one(spec: dict) -> dict:
    """Screen one structure; never raises for a structure problem (picklable, runs in workers).

    Parameters
    ----------
    spec : dict
        ``structure_id``, ``path``, ``key``, ``settings`` (dict),
        ``settings_hash``, ``thresholds``, ``save_grids`` (folder or None),
        ``task`` (None, a 'module:function' string or a picklable callable),
        ``threads`` (torch threads in this process, or None) and
        ``timeout_s`` (None or seconds for the task; enforced with SIGALRM in
        a process's main thread, i.e. serial runs and pool workers, not in
        threaded dask workers).

    Returns
    -------
    dict
        The row to store: ``status`` ('ok'/'failed'), ``error``,
        ``error_type``, ``descriptors`` (dict), ``fv_curve``, timings, and
        ``fatal`` (True when the model itself is unavailable: the whole
        batch stops instead of recording a failure).
    """
    if spec.get("threads") is not None:
        set_threads(spec["threads"])
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "key": spec["key"], "structure_id": spec["structure_id"], "path": spec["path"], "status": "failed",
        "error": None, "error_type": None, "descriptors": None, "fv_curve": None, "formula": None,
        "configurations": [], "ordering": None,
        "grid_file": None, "t_scan_s": None, "t_analysis_s": None, "t_total_s": None,
        "worker": f"{socket.gethostname()}:{os.getpid()}", "fatal": False,
    }
    alarm = _Alarm(spec.get("timeout_s"))
    try:
        task = resolve_task(spec.get("task"))
        with alarm:
            grids = _as_maps(task(spec["path"], dict(spec["settings"])))
        t1 = time.perf_counter()
        out["t_scan_s"] = t1 - t0
        _analyse(out, spec, grids)
        out["t_analysis_s"] = time.perf_counter() - t1
        if spec.get("save_grids"):
            out["grid_file"] = _grid_file(spec)
            grids.save(out["grid_file"])
        out["status"] = "ok"
    except BackendUnavailableError as e:
        out.update(error_type=type(e).__name__, error=str(e), fatal=True)
    except Exception as e:  # noqa: BLE001 - every structure problem is recorded, the batch goes on
        out["error_type"], out["error"] = _describe(e, alarm)
    out["t_total_s"] = time.perf_counter() - t0
    return out
