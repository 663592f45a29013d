"""Ranking the stored rows by a descriptor."""
from __future__ import annotations

import math
import os

from ..errors import ScreenError
from .store import FV_CURVE_STEP_EV, read_results

__all__ = ["RANK_KEYS", "RANK_COLUMNS", "rank"]

#: ``rank(by=...)`` choices and their sort direction (True: ascending, lower is better).
RANK_KEYS = {"mpe": True, "e2d": True, "e3d": True, "fv": False, "xi": False, "xi_cell": False,
             "ea": True, "sigma": False}
#: The stored column of each ``by`` that is not a column of its own name.
RANK_COLUMNS = {"sigma": "log10_sigma_300"}


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


def _spread(row: dict, key: str) -> float | None:
    """Standard deviation of ``key`` over the row's configurations (None for one configuration)."""
    sp = row.get("spread") or (row.get("descriptors") or {}).get("spread") or {}
    return sp.get(key)


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
    by : {'mpe', 'e2d', 'e3d', 'fv', 'xi', 'xi_cell', 'ea', 'sigma'}
        Percolation energies and the transport activation energy ``ea`` rank
        ascending (a missing value, i.e. never percolates, goes last); free
        volume, Xi and ``sigma`` (``log10_sigma_300``) rank descending.
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
        Each row has ``rank``, ``value`` (the ranked descriptor: the mean
        over the ordered configurations when there are several), ``value_spread``
        (its standard deviation over them, None for one configuration),
        ``fv`` (at ``fv_threshold``) and the stored columns.

    Raises
    ------
    ScreenError
        An unknown ``by``, or ``by='ea'``/``'sigma'`` on a database whose rows
        predate the transport columns (schema 1).
    """
    if by not in RANK_KEYS:
        raise ScreenError(f"`by` must be one of {', '.join(RANK_KEYS)} (got {by!r})")
    rows = read_results(db, model=model, ion=ion, settings_hash=settings_hash, status="ok")
    column = RANK_COLUMNS.get(by, by)
    if by in ("ea", "sigma") and rows and not any(column in r for r in rows):
        raise ScreenError(
            f"the rows of {db} have no `{column}` column (written by an ionnet before the transport columns); "
            "open it with `ionnet screen` to upgrade it, then rerun the screen into a new database to compute them"
        )
    for r in rows:
        r["fv"] = _fv_at(r, fv_threshold)
        r["value"] = r["fv"] if by == "fv" else r.get(column)
        r["value_spread"] = _spread(r, f"fv_{float(fv_threshold):g}" if by == "fv" else column)
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
