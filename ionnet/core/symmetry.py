"""Space-group operations acting on the nodes of a periodic grid (integer arithmetic only).

An operation ``x -> R x + t`` (fractional coordinates, ``R`` an integer matrix,
``t`` a rational vector ``num / den``) maps the grid of shape ``n`` onto itself
when every ``t_r n_r`` is an integer and every ``n_r R_rs / n_s`` is an integer;
it then acts on node indices as ``i -> M i + T (mod n)`` with
``M_rs = n_r R_rs / n_s`` and ``T_r = t_r n_r``.  Nodes of one orbit share one
representative (the smallest flat index), so a scan evaluates one node per orbit.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from ..errors import GridError

__all__ = [
    "rational_translations",
    "compatible",
    "compatible_shape",
    "integer_ops",
    "orbit_representatives",
    "move_nodes",
    "move_map",
]


def rational_translations(
    translations: NDArray[np.float64], *, max_denominator: int = 24, tol: float = 2e-3
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_]]:
    """Translations as reduced fractions ``num / den`` in [0, 1).

    Parameters
    ----------
    translations : (k, 3) ndarray, fractional
    max_denominator : int
        Largest denominator accepted.
    tol : float, fractional
        A component further than this from every such fraction is irrational.

    Returns
    -------
    num, den : (k, 3) ndarray of int
        Numerator and denominator of each component (0/1 where irrational).
    ok : (k,) ndarray of bool
        Every component of the operation is rational.

    Examples
    --------
    >>> num, den, ok = rational_translations(np.array([[0.5, 0.25, 0.0], [0.0137, 0.0, 0.0]]))
    >>> num.tolist(), den.tolist(), ok.tolist()
    ([[1, 1, 0], [0, 0, 0]], [[2, 4, 1], [1, 1, 1]], [True, False])
    """
    t = np.asarray(translations, dtype=np.float64).reshape(-1, 3) % 1.0
    num = np.zeros(t.shape, dtype=np.int64)
    den = np.ones(t.shape, dtype=np.int64)
    ok = np.ones(len(t), dtype=bool)
    for k, row in enumerate(t):
        for r, x in enumerate(row):
            f = Fraction(float(x)).limit_denominator(max_denominator)
            if abs(float(f) - x) > tol:
                ok[k] = False
                continue
            f %= 1
            num[k, r], den[k, r] = f.numerator, f.denominator
    num[~ok] = 0
    den[~ok] = 1
    return num, den, ok


def compatible(shape: Sequence[int], rotations: NDArray[np.int64], den: NDArray[np.int64]) -> NDArray[np.bool_]:
    """(k,) True where operation k maps the grid of ``shape`` onto itself.

    Parameters
    ----------
    shape : (3,) ints
    rotations : (k, 3, 3) ndarray of int
    den : (k, 3) ndarray of int
        Translation denominators.
    """
    n = np.asarray(shape, dtype=np.int64)
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    trans_ok = np.all(n[None, :] % np.asarray(den, dtype=np.int64).reshape(-1, 3) == 0, axis=1)
    rot_ok = np.all((rot == 0) | ((n[None, :, None] * rot) % n[None, None, :] == 0), axis=(1, 2))
    return trans_ok & rot_ok


def compatible_shape(
    shape: Sequence[int], rotations: NDArray[np.int64], den: NDArray[np.int64]
) -> tuple[int, int, int]:
    """Smallest shape >= ``shape`` mapped onto itself by every operation.

    Each ``n_r`` is rounded up to a multiple of the translation denominators
    along r, and axes mixed by a rotation get equal node counts.

    Examples
    --------
    >>> rot = np.array([np.eye(3, dtype=int), [[0, 1, 0], [1, 0, 0], [0, 0, 1]]])
    >>> compatible_shape((7, 8, 5), rot, np.array([[2, 2, 1], [1, 1, 4]]))
    (8, 8, 8)
    """
    n = [int(x) for x in shape]
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    den = np.asarray(den, dtype=np.int64).reshape(-1, 3)
    for _ in range(200):
        old = list(n)
        for R, d in zip(rot, den):
            for r in range(3):
                n[r] = -(-n[r] // int(d[r])) * int(d[r])
                for s in range(3):
                    if r != s and R[r, s] and n[r] != n[s]:
                        n[r] = n[s] = max(n[r], n[s])
        if n == old:
            break
    return tuple(n)  # type: ignore[return-value]


def integer_ops(
    shape: Sequence[int], rotations: NDArray[np.int64], num: NDArray[np.int64], den: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Each operation as ``i -> M i + T (mod n)`` on integer node indices.

    Parameters
    ----------
    shape : (3,) ints
    rotations : (k, 3, 3) ndarray of int
    num, den : (k, 3) ndarray of int
        Translations ``num / den`` (fractional).

    Returns
    -------
    M : (k, 3, 3) ndarray of int
    T : (k, 3) ndarray of int

    Raises
    ------
    GridError
        An operation does not map the grid onto itself (see :func:`compatible`).
    """
    n = np.asarray(shape, dtype=np.int64)
    rot = np.asarray(rotations, dtype=np.int64).reshape(-1, 3, 3)
    num = np.asarray(num, dtype=np.int64).reshape(-1, 3)
    den = np.asarray(den, dtype=np.int64).reshape(-1, 3)
    if not np.all(compatible(n, rot, den)):
        raise GridError(f"an operation does not map the grid {tuple(int(x) for x in n)} onto itself")
    M = (n[None, :, None] * rot) // n[None, None, :]
    T = (num * n[None, :]) // den
    return M, T


def orbit_representatives(shape: Sequence[int], M: NDArray[np.int64], T: NDArray[np.int64]) -> NDArray[np.int64]:
    """(N,) flat index of the smallest node of each node's orbit (exact for a group).

    Examples
    --------
    >>> M = np.array([np.eye(3, dtype=int), -np.eye(3, dtype=int)])  # identity and inversion
    >>> orbit_representatives((4, 1, 1), M, np.zeros((2, 3), dtype=int)).tolist()
    [0, 1, 2, 1]
    """
    n = np.asarray(shape, dtype=np.int64)
    rep = np.arange(int(np.prod(n)), dtype=np.int64)
    idx = np.indices(tuple(int(x) for x in n), dtype=np.int64).reshape(3, -1)
    eye = np.eye(3, dtype=np.int64)
    for m, t in zip(np.asarray(M).reshape(-1, 3, 3), np.asarray(T).reshape(-1, 3)):
        if np.array_equal(m, eye) and not t.any():
            continue
        j = (m @ idx + t[:, None]) % n[:, None]
        np.minimum(rep, (j[0] * n[1] + j[1]) * n[2] + j[2], out=rep)
    return rep


def move_nodes(M: NDArray[np.int64], T: NDArray[np.int64], shape: Sequence[int]) -> NDArray[np.int64]:
    """(N,) flat index ``M i + T (mod n)`` of every node ``i`` of the grid ``shape``.

    A map ``E`` moved by the operation is ``E'[move_nodes(M, T, shape)] = E.ravel()``.

    Examples
    --------
    >>> move_nodes(-np.eye(3, dtype=int), np.array([1, 0, 0]), (4, 1, 1)).tolist()
    [1, 0, 3, 2]
    """
    n = np.asarray(shape, dtype=np.int64)
    idx = np.indices(tuple(int(x) for x in n), dtype=np.int64).reshape(3, -1)
    j = (np.asarray(M, dtype=np.int64).reshape(3, 3) @ idx + np.asarray(T, dtype=np.int64).reshape(3, 1)) % n[:, None]
    return (j[0] * n[1] + j[1]) * n[2] + j[2]


def move_map(M: NDArray[np.int64], T: NDArray[np.int64], values: NDArray) -> NDArray:
    """``values`` ((na, nb, nc) array) moved by the node operation ``i -> M i + T``: ``out[M i + T] = values[i]``."""
    v = np.asarray(values)
    out = np.empty(v.size, dtype=v.dtype)
    out[move_nodes(M, T, v.shape)] = v.ravel()
    return out.reshape(v.shape)
