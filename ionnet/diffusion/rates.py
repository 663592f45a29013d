"""Harmonic hopping rates ``k = ν exp(-(E_s - E_i)/kT)`` as log flux weights, and the log-sum-exp helpers.

Weights are kept as logarithms (``ln π_i``, ``ln w_e = ln π_i k_ij``) so that
rates spanning hundreds of decades stay exact; the grid (TST) rates are
:meth:`ionnet.diffusion.basins._Basins.grid_weights`.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..analysis import SiteGraph

__all__: list[str] = []


def _logsumexp_rows(a: NDArray[np.float64], axis: int = -1) -> NDArray[np.float64]:
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.squeeze(m, axis=axis) + np.log(np.sum(np.exp(a - m), axis=axis))


def _grouped_logsumexp(values: NDArray[np.float64], groups: NDArray[np.int64], n_groups: int) -> NDArray[np.float64]:
    """log Σ exp(values) per group, for every row of ``values`` (nT, K) -> (nT, n_groups)."""
    nt = values.shape[0]
    top = np.full((nt, n_groups), -np.inf)
    for t in range(nt):
        np.maximum.at(top[t], groups, values[t])
    safe = np.where(np.isfinite(top), top, 0.0)
    out = np.zeros((nt, n_groups))
    for t in range(nt):
        out[t] = np.bincount(groups, weights=np.exp(values[t] - safe[t, groups]), minlength=n_groups)
    with np.errstate(divide="ignore"):
        return np.where(out > 0, np.log(np.where(out > 0, out, 1.0)) + safe, -np.inf)


def _harmonic_weights(sites: SiteGraph, kt: NDArray[np.float64], nu: float):
    """ln π_i (nT, S) and ln w_e = ln(π_i k_ij) (nT, M) for k = ν exp(-(E_s - E_i)/kT)."""
    e = sites.energies[None, :] / kt[:, None]
    log_z = _logsumexp_rows(-e)
    log_pi = -e - log_z[:, None]
    log_w = math.log(nu) - sites.saddle_energies[None, :] / kt[:, None] - log_z[:, None]
    return log_pi, log_w

