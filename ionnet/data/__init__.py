"""Bundled data and generators of energy fields with known answers.

The files (``LiFePO4.cif``, ``LiFePO4_bvse.npz``; see ``README.md`` here) are
read with :func:`ionnet.io.example_structure` and :func:`ionnet.io.example_grid`.
The generators build the periodic test fields that the tests, examples and
docstrings use, once (as ``freud.data`` does for particle systems):

* :func:`cosine_field` - ``A cos 2πx + B cos 2πy + C cos 2πz``: thresholds in
  closed form;
* :func:`two_well_field` - two unequal wells per cell along a, channels along b
  and c;
* :func:`random_field` - a smooth random periodic field (a few Fourier modes),
  optionally with forbidden nodes.

Every generator returns an ``(na, nb, nc)`` float64 array of energies in eV on
the nodes ``(i/na, j/nb, k/nc)``; pass it to :func:`ionnet.analyze` with a
``lattice`` or wrap it in an :class:`ionnet.EnergyGrid`.
"""
from __future__ import annotations

from collections.abc import Sequence
from importlib import resources

import numpy as np
from numpy.typing import NDArray

from ..errors import DataError, GridError

__all__ = ["cosine_field", "two_well_field", "random_field", "path"]


def _axes(shape: Sequence[int]) -> list[NDArray[np.float64]]:
    """Fractional coordinates of the nodes along a, b, c."""
    if len(shape) != 3 or min(int(n) for n in shape) < 1:
        raise GridError(f"`shape` must be three positive integers (got {shape!r})")
    return [np.arange(int(n)) / int(n) for n in shape]


def cosine_field(
    shape: Sequence[int] = (8, 8, 8),
    amplitudes: Sequence[float] = (0.1, 0.3, 0.5),
    *,
    offset: float = 0.0,
) -> NDArray[np.float64]:
    """The separable field ``E = A cos 2πx + B cos 2πy + C cos 2πz + offset`` (eV).

    Crossing axis k costs its amplitude times the range of ``cos`` on that
    axis's nodes (``2 |A|`` for an even node count), so with ``A < B < C`` and
    even counts the 1D, 2D and 3D percolation energies are ``2A``, ``2B``,
    ``2C`` along a, then a and b, then all three, at every connectivity.

    Parameters
    ----------
    shape : (3,) ints
        Nodes along a, b, c.
    amplitudes : (3,) floats, eV
        ``A, B, C``.
    offset : float, eV
        Added to every node (e.g. a total-energy reference).

    Returns
    -------
    (na, nb, nc) ndarray of float64, eV

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import cosine_field
    >>> r = ionnet.analyze(cosine_field((8, 8, 8), (0.1, 0.3, 0.5)), lattice=np.eye(3) * 5.0)
    >>> [round(r.percolation_energy[d], 6) for d in (1, 2, 3)], r.percolation_directions[1]
    ([0.2, 0.6, 1.0], [[1, 0, 0]])
    """
    x, y, z = _axes(shape)
    a, b, c = (float(v) for v in amplitudes)
    return (
        a * np.cos(2 * np.pi * x)[:, None, None]
        + b * np.cos(2 * np.pi * y)[None, :, None]
        + c * np.cos(2 * np.pi * z)[None, None, :]
        + float(offset)
    )


def two_well_field(
    shape: Sequence[int] = (16, 8, 8),
    *,
    barrier: float = 0.3,
    tilt: float = 0.1,
    amplitudes: Sequence[float] = (0.05, 0.25),
) -> NDArray[np.float64]:
    """Two unequal wells per cell along a, cosine channels along b and c (eV).

    ``E = barrier cos 4πx - tilt sin 2πx + B cos 2πy + C cos 2πz``: a deep
    well near ``x = 1/4`` and a shallower one near ``x = 3/4``, separated by
    walls of about ``2 barrier``; crossing b costs ``2B`` and c ``2C``.

    Parameters
    ----------
    shape : (3,) ints
        Nodes along a, b, c; a multiple of 4 along a puts both wells on nodes.
    barrier, tilt : float, eV
        Height of the ``cos 4πx`` walls and of the ``sin 2πx`` tilt between the wells.
    amplitudes : (2,) floats, eV
        ``B, C`` of the channels along b and c (0 makes the field flat there).

    Returns
    -------
    energies : (na, nb, nc) ndarray of float64, eV

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import two_well_field
    >>> r = ionnet.analyze(two_well_field(), lattice=np.diag([6.0, 4.0, 4.5]))
    >>> round(r.mpe, 4), r.percolation_directions[1], r.sites().n_sites
    (0.1, [[0, 1, 0]], 2)
    """
    x, y, z = _axes(shape)
    b, c = (float(v) for v in amplitudes)
    along_a = float(barrier) * np.cos(4 * np.pi * x) - float(tilt) * np.sin(2 * np.pi * x)
    return along_a[:, None, None] + b * np.cos(2 * np.pi * y)[None, :, None] + c * np.cos(2 * np.pi * z)[None, None, :]


def random_field(
    shape: Sequence[int],
    seed: int | np.random.Generator | None = None,
    *,
    n_modes: int = 6,
    forbidden: float = 0.0,
) -> NDArray[np.float64]:
    """A smooth random periodic field: a few low Fourier modes plus 1e-4 eV noise (breaks ties).

    Parameters
    ----------
    shape : (3,) ints
        Nodes along a, b, c.
    seed : int, numpy Generator or None
        Random state (``numpy.random.default_rng(seed)``).
    n_modes : int
        Cosine modes with wave vectors in ``{-2..2}^3`` and normal amplitudes (eV).
    forbidden : float
        Fraction of nodes set to +inf (forbidden), drawn at random.

    Returns
    -------
    (na, nb, nc) ndarray of float64, eV

    Examples
    --------
    >>> from ionnet.data import random_field
    >>> e = random_field((5, 6, 7), seed=0, forbidden=0.1)
    >>> e.shape, bool((random_field((5, 6, 7), seed=0, forbidden=0.1) == e).all())
    ((5, 6, 7), True)
    """
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*_axes(shape), indexing="ij")
    shape = tuple(int(n) for n in shape)
    e = np.zeros(shape)
    for _ in range(int(n_modes)):
        kvec = rng.integers(-2, 3, size=3)
        amp = rng.normal()
        phase = rng.uniform(0, 2 * np.pi)
        e += amp * np.cos(2 * np.pi * sum(kvec[i] * grids[i] for i in range(3)) + phase)
    e += 1e-4 * rng.normal(size=shape)
    if forbidden:
        e[rng.random(shape) < forbidden] = np.inf
    return e


def path(name: str) -> str:
    """Path of a bundled data file (``'LiFePO4.cif'``, ``'LiFePO4_bvse.npz'``).

    Examples
    --------
    >>> from ionnet.data import path
    >>> path("LiFePO4.cif").endswith("LiFePO4.cif")
    True
    """
    p = resources.files(__name__).joinpath(name)
    if not p.is_file():
        names = sorted(f.name for f in resources.files(__name__).iterdir() if f.suffix in (".cif", ".npz"))
        raise DataError(f"no bundled data file {name!r}; available: {', '.join(names)}")
    return str(p)
