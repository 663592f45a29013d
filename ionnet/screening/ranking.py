"""Ranking the stored rows by a descriptor."""
from __future__ import annotations

import math
import os

from ..errors import ScreenError
from .store import FV_CURVE_STEP_EV, read_results

__all__ = ["RANK_KEYS", "rank"]

#: ``rank(by=...)`` choices and their sort direction (True: ascending, lower is better).
RANK_KEYS = {"mpe": True, "e2d": True, "e3d": True, "fv": False, "xi": False, "xi_cell": False}


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
