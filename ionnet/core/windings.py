"""Winding vectors of a percolating region: integer lattice directions and their canonical basis."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

__all__ = ["reduce_direction", "canonical_basis"]


def reduce_direction(v: NDArray[np.int64]) -> list[int]:
    """An integer direction divided by the gcd of its components, first non-zero component positive.

    Examples
    --------
    >>> reduce_direction(np.array([0, -4, 2]))
    [0, 2, -1]
    """
    v = np.asarray(v, dtype=np.int64)
    g = np.gcd.reduce(np.abs(v)) if np.any(v) else 1
    v = v // max(int(g), 1)
    nz = np.flatnonzero(v)
    if nz.size and v[nz[0]] < 0:
        v = -v
    return [int(x) for x in v]


def canonical_basis(vectors: NDArray[np.int64]) -> list[list[int]]:
    """Canonical integer basis of the span of winding vectors.

    The reduced row echelon form (exact, over the rationals), each row scaled
    to coprime integers: the same span always prints the same way.

    Examples
    --------
    >>> canonical_basis(np.array([[1, 1, 0], [0, 1, 0]]))
    [[1, 0, 0], [0, 1, 0]]
    >>> canonical_basis(np.array([[2, 2, 0], [-1, -1, 0]]))
    [[1, 1, 0]]
    """
    rows = [[Fraction(int(x)) for x in v] for v in vectors if np.any(v)]
    out: list[list[Fraction]] = []
    col = 0
    while rows and col < 3:
        piv = next((r for r in rows if r[col] != 0), None)
        if piv is None:
            col += 1
            continue
        rows.remove(piv)
        piv = [x / piv[col] for x in piv]
        rows = [[a - r[col] * b for a, b in zip(r, piv)] for r in rows]
        out = [[a - o[col] * b for a, b in zip(o, piv)] for o in out]
        out.append(piv)
        rows = [r for r in rows if any(r)]
        col += 1
    ints = []
    for r in out:
        den = np.lcm.reduce([x.denominator for x in r])
        ints.append(reduce_direction(np.array([int(x * den) for x in r])))
    return ints
