"""Where the screening tasks run: in this process, on a local process pool, or on a dask cluster.

Each runner yields one row per spec as it finishes.  Pool workers load the
model once, use one torch thread by default and exit when the screening
process disappears (a watchdog thread), so a killed ``screen`` leaves no
orphans; a worker that dies takes its structure to one retry, then it fails.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..errors import BackendUnavailableError, ScreenError
from .tasks import Task, load_potential, resolve_task, run_one, set_threads

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = ["run_serial", "run_pool", "run_dask", "init_worker"]

logger = logging.getLogger(__name__)


def _preload(task: Task | str | None, settings: dict) -> None:
    """Load the model of the default task (pool initializer); errors resurface in the first task."""
    try:
        if task is None or task == "ionnet.scan":
            load_potential(settings["model"], settings.get("device", "cpu"))
        else:
            resolve_task(task)
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


def init_worker(threads: int | None, task: Task | str | None, settings: dict, parent_pid: int | None = None) -> None:
    """Process-pool initializer: one torch/BLAS thread per worker, model loaded once, parent watchdog."""
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="ionnet-parent-watch").start()
    if threads is not None:
        set_threads(threads)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS"):
            os.environ[var] = str(threads)
    _preload(task, settings)


def run_serial(specs: list[dict]) -> Iterator[dict]:
    """Run the specs one after another in this process."""
    for spec in specs:
        yield run_one(spec)


def _mp_context(name: str | None):
    import multiprocessing as mp

    if name is None:
        name = "forkserver" if "forkserver" in mp.get_all_start_methods() else "spawn"
    if name not in ("spawn", "forkserver"):
        raise ScreenError(f"`mp_context` must be 'spawn' or 'forkserver' (got {name!r}); fork is unsafe with torch")
    return mp.get_context(name)


def run_pool(specs: list[dict], workers: int, initargs: tuple, mp_context: str | None) -> Iterator[dict]:
    """Local process pool; a worker that dies takes its structures to one retry, then they fail."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    ctx = _mp_context(mp_context)
    pending = list(specs)
    crashes: dict[str, int] = {}
    while pending:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=init_worker, initargs=initargs)
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


def run_dask(specs: list[dict], address: str | Client | LocalCluster) -> Iterator[dict]:
    """Submit every spec to a dask cluster (an address, a cluster or a client) and yield rows as they finish."""
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
