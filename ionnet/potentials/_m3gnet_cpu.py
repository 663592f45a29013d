"""CPU threads and memory for the M3GNet forward: idle cores, a running load meter, torch thread counts.

Split out of :mod:`ionnet.potentials.m3gnet`, which re-exports these names.  torch is imported lazily.
"""
from __future__ import annotations

import logging
import os
from typing import Any

logger = logging.getLogger("ionnet.potentials.m3gnet")  # the records keep the public module's name


def _set_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


def _available_memory_bytes() -> int | None:
    """``MemAvailable`` of /proc/meminfo (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


_IDLE_CACHE: list = []  # [(time, cores)] of the last measurement
_IDLE_TTL_S = 30.0


def _cpu_times() -> tuple[float, float] | None:
    try:
        with open("/proc/stat") as f:
            v = [float(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0.0)  # idle + iowait
    return sum(v), idle


def _idle_cores() -> int:
    """CPU cores this process may use that other processes leave idle (at least 1).

    Measured from /proc/stat over 50 ms while this process is not computing (cached
    for 30 s); without /proc, all cores.
    """
    import time

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    now = time.monotonic()
    if _IDLE_CACHE and now - _IDLE_CACHE[0][0] < _IDLE_TTL_S:
        return _IDLE_CACHE[0][1]
    a = _cpu_times()
    time.sleep(0.05)
    b = _cpu_times()
    if a is None or b is None or b[0] <= a[0]:
        n = cores
    else:
        machine = os.cpu_count() or cores
        busy = (1.0 - (b[1] - a[1]) / (b[0] - a[0])) * machine  # cores busy with other processes
        n = max(1, min(cores, int(machine - busy + 0.5)))
    _IDLE_CACHE[:] = [(now, n)]
    return n


class _LoadMeter:
    """Cores other processes keep busy, measured *while* this process computes.

    /proc/stat gives the machine's busy time, ``os.times()`` this process's CPU time
    (all threads); the difference over an interval is what the other processes used.
    :meth:`threads` turns it into a thread count for the next pass, at most every
    ``window_s``, and refreshes the cache of :func:`_idle_cores`.  Two OpenMP threads
    run several times slower than one as soon as another process takes a core, and
    the machine's load changes during a long scan: this keeps the choice current
    without pausing (the 50 ms probe of :func:`_idle_cores` needs an idle process).
    """

    def __init__(self, current: int, window_s: float = 2.0) -> None:
        import time

        self.current = current
        self.window_s = window_s
        self.hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0
        try:
            self.cores = len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            self.cores = os.cpu_count() or 1
        self.machine = os.cpu_count() or self.cores
        self._clock = time.monotonic
        self._start()

    def _start(self) -> None:
        self.t0 = self._clock()
        self.stat0 = _cpu_times()
        t = os.times()
        self.own0 = t.user + t.system

    def threads(self) -> int:
        """Thread count for the next pass (the current one until a window has passed)."""
        now = self._clock()
        if now - self.t0 < self.window_s:
            return self.current
        stat = _cpu_times()
        t = os.times()
        own = t.user + t.system
        if stat is not None and self.stat0 is not None:
            busy = ((stat[0] - stat[1]) - (self.stat0[0] - self.stat0[1])) / self.hz  # machine busy, s
            others = max(0.0, busy - (own - self.own0)) / (now - self.t0)  # cores used by other processes
            # two threads only when the other processes leave (nearly) a whole core each
            n = max(1, min(self.cores, int(self.machine - others + 0.2)))
            if n != self.current:
                logger.debug("other processes use %.2f cores: %d torch thread(s)", others, n)
            self.current = n
            _IDLE_CACHE[:] = [(now, self.current)]
        self._start()
        return self.current


class _torch_threads:
    """Context manager: torch intra-op threads set to ``n`` (None: unchanged), restored on exit."""

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.old: int | None = None

    def __enter__(self) -> "_torch_threads":
        if self.n is not None:
            import torch

            self.old = torch.get_num_threads()
            if self.old != self.n:
                torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.n is not None and self.old is not None and self.old != self.n:
            import torch

            torch.set_num_threads(self.old)
