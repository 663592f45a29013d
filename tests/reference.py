"""Independent, deliberately simple reference implementations (plain Python).

They share no code with ``ionnet.core``: breadth-first search with explicit
unwrapped cell images for percolation at a fixed threshold, bisection over the
sorted node energies for the thresholds, and a Dijkstra-style minimax search
for the level map.
"""
from __future__ import annotations

import heapq
import itertools

import numpy as np


def neighbours(connectivity):
    out = []
    for d in itertools.product((-1, 0, 1), repeat=3):
        if d == (0, 0, 0):
            continue
        l1 = sum(abs(x) for x in d)
        if connectivity == 6 and l1 != 1:
            continue
        if connectivity == 18 and l1 > 2:
            continue
        out.append(d)
    return out


def _rank(vectors):
    if not vectors:
        return 0
    return int(np.linalg.matrix_rank(np.array(vectors, dtype=float)))


def percolation_rank(E, t, sources, connectivity=6):
    """Max rank of the winding vectors of the components holding a source, nodes with E <= t."""
    n = E.shape
    steps = neighbours(connectivity)
    image = {}
    best = 0
    for s in sources:
        if E[s] > t or s in image:
            continue
        image[s] = (0, 0, 0)
        queue = [s]
        windings = []
        while queue:
            x = queue.pop()
            for d in steps:
                raw = tuple(x[k] + d[k] for k in range(3))
                y = tuple(raw[k] % n[k] for k in range(3))
                shift = tuple(raw[k] // n[k] for k in range(3))
                if not E[y] <= t:
                    continue
                img_y = tuple(image[x][k] + shift[k] for k in range(3))
                if y not in image:
                    image[y] = img_y
                    queue.append(y)
                elif image[y] != img_y:
                    windings.append(tuple(img_y[k] - image[y][k] for k in range(3)))
        best = max(best, _rank(windings))
    return best


def thresholds(E, sources=None, connectivity=6):
    """Percolation thresholds {1, 2, 3} by bisection over the sorted finite node energies."""
    if sources is None:
        m = np.min(E[np.isfinite(E)])
        sources = [tuple(int(i) for i in ix) for ix in zip(*np.nonzero(E <= m))]
    levels = np.unique(E[np.isfinite(E)])
    out = {}
    for d in (1, 2, 3):
        if percolation_rank(E, levels[-1], sources, connectivity) < d:
            out[d] = np.inf
            continue
        lo, hi = 0, len(levels) - 1  # smallest index with rank >= d
        while lo < hi:
            mid = (lo + hi) // 2
            if percolation_rank(E, levels[mid], sources, connectivity) >= d:
                hi = mid
            else:
                lo = mid + 1
        out[d] = float(levels[lo])
    return out


def minimax_levels(E, sources, connectivity=6):
    """Dijkstra with max instead of sum: lowest possible highest energy on a path from any source."""
    n = E.shape
    steps = neighbours(connectivity)
    best = np.full(n, np.inf)
    heap = []
    for s in sources:
        best[s] = E[s]
        heapq.heappush(heap, (E[s], s))
    while heap:
        lev, x = heapq.heappop(heap)
        if lev > best[x]:
            continue
        for d in steps:
            y = tuple((x[k] + d[k]) % n[k] for k in range(3))
            if not np.isfinite(E[y]):
                continue
            cand = max(lev, E[y])
            if cand < best[y]:
                best[y] = cand
                heapq.heappush(heap, (cand, y))
    return best
