"""Rounding expected counts to integers: largest remainders, per orbit and per element total.

:func:`largest_remainder` and :func:`round_counts` are the kernels;
:func:`round_for` builds the (orbits x species) table of one supercell size,
:func:`balance` sets the mobile-ion count for charge neutrality (occupied
mode) and :func:`rounding_error` scores a rounding.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

__all__ = ["largest_remainder", "round_counts", "round_for", "balance", "rounding_error"]


def largest_remainder(values: Sequence[float], total: int | None = None) -> NDArray[np.int64]:
    """Round non-negative ``values`` to integers that sum to ``total`` (largest-remainder method).

    Every value is rounded down, then the ``total - sum(floor)`` values with
    the largest remainders are rounded up (ties: the earlier value).

    Parameters
    ----------
    values : (K,) array_like of float, >= 0
    total : int, optional
        Default: ``round(sum(values))``.  Must lie between ``sum(floor(values))``
        and ``sum(ceil(values))``.

    Returns
    -------
    (K,) ndarray of int

    Examples
    --------
    >>> largest_remainder([2.4, 1.35, 3.25]).tolist()
    [3, 1, 3]
    >>> largest_remainder([1/3, 1/3, 1/3], 1).tolist()
    [1, 0, 0]
    """
    v = np.asarray(values, dtype=float).ravel()
    if np.any(v < -1e-9) or not np.all(np.isfinite(v)):
        raise ValueError(f"`values` must be finite and >= 0 (got {v.tolist()})")
    v = np.clip(v, 0.0, None)
    near = np.abs(v - np.round(v)) < 1e-9
    lo = np.where(near, np.round(v), np.floor(v)).astype(np.int64)
    rem = np.where(near, 0.0, v - lo)
    total = int(round(v.sum())) if total is None else int(total)
    extra = total - int(lo.sum())
    n_frac = int(np.count_nonzero(rem > 0))
    if extra < 0 or extra > n_frac:
        raise ValueError(f"`total` = {total} cannot be reached by rounding {v.tolist()} up or down")
    order = np.argsort(-rem, kind="stable")
    lo[order[:extra]] += 1
    return lo


def _floor_frac(t: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    near = np.abs(t - np.round(t)) < 1e-9
    lo = np.where(near, np.round(t), np.floor(t)).astype(np.int64)
    return lo, np.where(near, 0.0, t - lo)


def round_counts(targets: Any, row_totals: Any) -> NDArray[np.int64]:
    """Round a (rows x species) table of expected counts, keeping row and column totals.

    Each entry becomes the floor or the ceiling of its target; row ``g``
    sums to ``row_totals[g]`` exactly (the sites of an orbit), and each column
    (an element, or the vacancies) sums to the largest-remainder rounding of
    its total whenever the floor/ceiling bounds allow it.  Rounding starts
    from largest remainders in each row; column totals are then repaired
    along shortest exchange paths (moving one unit from a column in excess
    to one short of its total within a row, possibly through other columns).

    Parameters
    ----------
    targets : (G, S) array_like of float, >= 0
        Expected counts; each row sums to its ``row_totals`` entry.
    row_totals : (G,) array_like of int

    Returns
    -------
    (G, S) ndarray of int

    Examples
    --------
    Three orbits of two sites, each 1/3 Ge and 2/3 P: per-orbit rounding alone
    would give 3 Ge (target 2); the column repair keeps the total at 2.

    >>> t = [[2/3, 4/3], [2/3, 4/3], [2/3, 4/3]]
    >>> round_counts(t, [2, 2, 2]).sum(axis=0).tolist()
    [2, 4]
    """
    t = np.asarray(targets, dtype=float)
    rows = np.asarray(row_totals, dtype=np.int64)
    if t.ndim != 2 or rows.shape != (t.shape[0],):
        raise ValueError(f"`targets` must be (G, S) and `row_totals` (G,) (got {t.shape} and {rows.shape})")
    if np.any(np.abs(t.sum(axis=1) - rows) > 1e-6 * np.maximum(rows, 1)):
        raise ValueError("each row of `targets` must sum to its `row_totals` entry")
    lo, frac = _floor_frac(np.clip(t, 0.0, None))
    need_row = rows - lo.sum(axis=1)
    col_goal = largest_remainder(t.sum(axis=0), int(rows.sum())) - lo.sum(axis=0)
    up = np.zeros(t.shape, dtype=bool)
    col_up = np.zeros(t.shape[1], dtype=np.int64)
    # greedy: the largest remainders first, while both the row and the column still want one
    for k in np.argsort(-frac, axis=None, kind="stable"):
        g, s = divmod(int(k), t.shape[1])
        if frac[g, s] <= 0:
            break
        if need_row[g] > 0 and col_up[s] < col_goal[s]:
            up[g, s] = True
            need_row[g] -= 1
            col_up[s] += 1
    # rows still short: their largest remaining remainders (columns overshoot; repaired below)
    for g in np.flatnonzero(need_row > 0):
        cand = [s for s in np.argsort(-frac[g], kind="stable") if frac[g, s] > 0 and not up[g, s]]
        for s in cand[: need_row[g]]:
            up[g, s] = True
            col_up[s] += 1
        need_row[g] = 0
    _repair_columns(up, frac, col_up, col_goal)
    return lo + up.astype(np.int64)


def _repair_columns(up, frac, col_up, col_goal, max_steps: int = 10_000) -> None:
    """Move round-ups between columns along shortest paths until column goals are met (in place)."""
    S = up.shape[1]
    for _ in range(max_steps):
        surplus = [s for s in range(S) if col_up[s] > col_goal[s]]
        deficit = {s for s in range(S) if col_up[s] < col_goal[s]}
        if not surplus or not deficit:
            return
        # BFS over columns: s -> s' through a row g with up[g, s] and a free remainder at (g, s')
        prev: dict[int, tuple[int, int] | None] = {s: None for s in surplus}
        queue = list(surplus)
        hit = None
        while queue and hit is None:
            nxt = []
            for s in queue:
                best: dict[int, tuple[float, int]] = {}
                for g in np.flatnonzero(up[:, s]):
                    for s2 in np.flatnonzero((frac[g] > 0) & ~up[g]):
                        s2 = int(s2)
                        if s2 in prev:
                            continue
                        cost = frac[g, s] - frac[g, s2]
                        if s2 not in best or cost < best[s2][0]:
                            best[s2] = (cost, int(g))
                for s2, (_, g) in best.items():
                    prev[s2] = (s, g)
                    if s2 in deficit:
                        hit = s2
                        break
                    nxt.append(s2)
                if hit is not None:
                    break
            queue = nxt
        if hit is None:
            return  # the floor/ceiling bounds do not allow the goal
        s2 = hit
        while prev[s2] is not None:
            s, g = prev[s2]
            up[g, s], up[g, s2] = False, True
            col_up[s] -= 1
            col_up[s2] += 1
            s2 = s


def round_for(groups, species, d: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Counts (G, S+1) and targets for ``d`` base cells (last column: vacancies)."""
    G, S = len(groups), len(species)
    t = np.zeros((G, S + 1))
    rows = np.array([len(g.sites) * d for g in groups], dtype=np.int64)
    for gi, g in enumerate(groups):
        for si, e in enumerate(species):
            t[gi, si] = g.target.get(e, 0.0) * rows[gi]
        t[gi, S] = max(rows[gi] - t[gi, :S].sum(), 0.0)
        t[gi] *= rows[gi] / t[gi].sum()
    return round_counts(t, rows), t


def balance(counts, t, groups, species, ion: str, oxi: dict, d: int) -> tuple[NDArray[np.int64], list[str]]:
    """Set the mobile-ion count for charge neutrality with ``oxi`` (as close as the ion's sites allow)."""
    S = len(species)
    q = np.array([oxi.get(e, 0.0) for e in species] + [0.0])
    notes: list[str] = []
    if ion not in species or oxi.get(ion, 0.0) == 0:
        return counts, notes
    ii = species.index(ion)
    fw = np.ones(S + 1, dtype=bool)
    fw[ii] = False
    want = int(round(-float((counts * q)[:, fw].sum()) / q[ii]))
    target = sum(g.reported.get(ion, 0.0) * len(g.sites) * d for g in groups)
    if abs(want - target) > 0.5 + 1e-9:
        notes.append(f"charge balance sets {ion} to {want} per supercell (the input occupancies give {target:.2f})")
    counts = counts.copy()
    hosts = [gi for gi, g in enumerate(groups) if g.target.get(ion, 0.0) > 0]
    cap = int(sum(counts[gi, ii] + counts[gi, S] for gi in hosts))
    if want > cap or want < 0:
        notes.append(f"charge balance needs {want} {ion} per supercell but the {ion} sites hold {cap}")
        want = min(max(want, 0), cap)
    have = int(counts[:, ii].sum())
    while have != want:
        if have < want:   # fill the vacancy of the orbit furthest below its target
            cand = [gi for gi in hosts if counts[gi, S] > 0]
            gi = max(cand, key=lambda g: ((t[g, ii] - counts[g, ii]) / t[g].sum(), -g))
            counts[gi, ii] += 1
            counts[gi, S] -= 1
            have += 1
        else:             # empty a site of the orbit furthest above its target
            cand = [gi for gi in range(len(groups)) if counts[gi, ii] > 0]
            gi = min(cand, key=lambda g: ((t[g, ii] - counts[g, ii]) / t[g].sum(), g))
            counts[gi, ii] -= 1
            counts[gi, S] += 1
            have -= 1
    return counts, notes


def rounding_error(counts, t, groups, skip: int | None = None) -> float:
    """Atoms misplaced per base cell: per-orbit deviations plus element-total deviations.

    Column ``skip`` (the mobile ion in the occupied mode, whose count follows
    from charge balance) is left out.
    """
    d_rows = np.array([len(g.sites) for g in groups], dtype=float)
    n_rows = counts.sum(axis=1).astype(float)
    dev = (counts - t)[:, :-1]
    if skip is not None:
        dev = np.delete(dev, skip, axis=1)
    scale = d_rows / np.maximum(n_rows, 1)     # per base cell
    d = n_rows[0] / d_rows[0] if len(d_rows) else 1.0
    return float((np.abs(dev) * scale[:, None]).sum()) + float(np.abs(dev.sum(axis=0)).sum() / d)
