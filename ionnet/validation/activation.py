"""Measured activation energies (Laskowski et al. 2023) joined to OBELiX by ICSD id.

The Laskowski 2023 SI table (``laskowski2023_si_semiformatted_filtered.csv``, no header) has
the columns: formula, σ (S/cm), Ea (eV, empty when not measured), space group, space-group
number, -, ICSD id, reference number.  Numbers carry stray formatting marks (e.g. a combining
overline), which are stripped.  An OBELiX entry with a CIF is joined to every Laskowski row with
the same ICSD id and a measured Ea; when several rows share the id their median Ea is used
(on the bundled copies: 113 joined entries, 3 with more than one row).
"""
from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from .metrics import descriptor_value, spearman

__all__ = ["load_laskowski_ea", "join_activation", "ea_metrics", "find_laskowski", "activation_metrics", "sigma_metrics"]


def _number(text: str) -> float | None:
    s = re.sub(r"[^0-9.eE+-]", "", text)
    try:
        return float(s)
    except ValueError:
        return None


def load_laskowski_ea(path: str | os.PathLike) -> dict[str, list[float]]:
    """ICSD id (str, no decimals) -> measured activation energies, eV, from the Laskowski SI table.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "l.csv")
    >>> _ = open(p, "w", encoding="utf-8").write("Li7BiO6,8.8E-07,0.58\u0305,P-1,2,,155950,3\\nX,1E-9,,P1,1,,7,4\\n")
    >>> load_laskowski_ea(p)
    {'155950': [0.58]}
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, "laskowski2023_si_semiformatted_filtered.csv")
    if not os.path.exists(path):
        raise DataError(f"{path} not found: pass the Laskowski 2023 SI csv or its folder")
    out: dict[str, list[float]] = {}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            if len(row) < 7:
                continue
            ea = _number(row[2])
            icsd = _number(row[6])
            if ea is None or icsd is None or not math.isfinite(ea):
                continue
            out.setdefault(str(int(icsd)), []).append(ea)
    return out


def join_activation(obelix_csv: str | os.PathLike, laskowski: dict[str, list[float]]) -> dict[str, float]:
    """OBELiX id -> measured Ea (eV; median over rows with its ICSD id), entries with a CIF only."""
    out: dict[str, float] = {}
    with open(os.fspath(obelix_csv), newline="") as f:
        for row in csv.DictReader(f):
            icsd = _number(row.get("icsd_id", "") or "")
            if row.get("has_cif", "").strip() != "True" or icsd is None:
                continue
            vals = laskowski.get(str(int(icsd)))
            if vals:
                out[row["id"]] = float(np.median(vals))
    return out


def ea_metrics(predicted: dict[str, float], measured: dict[str, float]) -> dict:
    """Spearman ρ and mean absolute error (eV) of predicted vs measured Ea over shared finite ids.

    Examples
    --------
    >>> m = ea_metrics({"a": 0.3, "b": 0.5, "c": 0.9}, {"a": 0.2, "b": 0.4, "c": 1.0, "d": 0.1})
    >>> m["n"], round(m["spearman"], 3), round(m["mae_ev"], 3)
    (3, 1.0, 0.1)
    """
    ids = [i for i in sorted(set(predicted) & set(measured))
           if math.isfinite(predicted[i]) and math.isfinite(measured[i])]
    p = np.array([predicted[i] for i in ids], float)
    m = np.array([measured[i] for i in ids], float)
    return {"n": len(ids), "spearman": spearman(p, m) if len(ids) > 1 else float("nan"),
            "mae_ev": float(np.mean(np.abs(p - m))) if ids else float("nan")}


def find_laskowski(data: str | os.PathLike) -> str | None:
    """The Laskowski 2023 folder beside an OBELiX folder (``<data>/../laskowski2023``), or None."""
    p = os.path.join(os.path.dirname(os.path.abspath(os.fspath(data))), "laskowski2023")
    return p if os.path.isdir(p) else None


def activation_metrics(records: list[dict], measured: dict[str, float],
                       names: tuple[str, ...] = ("mpe", "ea")) -> dict[str, dict]:
    """:func:`ea_metrics` of each descriptor in ``names`` (eV) over scored records with a measured Ea.

    ``records`` are validation records (``{"id", "row"}``); a structure whose map never
    percolates (+inf) is left out of the MAE and Spearman and counted as ``n_inf``.

    Examples
    --------
    >>> recs = [{"id": "a", "row": {"descriptors": {"mpe": 0.3, "ea": 0.25}}},
    ...         {"id": "b", "row": {"descriptors": {"mpe": 0.5, "ea": 0.45}}},
    ...         {"id": "c", "row": {"descriptors": {"mpe": None, "ea": None}}}]
    >>> m = activation_metrics(recs, {"a": 0.2, "b": 0.4, "c": 0.6})
    >>> m["mpe"]["n"], round(m["mpe"]["mae_ev"], 3), m["mpe"]["n_inf"], round(m["ea"]["mae_ev"], 3)
    (2, 0.1, 1, 0.05)
    """
    out = {}
    for name in names:
        pred = {r["id"]: descriptor_value(r["row"], name) for r in records if r["id"] in measured}
        m = ea_metrics(pred, measured)
        m["n_inf"] = sum(1 for v in pred.values() if math.isinf(v))
        out[name] = m
    return out


def sigma_metrics(records: list[dict]) -> dict:
    """Predicted log10 σ(300 K) (``log10_sigma_300``) against measured log10 σ over scored records:
    ``n``, Spearman ρ and mean absolute error in decades (finite predictions; uncensored measurements).

    Examples
    --------
    >>> recs = [{"row": {"log10_sigma_300": -3.0}, "log10_sigma": -4.0, "censored": False},
    ...         {"row": {"log10_sigma_300": -6.0}, "log10_sigma": -7.0, "censored": False}]
    >>> m = sigma_metrics(recs); m["n"], m["spearman"], m["mae_decades"]
    (2, 1.0, 1.0)
    """
    pairs = [(descriptor_value(r["row"], "log10_sigma_300"), r["log10_sigma"]) for r in records
             if not r.get("censored")]
    pairs = [(p, m) for p, m in pairs if math.isfinite(p) and math.isfinite(m)]
    p = np.array([a for a, _ in pairs], float)
    m = np.array([b for _, b in pairs], float)
    return {"n": len(pairs), "spearman": spearman(p, m) if len(pairs) > 1 else float("nan"),
            "mae_decades": float(np.mean(np.abs(p - m))) if pairs else float("nan"),
            "median_offset_decades": float(np.median(p - m)) if pairs else float("nan")}
