"""High-throughput screening: many structures in, one SQLite table of descriptors out.

:func:`screen` runs one *task* per structure (by default :func:`scan_task`:
``ionnet.scan`` then :func:`ionnet.analyze` then
:func:`ionnet.descriptors.descriptor_row`) serially, on a local process pool
or on a dask.distributed cluster, and the parent process commits each result
to SQLite as soon as it arrives.  :func:`rank` reads the table back, sorted by
a descriptor.

Crash safety
------------
The database is in WAL mode and each result is one transaction, written by the
parent only.  A row is keyed by ``(structure_key, model, ion, settings_hash)``
with a UNIQUE constraint, where ``structure_key`` is the SHA-256 of the
structure file's bytes and ``settings_hash`` the hash of every setting that
changes the energies (spacing, framework, ...).  After a crash or SIGKILL at
any moment, a rerun skips every structure that already has a row, so nothing
is lost and nothing is stored twice; failed rows are skipped too unless
``retry_failed=True``.
"""
from __future__ import annotations

import csv
import glob
import hashlib
import importlib
import importlib.util
import json
import logging
import math
import os
import socket
import sqlite3
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np

from .errors import BackendUnavailableError, GridError, IonnetError, ScanError, ScreenError, StructureError, TaskTimeout

__all__ = [
    "screen",
    "rank",
    "read_results",
    "collect_inputs",
    "scan_task",
    "run_one",
    "ScreenSettings",
    "ScreenSummary",
    "StructureInput",
    "TaskTimeout",
    "RANK_KEYS",
    "SCHEMA_VERSION",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
#: File name suffixes taken from a folder (case-insensitive); files named POSCAR*/CONTCAR* too.
STRUCTURE_SUFFIXES = (".cif", ".mcif", ".vasp", ".poscar", ".json", ".xyz", ".extxyz", ".cssr")
#: Free-volume curve stored per row: FV(t) for t = 0, 0.01, ..., 3 eV.
FV_CURVE_STEP_EV = 0.01
FV_CURVE_MAX_EV = 3.0
#: ``rank(by=...)`` choices and their sort direction (True: ascending, lower is better).
RANK_KEYS = {"mpe": True, "e2d": True, "e3d": True, "fv": False, "xi": False, "xi_cell": False}


# ---------------------------------------------------------------------------- inputs
@dataclass(frozen=True)
class StructureInput:
    """One structure to screen.

    Attributes
    ----------
    structure_id : str
        Name shown in tables (file stem, or the CSV's id column).
    path : str
        Absolute path of the structure file.
    key : str
        SHA-256 of the file's bytes (of the path if it cannot be read).
    error : str or None
        Why the file cannot be read (it is then stored as a failed row).
    """

    structure_id: str
    path: str
    key: str
    error: str | None = None


def _file_key(path: str) -> tuple[str, str | None]:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest(), None
    except OSError as e:
        return hashlib.sha256(("unreadable:" + path).encode()).hexdigest(), f"cannot read {path}: {e.strerror or e}"


def _is_structure_file(name: str) -> bool:
    low = name.lower()
    base = os.path.basename(low)
    return low.endswith(STRUCTURE_SUFFIXES) or base.startswith(("poscar", "contcar"))


def _from_csv(path: str, path_column: str, id_column: str | None) -> list[tuple[str, str]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        cols = reader.fieldnames or []
        if path_column not in cols:
            raise StructureError(
                f"CSV {path} has no column {path_column!r} (columns: {', '.join(cols)}); "
                "name the column of structure paths with `path_column`"
            )
        if id_column is not None and id_column not in cols:
            raise StructureError(f"CSV {path} has no id column {id_column!r} (columns: {', '.join(cols)})")
        base = os.path.dirname(os.path.abspath(path))
        out = []
        for row in reader:
            p = (row[path_column] or "").strip()
            if not p:
                continue
            full = p if os.path.isabs(p) else os.path.join(base, p)
            sid = row[id_column] if id_column else os.path.splitext(os.path.basename(p))[0]
            out.append((str(sid), os.path.abspath(full)))
        return out


def collect_inputs(
    inputs: str | os.PathLike | Iterable[str | os.PathLike],
    *,
    path_column: str = "path",
    id_column: str | None = None,
) -> list[StructureInput]:
    """Expand folders, globs and CSV files into a sorted-within-input list of structures.

    Parameters
    ----------
    inputs : path, glob or CSV, or an iterable of them
        A folder contributes its structure files (``*.cif``, ``*.vasp``,
        ``POSCAR*``, ... not recursive); a pattern with ``*?[`` is globbed; a
        ``.csv`` file contributes the paths in its ``path_column`` (relative
        to the CSV's folder); any other path is taken as a structure file.
    path_column, id_column : str
        CSV columns holding the structure path and (optionally) its name.

    Returns
    -------
    list of StructureInput
        In input order (folders and globs sorted by name); a file listed in a
        CSV that is missing or unreadable is kept with its ``error`` so it is
        recorded as failed.

    Raises
    ------
    StructureError
        An input does not exist or matches nothing, or a CSV lacks the named column.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    pairs: list[tuple[str, str]] = []
    for item in inputs:
        item = os.fspath(item)
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if _is_structure_file(n))
            files = [os.path.join(item, n) for n in names if os.path.isfile(os.path.join(item, n))]
            if not files:
                raise StructureError(f"folder {item} holds no structure files ({', '.join(STRUCTURE_SUFFIXES)}, POSCAR*)")
            pairs += [(os.path.splitext(os.path.basename(p))[0], os.path.abspath(p)) for p in files]
        elif item.lower().endswith(".csv") and os.path.isfile(item):
            pairs += _from_csv(item, path_column, id_column)
        elif any(c in item for c in "*?["):
            files = sorted(p for p in glob.glob(item) if os.path.isfile(p))
            if not files:
                raise StructureError(f"pattern {item!r} matches no file")
            pairs += [(os.path.splitext(os.path.basename(p))[0], os.path.abspath(p)) for p in files]
        elif os.path.isfile(item):
            pairs.append((os.path.splitext(os.path.basename(item))[0], os.path.abspath(item)))
        else:
            raise StructureError(f"input not found: {item} (expected a folder, a glob, a CSV or a structure file)")
    out = []
    for sid, p in pairs:
        if not os.path.exists(p):
            out.append(StructureInput(sid, p, hashlib.sha256(("missing:" + p).encode()).hexdigest(),
                                      f"file not found: {p}"))
            continue
        key, err = _file_key(p)
        out.append(StructureInput(sid, p, key, err))
    return out


# -------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class ScreenSettings:
    """Every setting that changes the computed energies (hashed into ``settings_hash``)."""

    model: str = "m3gnet"
    ion: str = "Li"
    spacing: float = 0.2
    shape: tuple | None = None
    framework: str = "vacancy"
    order: bool = False
    relax: bool = False
    symmetry: bool = True
    min_distance: float | None = None
    refine: bool = False
    connectivity: int = 6
    task: str = "ionnet.scan"

    def hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON of the settings."""
        d = asdict(self)
        d["shape"] = list(d["shape"]) if d["shape"] is not None else None
        d["spacing"] = None if d["shape"] is not None else round(float(d["spacing"]), 6)
        d.pop("model")  # a separate column of the unique key
        d.pop("ion")
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _model_key(model: str | os.PathLike) -> str:
    """Built-in names stay as they are; a path becomes its absolute path."""
    m = os.fspath(model)
    if os.path.exists(m):
        return os.path.abspath(m)
    return m


def _task_identity(task: Any) -> str:
    if task is None:
        return "ionnet.scan"
    if isinstance(task, str):
        mod, sep, fn = task.rpartition(":")
        if sep and mod.endswith(".py"):
            return f"{os.path.abspath(mod)}:{fn}"
        return task
    return f"{getattr(task, '__module__', '?')}:{getattr(task, '__qualname__', repr(task))}"


# ------------------------------------------------------------------------ the task
_TASKS: dict[str, Callable] = {}
_POTENTIALS: dict[tuple, Any] = {}
_THREADS: int | None = None


def _resolve_task(task: Any) -> Callable:
    """None -> :func:`scan_task`; a callable; or ``'pkg.mod:func'`` / ``'/path/file.py:func'``."""
    if task is None or task == "ionnet.scan":
        return scan_task
    if callable(task):
        return task
    if not isinstance(task, str) or ":" not in task:
        raise ScreenError(f"`task` must be a callable or 'module:function' / 'file.py:function' (got {task!r})")
    if task in _TASKS:
        return _TASKS[task]
    mod_name, _, fn = task.rpartition(":")
    if mod_name.endswith(".py"):
        path = os.path.abspath(mod_name)
        name = "_ionnet_task_" + hashlib.sha256(path.encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ScreenError(f"cannot load task file {path}")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    else:
        mod = importlib.import_module(mod_name)
    try:
        f = getattr(mod, fn)
    except AttributeError:
        raise ScreenError(f"task {task!r}: {mod_name} has no function {fn!r}") from None
    _TASKS[task] = f
    return f


def _potential(model: str, device: str) -> Any:
    """The model object for ``model``, loaded once per process (None if the factory is missing)."""
    key = (model, device)
    if key not in _POTENTIALS:
        try:
            from .potentials import get_potential
        except ImportError:
            _POTENTIALS[key] = None
        else:
            _POTENTIALS[key] = get_potential(model, device=device)
    return _POTENTIALS[key]


def _apply_threads() -> None:
    if _THREADS is not None and "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.get_num_threads() != _THREADS:
            torch.set_num_threads(_THREADS)


_HALOGENS = ("F", "Cl", "Br", "I")


def _structure_oxidation_states(path: str, ion: str = "Li", max_atoms: int = 100) -> dict[str, float] | None:
    """Element -> oxidation state for the input structure with the mobile ion at +1, or None.

    The framework (every element but ``ion``) gets pymatgen's oxidation-state
    guess for each net charge ``-q`` (``q`` = 1 .. 2 x mobile-ion count + 4),
    and the most usual assignment wins (largest sum of amount x ICSD
    occurrence; ties: ``q`` nearest the structure's, possibly fractional,
    mobile-ion count), so Li-deficient refinements and approximants with
    every split Li site filled still get the framework's usual states.  The
    most electronegative element is fixed at its most negative common state
    and halogens at -1 (except Cl/Br/I next to O, which may be oxo-anions) to
    keep pymatgen's combinatorial search short; frameworks of more than
    ``max_atoms`` atoms per formula unit (after making fractional amounts
    integral) are not attempted.
    """
    import warnings
    from functools import reduce

    from pymatgen.core import Composition, Element

    from .io import read_structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        amounts = read_structure(path).composition.element_composition.get_el_amt_dict()
    n_ion = float(amounts.pop(ion, 0.0))
    if not amounts:
        return None
    for k in range(1, 25):  # integral framework amounts
        if all(abs(k * v - round(k * v)) < 0.02 for v in amounts.values()):
            frame = {e: int(round(k * v)) for e, v in amounts.items()}
            n_ion *= k
            break
    else:
        return None
    g = reduce(math.gcd, frame.values())
    frame = {e: v // g for e, v in frame.items()}
    n_ion /= g
    if sum(frame.values()) > max_atoms:
        return None
    comp = Composition(frame)
    els = list(frame)
    fixed: dict[str, list[int]] = {}
    anion = max(comp.elements, key=lambda e: (e.X if not math.isnan(e.X) else 0.0))
    neg = [q for q in anion.common_oxidation_states if q < 0]
    if neg:
        fixed[anion.symbol] = [min(neg)]
    for h in _HALOGENS:
        if h in els and h not in fixed and not (h != "F" and "O" in els):
            fixed[h] = [-1]
    pos = [q for q in Element(ion).common_oxidation_states if q > 0]
    q_ion = pos[0] if pos else 1
    n_max = int(math.ceil(max(n_ion, 1.0) * 2 + 4))
    best, best_key = None, None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for q in range(1, n_max + 1):
            guesses = comp.oxi_state_guesses(oxi_states_override=fixed, target_charge=-q * q_ion)
            if not guesses:
                continue
            states = {str(e): float(v) for e, v in guesses[0].items()}
            key = (_icsd_score(states, frame), -abs(q - n_ion / q_ion))
            if best_key is None or key > best_key:
                best, best_key = states, key
    if best is None:
        return None
    best[ion] = float(q_ion)
    return best


def _icsd_score(states: dict[str, float], amounts: dict[str, int]) -> float:
    """How usual an assignment is: sum of amount x ICSD occurrence of each (element, integer state)."""
    from pymatgen.core import Composition, Species

    if Composition.oxi_prob is None:  # loaded by pymatgen's first oxi_state_guesses call
        Composition("LiCl").oxi_state_guesses()
    prob = Composition.oxi_prob or {}
    score = 0.0
    for el, v in states.items():
        if abs(v - round(v)) < 1e-6:
            score += amounts.get(el, 0) * float(prob.get(Species(el, int(round(v))), 0.0))
    return score


def _per_structure_potential(pot: Any, path: str, settings: dict) -> Any:
    """BVSE with ``framework='empty'``: charges from the full structure.

    The BVSE back end guesses oxidation states from the framework plus one
    probe ion, which is charge balanced in vacancy mode but not when every
    mobile ion is removed; there the states of the whole input structure are
    the right ones, so a BVSE potential with those states is built for this
    structure (other back ends and explicit ``oxidation_states`` are left alone).
    """
    if (settings.get("framework") != "empty" or type(pot).__name__ != "BVSEPotential"
            or getattr(pot, "oxidation_states", "unset") is not None):
        return pot
    try:
        states = _structure_oxidation_states(path, settings.get("ion", "Li"))
    except TaskTimeout:
        raise
    except Exception as e:  # noqa: BLE001 - the back end's own guess then reports the problem
        logger.info("oxidation states of %s: %s", path, e)
        states = None
    if not states:
        return pot
    try:
        return type(pot)(oxidation_states=states)
    except TypeError:
        return pot


def scan_task(path: str, settings: dict) -> Any:
    """The default task: ``ionnet.scan`` of one structure file with the screen settings.

    The potential is loaded once per process and reused for every structure.
    With ``framework='empty'`` and BVSE, the oxidation states are guessed from
    the whole input structure (see ``_per_structure_potential``).

    Parameters
    ----------
    path : str
        Structure file.
    settings : dict
        :class:`ScreenSettings` fields plus ``device`` and ``batch_size``.

    Returns
    -------
    EnergyGrid or list of EnergyGrid
    """
    from .scanning import scan

    pot = _potential(settings["model"], settings.get("device", "cpu"))
    if pot is not None:
        pot = _per_structure_potential(pot, path, settings)
    _apply_threads()
    return scan(
        path,
        ion=settings["ion"],
        model=pot if pot is not None else settings["model"],
        spacing=settings["spacing"],
        shape=tuple(settings["shape"]) if settings.get("shape") else None,
        framework=settings["framework"],
        order=settings["order"],
        relax=settings["relax"],
        symmetry=settings["symmetry"],
        min_distance=settings["min_distance"],
        refine=settings.get("refine", False),
        device=settings.get("device", "cpu"),
        batch_size=settings.get("batch_size"),
        progress=False,
    )


def _preload(task: Any, settings: dict) -> None:
    """Load the model of the default task (pool initializer); errors resurface in the first task."""
    try:
        if task is None or task == "ionnet.scan":
            _potential(settings["model"], settings.get("device", "cpu"))
            _apply_threads()
        else:
            _resolve_task(task)
    except Exception as e:  # noqa: BLE001 - reported per structure by run_one
        logger.info("preload failed in worker %d: %s", os.getpid(), e)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a killed parent not yet reaped is a zombie: treat it as dead (Linux)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _watch_parent(pid: int, interval_s: float = 1.0) -> None:
    """Exit this worker when the screening process is gone (e.g. SIGKILL): no orphans left computing."""
    while True:
        time.sleep(interval_s)
        if not _alive(pid):
            os._exit(1)


def _init_worker(threads: int | None, task: Any, settings: dict, parent_pid: int | None = None) -> None:
    """Process-pool initializer: one torch/BLAS thread per worker, model loaded once, parent watchdog."""
    global _THREADS
    if parent_pid is not None:
        import threading

        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="ionnet-parent-watch").start()
    if threads is not None:
        _THREADS = int(threads)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[var] = str(threads)
    _preload(task, settings)


def _formula(grids: Any, path: str) -> str | None:
    """Reduced formula of the input structure (not of the scanned framework, which lacks the probe)."""
    g = grids[0] if isinstance(grids, (list, tuple)) else grids
    md = getattr(g, "metadata", {}) or {}
    if md.get("formula"):
        return str(md["formula"])
    try:
        import warnings

        from .io import read_structure

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return str(read_structure(path).composition.reduced_formula)
    except Exception:  # noqa: BLE001 - a custom task's input need not be a structure file
        return None


def _fv_curve(result: Any) -> list[float]:
    ts = np.round(np.arange(0.0, FV_CURVE_MAX_EV + 1e-9, FV_CURVE_STEP_EV), 10)
    return [round(float(x), 8) for x in np.atleast_1d(result.free_volume(ts))]


def _grid_file_name(spec: dict) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in spec["structure_id"])
    model = os.path.basename(spec["settings"]["model"].rstrip("/")) or "model"
    model = "".join(c if c.isalnum() or c in "-_." else "_" for c in model)
    return f"{safe}-{spec['key'][:8]}-{model}-{spec['settings_hash'][:8]}.npz"


def _save_grids(grids: Any, path: str) -> None:
    try:
        from .grid import save_grids
    except ImportError:  # older ionnet: one file per map
        save_grids = None
    if save_grids is not None:
        save_grids(grids, path)
    elif isinstance(grids, (list, tuple)):
        if len(grids) == 1:
            grids[0].save(path)
        else:
            for i, g in enumerate(grids):
                g.save(path.replace(".npz", f".{i}.npz"))
    else:
        grids.save(path)


class _alarm:
    """Raise :class:`TaskTimeout` after ``seconds`` (SIGALRM; main thread of a POSIX process only)."""

    def __init__(self, seconds: float | None):
        import signal
        import threading

        self.seconds = seconds
        self.active = bool(seconds) and hasattr(signal, "setitimer") and \
            threading.current_thread() is threading.main_thread()
        self.old = None
        self.fired = False

    def _fire(self, signum, frame):
        self.fired = True
        raise TaskTimeout(f"took longer than timeout_s = {self.seconds:g} s")

    def __enter__(self):
        if self.active:
            import signal

            self.old = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, float(self.seconds))
        return self

    def __exit__(self, *exc):
        if self.active:
            import signal

            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.old)
        return False


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
    global _THREADS
    if spec.get("threads") is not None:
        _THREADS = int(spec["threads"])
    t0 = time.perf_counter()
    out: dict[str, Any] = {
        "key": spec["key"],
        "structure_id": spec["structure_id"],
        "path": spec["path"],
        "status": "failed",
        "error": None,
        "error_type": None,
        "descriptors": None,
        "fv_curve": None,
        "formula": None,
        "grid_file": None,
        "t_scan_s": None,
        "t_analysis_s": None,
        "t_total_s": None,
        "worker": f"{socket.gethostname()}:{os.getpid()}",
        "fatal": False,
    }
    alarm = _alarm(spec.get("timeout_s"))
    try:
        task = _resolve_task(spec.get("task"))
        settings = dict(spec["settings"])
        with alarm:
            grids = task(spec["path"], settings)
        t1 = time.perf_counter()
        out["t_scan_s"] = t1 - t0
        from .analysis import analyze
        from .descriptors import descriptor_row

        if isinstance(grids, tuple):
            grids = list(grids)
        result = analyze(grids, connectivity=int(settings.get("connectivity", 6)))
        out["descriptors"] = descriptor_row(result, thresholds=spec.get("thresholds") or (0.5, 0.9, 1.5))
        out["fv_curve"] = _fv_curve(result)
        out["formula"] = _formula(grids, spec["path"])
        out["t_analysis_s"] = time.perf_counter() - t1
        if spec.get("save_grids"):
            os.makedirs(spec["save_grids"], exist_ok=True)
            path = os.path.join(spec["save_grids"], _grid_file_name(spec))
            _save_grids(grids, path)
            out["grid_file"] = path
        out["status"] = "ok"
    except BackendUnavailableError as e:
        out["error_type"] = type(e).__name__
        out["error"] = str(e)
        out["fatal"] = True
    except Exception as e:  # noqa: BLE001 - every structure problem is recorded, the batch goes on
        if alarm.fired and not isinstance(e, TaskTimeout):  # the task wrapped our timeout in its own error
            e = TaskTimeout(f"took longer than timeout_s = {alarm.seconds:g} s (then: {type(e).__name__}: {e})")
        out["error_type"] = type(e).__name__
        msg = str(e).strip() or repr(e)
        if not isinstance(e, IonnetError):  # an unexpected error: keep where it happened
            tb = traceback.extract_tb(e.__traceback__)
            if tb:
                last = tb[-1]
                msg += f" [{os.path.basename(last.filename)}:{last.lineno} in {last.name}]"
        out["error"] = msg
    out["t_total_s"] = time.perf_counter() - t0
    return out


# ------------------------------------------------------------------------- database
_COLUMNS = [
    "structure_key", "structure_id", "path", "formula", "model", "ion", "settings_hash", "settings",
    "status", "error_type", "error",
    "mpe", "e2d", "e3d", "fvc", "fvd", "xi", "xi_cell", "e_min", "n_sites", "n_maps", "grid_shape",
    "descriptors", "fv_curve", "grid_file", "t_scan_s", "t_analysis_s", "t_total_s", "worker",
    "ionnet_version", "created_at", "updated_at",
]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_key TEXT NOT NULL,
    structure_id TEXT, path TEXT, formula TEXT,
    model TEXT NOT NULL, ion TEXT NOT NULL,
    settings_hash TEXT NOT NULL, settings TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_type TEXT, error TEXT,
    mpe REAL, e2d REAL, e3d REAL, fvc REAL, fvd REAL, xi REAL, xi_cell REAL, e_min REAL,
    n_sites INTEGER, n_maps INTEGER, grid_shape TEXT,
    descriptors TEXT, fv_curve TEXT, grid_file TEXT,
    t_scan_s REAL, t_analysis_s REAL, t_total_s REAL, worker TEXT,
    ionnet_version TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT, updated_at TEXT,
    UNIQUE (structure_key, model, ion, settings_hash)
);
CREATE INDEX IF NOT EXISTS results_model_status ON results (model, ion, status);
CREATE TABLE IF NOT EXISTS ionnet_meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO ionnet_meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""

_UPSERT = (
    f"INSERT INTO results ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (structure_key, model, ion, settings_hash) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("structure_key", "model", "ion",
                                                                     "settings_hash", "created_at"))
    + ", attempts = results.attempts + 1 "
    "WHERE results.status != 'ok' OR excluded.status = 'ok'"
)


def _connect(db: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    path = os.fspath(db)
    if not create and not os.path.exists(path):
        raise ScreenError(f"results database not found: {path}; screen structures into it first")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    con = sqlite3.connect(path, timeout=60.0, isolation_level=None)  # autocommit; explicit BEGIN below
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed rows survive a process kill
        con.execute("PRAGMA busy_timeout=60000")
        if create:
            con.executescript(_SCHEMA)
        else:
            ok = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='results'").fetchone()
            if not ok:
                raise ScreenError(f"{path} is not an ionnet screening database (no 'results' table)")
        ver = con.execute("SELECT value FROM ionnet_meta WHERE key='schema_version'").fetchone()
        if ver and int(ver[0]) > SCHEMA_VERSION:
            raise ScreenError(f"{path} was written by a newer ionnet (schema {ver[0]} > {SCHEMA_VERSION}); upgrade ionnet")
    except sqlite3.DatabaseError as e:
        con.close()
        raise ScreenError(f"cannot open results database {path}: {e}") from None
    return con


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _record(con: sqlite3.Connection, row: dict, settings: ScreenSettings, settings_hash: str) -> None:
    """Store one result in its own transaction (the only writer is the parent process)."""
    from ._version import __version__

    d = row.get("descriptors") or {}
    now = _now()
    values = {
        "structure_key": row["key"],
        "structure_id": row["structure_id"],
        "path": row["path"],
        "formula": row.get("formula"),
        "model": settings.model,
        "ion": settings.ion,
        "settings_hash": settings_hash,
        "settings": json.dumps(asdict(settings), sort_keys=True),
        "status": row["status"],
        "error_type": row.get("error_type"),
        "error": row.get("error"),
        "mpe": d.get("mpe"),
        "e2d": d.get("e2d"),
        "e3d": d.get("e3d"),
        "fvc": d.get("fvc"),
        "fvd": d.get("fvd"),
        "xi": d.get("xi"),
        "xi_cell": d.get("xi_cell"),
        "e_min": d.get("e_min"),
        "n_sites": d.get("n_sites"),
        "n_maps": d.get("n_maps"),
        "grid_shape": json.dumps(d["grid_shape"]) if d.get("grid_shape") else None,
        "descriptors": json.dumps(d) if d else None,
        "fv_curve": json.dumps(row["fv_curve"]) if row.get("fv_curve") else None,
        "grid_file": row.get("grid_file"),
        "t_scan_s": row.get("t_scan_s"),
        "t_analysis_s": row.get("t_analysis_s"),
        "t_total_s": row.get("t_total_s"),
        "worker": row.get("worker"),
        "ionnet_version": __version__,
        "created_at": now,
        "updated_at": now,
    }
    for attempt in range(20):
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(_UPSERT, [values[c] for c in _COLUMNS])
            con.execute("COMMIT")
            return
        except sqlite3.OperationalError as e:  # database locked by another writer: wait and retry
            try:
                con.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise ScreenError(f"results database stayed locked; could not store {row['structure_id']}")


def _existing_status(con: sqlite3.Connection, settings: ScreenSettings, settings_hash: str) -> dict[str, str]:
    cur = con.execute(
        "SELECT structure_key, status FROM results WHERE model = ? AND ion = ? AND settings_hash = ?",
        (settings.model, settings.ion, settings_hash),
    )
    return dict(cur.fetchall())


# --------------------------------------------------------------------------- runners
def _run_serial(specs: list[dict]) -> Iterator[dict]:
    for spec in specs:
        yield run_one(spec)


def _mp_context(name: str | None):
    import multiprocessing as mp

    if name is None:
        name = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if name not in ("spawn", "forkserver"):
        raise ScreenError(f"`mp_context` must be 'spawn' or 'forkserver' (got {name!r}); fork is unsafe with torch")
    return mp.get_context(name)


def _run_pool(specs: list[dict], workers: int, initargs: tuple, mp_context: str | None) -> Iterator[dict]:
    """Local process pool; a worker that dies takes its structures to one retry, then they fail."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = _mp_context(mp_context)
    pending = list(specs)
    crashes: dict[str, int] = {}
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=initargs)
        futures = {pool.submit(run_one, s): s for s in pending}
        pending = []
        broken = False
        finished = False
        try:
            not_done = set(futures)
            while not_done:
                done, not_done = wait(not_done, return_when=FIRST_COMPLETED)
                for fut in done:
                    spec = futures[fut]
                    try:
                        yield fut.result()
                    except BrokenProcessPool:
                        broken = True
                        crashes[spec["key"]] = crashes.get(spec["key"], 0) + 1
                        if crashes[spec["key"]] >= 2:
                            yield _crash_row(spec)
                        else:
                            pending.append(spec)
            finished = True
        finally:
            # normal end: join the workers; error, interrupt or broken pool: cancel and leave at once
            pool.shutdown(wait=finished and not broken, cancel_futures=True)
        if broken:
            logger.warning("a worker process died; restarting the pool for %d structures", len(pending))


def _crash_row(spec: dict) -> dict:
    return {
        "key": spec["key"], "structure_id": spec["structure_id"], "path": spec["path"], "status": "failed",
        "error_type": "WorkerCrash",
        "error": "the worker process died twice on this structure (out of memory or a crash in native code)",
        "descriptors": None, "fv_curve": None, "fatal": False,
    }


def _run_dask(specs: list[dict], address: Any) -> Iterator[dict]:
    try:
        from distributed import Client, as_completed
    except ImportError as e:
        raise BackendUnavailableError("dask.distributed is not installed: pip install 'ionnet[screen]'") from e
    own = not hasattr(address, "submit")
    client = Client(address) if own else address
    try:
        futs = [client.submit(run_one, s, pure=False, key=f"ionnet-screen-{s['key'][:16]}-{s['settings_hash']}")
                for s in specs]
        for fut in as_completed(futs):
            yield fut.result()
    finally:
        if own:
            client.close()


# ---------------------------------------------------------------------------- screen
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


def screen(
    inputs: str | os.PathLike | Iterable[str | os.PathLike] | Sequence[StructureInput],
    db: str | os.PathLike,
    *,
    model: str | os.PathLike = "m3gnet",
    ion: str = "Li",
    spacing: float = 0.2,
    shape: Sequence[int] | None = None,
    framework: str = "vacancy",
    order: bool = False,
    relax: bool = False,
    symmetry: bool = True,
    min_distance: float | None = None,
    refine: bool = False,
    connectivity: int = 6,
    device: str = "cpu",
    batch_size: int | None = None,
    thresholds: Sequence[float] = (0.5, 0.9, 1.5),
    workers: int = 1,
    threads_per_worker: int | None = 1,
    dask_address: Any = None,
    save_grids: str | os.PathLike | None = None,
    retry_failed: bool = False,
    timeout_s: float | None = None,
    path_column: str = "path",
    id_column: str | None = None,
    task: Callable | str | None = None,
    mp_context: str | None = None,
    progress: bool = False,
) -> ScreenSummary:
    """Scan and analyse many structures; store one row of descriptors per structure in SQLite.

    Parameters
    ----------
    inputs : folder, glob, CSV or structure path, a list of them, or a list of StructureInput
        See :func:`collect_inputs`.
    db : path
        SQLite file (created if missing, WAL mode).
    model, ion, spacing, shape, framework, order, relax, symmetry, min_distance, refine, device, batch_size
        Passed to :func:`ionnet.scan` (spacing in Å).
    connectivity : {6, 18, 26}
        Grid connectivity of :func:`ionnet.analyze`.
    thresholds : sequence of float, eV
        Free-volume thresholds stored as ``fv_<t>`` in each row (the full
        FV(t) curve, 0-3 eV in 0.01 eV steps, is stored too).
    workers : int
        1: in this process; >1: a local process pool (spawn/forkserver).
    threads_per_worker : int or None
        torch/BLAS threads in each pool worker (default 1); None leaves them.
    dask_address : str, LocalCluster or distributed.Client, optional
        Run the tasks on this dask cluster instead (``workers`` is ignored).
    save_grids : folder, optional
        Keep each structure's energy grids as ``.npz`` there.
    retry_failed : bool
        Recompute structures whose stored row is 'failed'.
    timeout_s : float, optional
        Give up on a structure after this many seconds of scanning (stored as
        failed, ``error_type='TaskTimeout'``; rerun with ``retry_failed`` and
        a larger limit).  Enforced in serial runs and pool workers (SIGALRM),
        not on dask workers.  Not part of the settings hash.
    path_column, id_column : str
        CSV columns (see :func:`collect_inputs`).
    task : callable, 'module:function' or 'file.py:function', optional
        Replaces :func:`scan_task`: ``task(path, settings) -> EnergyGrid |
        list[EnergyGrid]``.  Must be importable by name in the workers.
    mp_context : {'forkserver', 'spawn'}, optional
        Start method of the local pool (default forkserver where available).
    progress : bool
        tqdm bar with ETA on stderr.

    Returns
    -------
    ScreenSummary

    Raises
    ------
    StructureError
        An input matches no file.
    BackendUnavailableError
        The model cannot be loaded (the batch stops; stored rows are kept).
    ValueError
        A bad setting (named in the message).

    Examples
    --------
    >>> import numpy as np, os, tempfile, ionnet
    >>> from ionnet.screen import screen, rank
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
    t_start = time.perf_counter()
    if workers is None or int(workers) < 1:
        raise ScreenError(f"`workers` must be >= 1 (got {workers!r})")
    if shape is None and not (isinstance(spacing, (int, float)) and spacing > 0):
        raise GridError(f"`spacing` must be > 0 Å (got {spacing!r})")
    if framework not in ("vacancy", "empty"):
        raise ScanError(f"`framework` must be 'vacancy' or 'empty' (got {framework!r})")
    if connectivity not in (6, 18, 26):
        raise GridError(f"`connectivity` must be 6, 18 or 26 (got {connectivity!r})")
    thresholds = [float(t) for t in thresholds]
    if not all(math.isfinite(t) for t in thresholds):
        raise GridError(f"`thresholds` must be finite energies in eV (got {thresholds!r})")
    if timeout_s is not None and not timeout_s > 0:
        raise ScreenError(f"`timeout_s` must be > 0 seconds or None (got {timeout_s!r})")
    if task is not None and not callable(task):
        _resolve_task(task)  # fail early on a bad 'module:function'

    settings = ScreenSettings(
        model=_model_key(model), ion=str(ion), spacing=float(spacing),
        shape=tuple(int(s) for s in shape) if shape is not None else None,
        framework=framework, order=bool(order), relax=bool(relax), symmetry=bool(symmetry),
        min_distance=None if min_distance is None else float(min_distance), refine=bool(refine),
        connectivity=int(connectivity), task=_task_identity(task),
    )
    shash = settings.hash()
    if isinstance(inputs, (list, tuple)) and inputs and all(isinstance(i, StructureInput) for i in inputs):
        items = list(inputs)
    else:
        items = collect_inputs(inputs, path_column=path_column, id_column=id_column)
    unique: dict[str, StructureInput] = {}
    for it in items:
        unique.setdefault(it.key, it)

    con = _connect(db)
    n_ok = n_failed = 0
    failures: list[tuple[str, str]] = []
    try:
        existing = _existing_status(con, settings, shash)
        todo = []
        n_skipped = 0
        for key, it in unique.items():
            st = existing.get(key)
            if st == "ok" or (st == "failed" and not retry_failed):
                n_skipped += 1
                continue
            todo.append(it)
        run_settings = asdict(settings)
        run_settings.update(device=device, batch_size=batch_size)
        specs = []
        for it in todo:
            if it.error is not None:  # unreadable or missing: record without running anything
                row = {"key": it.key, "structure_id": it.structure_id, "path": it.path, "status": "failed",
                       "error_type": "StructureError", "error": it.error, "descriptors": None, "fv_curve": None}
                _record(con, row, settings, shash)
                n_failed += 1
                failures.append((it.structure_id, it.error))
                continue
            specs.append({
                "structure_id": it.structure_id, "path": it.path, "key": it.key,
                "settings": run_settings, "settings_hash": shash, "thresholds": thresholds,
                "save_grids": os.fspath(save_grids) if save_grids else None,
                "task": task, "threads": None, "timeout_s": timeout_s,
            })
        logger.info("screen: %d inputs, %d distinct, %d skipped, %d to run (settings %s)",
                    len(items), len(unique), n_skipped, len(specs), shash)
        if dask_address is not None:
            for s in specs:
                s["threads"] = threads_per_worker
            results = _run_dask(specs, dask_address)
        elif int(workers) > 1 and len(specs) > 1:
            results = _run_pool(specs, int(workers), (threads_per_worker, task, run_settings, os.getpid()),
                                mp_context)
        else:
            results = _run_serial(specs)

        from tqdm.auto import tqdm

        bar = tqdm(total=len(specs), desc="screen", unit="struct", file=sys.stderr, disable=not progress or not specs,
                   dynamic_ncols=True, smoothing=0.05)
        try:
            for row in results:
                if row.get("fatal"):
                    raise BackendUnavailableError(
                        f"model {settings.model!r} is unavailable ({row['error']}); "
                        f"{n_ok + n_failed} results stored, rerun to continue"
                    )
                _record(con, row, settings, shash)
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
            close = getattr(results, "close", None)
            if close is not None:
                close()  # shut a pool down on error / interrupt
    finally:
        con.close()
    return ScreenSummary(
        db=os.fspath(db), settings_hash=shash, n_inputs=len(items), n_unique=len(unique),
        n_skipped=n_skipped, n_ok=n_ok, n_failed=n_failed, elapsed_s=time.perf_counter() - t_start,
        failures=failures,
    )


# ----------------------------------------------------------------------------- read
def _fv_at(row: dict, t: float) -> float | None:
    d = row.get("descriptors") or {}
    key = f"fv_{float(t):g}"
    if key in d:
        return d[key]
    curve = row.get("fv_curve")
    if not curve:
        return None
    i = int(math.floor(t / FV_CURVE_STEP_EV + 1e-9))
    if i < 0:
        return 0.0
    return curve[min(i, len(curve) - 1)]


def read_results(
    db: str | os.PathLike,
    *,
    model: str | None = None,
    ion: str | None = None,
    settings_hash: str | None = None,
    status: str | None = "ok",
) -> list[dict]:
    """All stored rows (dicts, JSON columns decoded), optionally filtered.

    ``status=None`` returns ok and failed rows.  ``model`` matches the stored
    model name, or the absolute path of a model folder.
    """
    con = _connect(db, create=False)
    try:
        con.row_factory = sqlite3.Row
        where, args = [], []
        if model is not None:
            where.append("model = ?")
            args.append(_model_key(model))
        if ion is not None:
            where.append("ion = ?")
            args.append(ion)
        if settings_hash is not None:
            where.append("settings_hash LIKE ?")
            args.append(settings_hash + "%")
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        rows = [dict(r) for r in con.execute(sql, args).fetchall()]
    finally:
        con.close()
    for r in rows:
        for k in ("descriptors", "fv_curve", "settings", "grid_shape"):
            if r.get(k):
                r[k] = json.loads(r[k])
    return rows


def rank(
    db: str | os.PathLike,
    *,
    by: str = "mpe",
    fv_threshold: float = 0.9,
    top: int | None = 20,
    model: str | None = None,
    ion: str | None = None,
    settings_hash: str | None = None,
) -> list[dict]:
    """The 'ok' rows sorted by a descriptor, best first.

    Parameters
    ----------
    db : path
    by : {'mpe', 'e2d', 'e3d', 'fv', 'xi', 'xi_cell'}
        Percolation energies rank ascending (a missing value, i.e. never
        percolates, goes last); free volume and Xi rank descending.
    fv_threshold : float, eV
        Threshold of ``by='fv'`` (exact if it was one of the screen's
        ``thresholds``, else read from the stored 0.01 eV FV curve at the
        largest step not above it).
    top : int or None
        Keep the first ``top`` rows (None or 0: all).
    model, ion, settings_hash : str, optional
        Filters.

    Returns
    -------
    list of dict
        Each row has ``rank``, ``value`` (the ranked descriptor), ``fv``
        (at ``fv_threshold``) and the stored columns.
    """
    if by not in RANK_KEYS:
        raise ScreenError(f"`by` must be one of {', '.join(RANK_KEYS)} (got {by!r})")
    rows = read_results(db, model=model, ion=ion, settings_hash=settings_hash, status="ok")
    for r in rows:
        r["fv"] = _fv_at(r, fv_threshold)
        r["value"] = r["fv"] if by == "fv" else r.get(by)
    ascending = RANK_KEYS[by]

    def sort_key(r):
        v = r["value"]
        missing = v is None or (isinstance(v, float) and math.isnan(v))
        vv = 0.0 if missing else (v if ascending else -v)
        return (missing, vv, str(r.get("structure_id")), r.get("model"))

    rows.sort(key=sort_key)
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    if top:
        rows = rows[: int(top)]
    return rows
