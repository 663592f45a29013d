"""The supercell shape: the most compact Hermite normal form of a given determinant."""
from __future__ import annotations

import itertools

import numpy as np
from numpy.typing import NDArray

from ._common import MAX_HNF

__all__ = ["supercell_matrix", "lattice_points"]


def _hnf(d: int):
    """Hermite normal forms of determinant ``d`` (lower triangular, rows = supercell vectors)."""
    for a in range(1, d + 1):
        if d % a:
            continue
        for c in range(1, d // a + 1):
            if (d // a) % c:
                continue
            f = d // a // c
            for b in range(c):
                for dd in range(f):
                    for e in range(f):
                        yield np.array([[a, 0, 0], [b, c, 0], [dd, e, f]], dtype=np.int64)


def _n_hnf(d: int) -> int:
    return sum(c * f * f for a in range(1, d + 1) if d % a == 0
               for c in range(1, d // a + 1) if (d // a) % c == 0 for f in [d // a // c])


def supercell_matrix(base_matrix: NDArray[np.float64], d: int) -> NDArray[np.int64]:
    """The most compact supercell of ``d`` base cells (largest distance between periodic images)."""
    if d == 1:
        return np.eye(3, dtype=np.int64)
    if _n_hnf(d) <= MAX_HNF:
        cands = np.array(list(_hnf(d)))
    else:
        cands = np.array([np.diag([a, b, d // a // b]) for a in range(1, d + 1) if d % a == 0
                          for b in range(1, d // a + 1) if (d // a) % b == 0], dtype=np.int64)
    lat = cands @ base_matrix                                    # (K, 3, 3)
    n = np.array([v for v in itertools.product(range(-2, 3), repeat=3) if any(v)], dtype=float)
    short = np.linalg.norm(np.einsum("vi,kij->kvj", n, lat), axis=2).min(axis=1)
    lengths = np.linalg.norm(lat, axis=2).sum(axis=1)
    diag = np.array([np.count_nonzero(m - np.diag(np.diag(m))) == 0 for m in cands])
    order = np.lexsort((~diag, lengths, -np.round(short, 2)))
    return cands[order[0]]


def lattice_points(m: NDArray[np.int64]) -> NDArray[np.float64]:
    """Fractional (supercell) coordinates of the base lattice points inside the supercell, (d, 3)."""
    from pymatgen.util.coord import lattice_points_in_supercell

    return np.asarray(lattice_points_in_supercell(m), dtype=float)
