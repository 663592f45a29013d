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
from .metrics import spearman

__all__ = ["load_laskowski_ea", "join_activation", "ea_metrics"]


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
