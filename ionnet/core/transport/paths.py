"""Grid paths of the mobile ion inside one basin: steepest descent, then the lowest-maximum path.

The nodes carry their basin's periodic frame (:func:`ionnet.core.sites.basin_images`):
a step stays inside a basin only if it keeps both the site label and the image,
so a path never jumps to another periodic copy of its own basin.
"""
from __future__ import annotations

import heapq

import numpy as np
from numba import njit

from ..periodic import neighbour

__all__ = ["descent_path", "basin_path"]


@njit(cache=True, inline="always")
def _same_frame(x, y, w0, w1, w2, label, img):
    """Whether the step ``x -> y`` (crossing the cell offset w) stays in ``x``'s basin and periodic frame."""
    return (label[y] == label[x] and img[x, 0] + w0 == img[y, 0] and img[x, 1] + w1 == img[y, 1]
            and img[x, 2] + w2 == img[y, 2])


@njit(cache=True)
def _descent(start, label, img, energies, shape, steps, step_len):
    n = energies.shape[0]
    path = np.empty(n, dtype=np.int64)
    path[0] = start
    m = 1
    cur = start
    while m < n:
        best = -1
        best_slope = 0.0
        for s in range(steps.shape[0]):
            y, w0, w1, w2 = neighbour(cur, s, shape, steps)
            if not _same_frame(cur, y, w0, w1, w2, label, img):
                continue
            slope = (energies[y] - energies[cur]) / step_len[s]
            if slope < best_slope:
                best_slope = slope
                best = y
        if best < 0:
            break
        path[m] = best
        m += 1
        cur = best
    return path[:m]


def descent_path(start, site_label, img, energies, steps, step_len) -> np.ndarray:
    """Steepest-descent node path from ``start`` inside its basin (stops at a local minimum).

    Each step goes to the neighbour (same basin, same periodic frame) with the
    most negative energy change per Å.
    """
    shape = np.asarray(site_label.shape, dtype=np.int64)
    return _descent(
        int(start), np.ascontiguousarray(site_label, dtype=np.int64).ravel(), img,
        np.ascontiguousarray(energies, dtype=np.float64).ravel(), shape,
        np.ascontiguousarray(steps, dtype=np.int64), np.asarray(step_len, dtype=np.float64),
    )


@njit(cache=True)
def _basin_dijkstra(start, goal, label, img, energies, shape, steps, step_len):
    """Lowest-maximum path (ties: shortest) from start to goal inside one basin frame."""
    n = energies.shape[0]
    best_max = np.full(n, np.inf)
    best_len = np.full(n, np.inf)
    prev = np.full(n, -1, dtype=np.int64)
    done = np.zeros(n, dtype=np.bool_)
    heap = [(energies[start], 0.0, start)]
    best_max[start] = energies[start]
    best_len[start] = 0.0
    while len(heap) > 0:
        bm, bl, x = heapq.heappop(heap)
        if done[x]:
            continue
        done[x] = True
        if x == goal:
            break
        for s in range(steps.shape[0]):
            y, w0, w1, w2 = neighbour(x, s, shape, steps)
            if done[y] or not _same_frame(x, y, w0, w1, w2, label, img):
                continue
            nm = max(bm, energies[y])
            nl = bl + step_len[s]
            if nm < best_max[y] or (nm == best_max[y] and nl < best_len[y]):
                best_max[y] = nm
                best_len[y] = nl
                prev[y] = x
                heapq.heappush(heap, (nm, nl, y))
    out = np.empty(n, dtype=np.int64)
    m = 0
    x = goal
    while x >= 0 and m < n:
        out[m] = x
        m += 1
        if x == start:
            break
        x = prev[x]
    return out[:m][::-1]


def basin_path(start, site_label, img, energies, steps, step_len, site_nodes) -> np.ndarray:
    """Node path from ``start`` down to its site's minimum node, in the basin's periodic frame.

    Steepest descent first; if that stops at a local minimum that is not the
    site's (a shallow basin merged by ``min_depth``), the rest is the
    lowest-maximum path to the site minimum.
    """
    lab = np.ascontiguousarray(site_label, dtype=np.int64).ravel()
    e = np.ascontiguousarray(energies, dtype=np.float64).ravel()
    shape = np.asarray(site_label.shape, dtype=np.int64)
    st = np.ascontiguousarray(steps, dtype=np.int64)
    sl = np.asarray(step_len, dtype=np.float64)
    goal = int(site_nodes[lab[int(start)]])
    p = _descent(int(start), lab, img, e, shape, st, sl)
    if p[-1] != goal:
        rest = _basin_dijkstra(int(p[-1]), goal, lab, img, e, shape, st, sl)
        p = np.concatenate([p, rest[1:]])
    return p
