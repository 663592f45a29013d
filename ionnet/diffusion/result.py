"""``TransportResult``: D(T), activation energy, conductivity, and the ion's paths on demand."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..analysis import PercolationResult, SiteGraph
from ..errors import TransportError
from .basins import _Basins
from .constants import DIMENSIONALITY_FRACTION, E_CHARGE, KB_J
from .paths import IonPath, _build_path
from .percolation import _minimax_hops, site_percolation

__all__ = ["TransportResult"]


def _fin(x):
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass(frozen=True, eq=False)
class TransportResult:
    """Diffusion, activation energy and conductivity of one mobile ion in a frozen framework.

    Attributes
    ----------
    temperatures : (nT,) ndarray, K
    D : (nT, 3, 3) ndarray, cm²/s
        Tracer diffusion tensor (Cartesian axes of the lattice's frame).
    D_stderr : (nT, 3, 3) ndarray, cm²/s, or None
        Standard error (``method='kmc'`` only; the exact solver has none).
    D_mean : (nT,) ndarray, cm²/s
        ``trace(D) / 3``: the orientational average a powder measures.
    ea : float, eV
        Arrhenius activation energy of ``D_mean`` (least squares of
        ``ln D_mean`` against ``1/kT`` over ``ea_range``); nan if fewer than two
        positive ``D_mean`` lie in the range.
    ea_range : (float, float), K
        Temperatures of the fit.
    D0 : float, cm²/s
        Prefactor of the fit: ``D_mean ≈ D0 exp(-ea / kT)``.
    sigma : (nT,) ndarray, S/cm
        Nernst–Einstein ``n (z e)² D_mean / (H_R k_B T)``; nan when the carrier
        density is unknown.
    carrier_density : float, cm⁻³
    carrier_source : str
        Where the carrier density came from.
    haven_ratio, charge, ion, attempt_frequency, rates, method
        The settings used (``attempt_frequency`` in Hz; None for grid rates).
    occupation : (nT, S) ndarray
        Equilibrium site occupation ``π`` (sums to 1 per temperature).
    sites : SiteGraph
    percolation_energy : dict {1, 2, 3} -> float, eV
        Thresholds of the site graph (any region); ``ea`` tends to
        ``percolation_energy[1]`` (relative to the lowest site) as T -> 0.
    analysis : PercolationResult or None
        The analysed grid (needed for paths).
    kmc : dict or None
        KMC details (``t_end_s``, ``mean_hops``, ``n_walkers`` per temperature).
    """

    temperatures: NDArray[np.float64]
    D: NDArray[np.float64]
    D_stderr: NDArray[np.float64] | None
    D_mean: NDArray[np.float64]
    ea: float
    ea_range: tuple
    D0: float
    sigma: NDArray[np.float64]
    carrier_density: float
    carrier_source: str
    haven_ratio: float
    charge: int
    ion: str | None
    attempt_frequency: float | None
    rates: str
    method: str
    occupation: NDArray[np.float64]
    sites: SiteGraph
    percolation_energy: dict
    analysis: PercolationResult | None = None
    kmc: dict | None = None
    _basins: Any = field(default=None, repr=False)
    _min_depth: float = 0.02

    # ------------------------------------------------------------------ tensors
    @property
    def eigenvalues(self) -> NDArray[np.float64]:
        """(nT, 3) principal diffusion coefficients, cm²/s, ascending.

        Eigenvalues below ``1e-12`` of the largest are set to 0: the
        diagonalisation of the Cartesian tensor cannot resolve them (the tensor
        itself keeps its exact entries).
        """
        ev = np.linalg.eigvalsh(self.D)
        return np.where(ev >= 1e-12 * ev[:, -1:], ev, 0.0)

    @property
    def sigma_tensor(self) -> NDArray[np.float64]:
        """(nT, 3, 3) Nernst–Einstein conductivity tensor, S/cm (single crystal)."""
        f = self.carrier_density * (self.charge * E_CHARGE) ** 2 / (self.haven_ratio * KB_J * self.temperatures)
        return f[:, None, None] * self.D

    def _t_index(self, T: float) -> int:
        k = np.flatnonzero(np.isclose(self.temperatures, float(T), rtol=0, atol=1e-6))
        if k.size == 0:
            raise TransportError(f"T = {T} K was not computed; temperatures are {self.temperatures.tolist()}")
        return int(k[0])

    def dimensionality(self, T: float | None = None, *, fraction: float = DIMENSIONALITY_FRACTION):
        """Number of principal directions with ``D >= fraction × the largest`` (0 if D = 0).

        Parameters
        ----------
        T : float, K, optional
            One of :attr:`temperatures`; None gives an (nT,) array.
        fraction : float
            Default :data:`DIMENSIONALITY_FRACTION` (0.01).
        """
        ev = self.eigenvalues
        top = ev[:, -1:]
        dims = np.where(top[:, 0] > 0, np.sum(ev >= fraction * top, axis=1), 0)
        return dims if T is None else int(dims[self._t_index(T)])

    # ------------------------------------------------------------------ paths
    def _grid_basins(self) -> _Basins:
        if self.analysis is None:
            raise TransportError("paths need the grid: call transport() with an EnergyGrid or analysis result")
        if self._basins is None:
            object.__setattr__(self, "_basins", _Basins(self.analysis, self.sites, self._min_depth))
        return self._basins

    def path(self, site_i: int, site_j: int, *, n_images: int = 7) -> IonPath:
        """The lowest-barrier path from site ``i`` to site ``j`` (site -> saddle -> site ...).

        The site sequence is the minimax path of the site graph; within each
        basin the ion follows steepest descent from the saddle node.

        Parameters
        ----------
        site_i, site_j : int
            Site numbers (``result.sites``); ``j`` is reached in whichever cell
            the path leads to (``IonPath.image``).
        n_images : int
            Intermediate NEB images (the highest point of the path is one of them).
        """
        s = self.sites
        for name, v in (("site_i", site_i), ("site_j", site_j)):
            if not 0 <= int(v) < s.n_sites:
                raise TransportError(f"`{name}` must be a site number 0..{s.n_sites - 1} (got {v})")
        if int(site_i) == int(site_j):
            raise TransportError("`site_i` and `site_j` are the same site; use percolation_path() for a full period")
        hops = _minimax_hops(s, int(site_i), int(site_j))
        return _build_path(self._grid_basins(), s, int(site_i), hops, int(n_images), self.ion or "Li")

    def percolation_path(self, *, n_images: int = 7) -> IonPath:
        """The minimax cycle that first makes the cell percolate, through one period.

        Starts and ends at the lowest site of the cycle (the end one lattice
        period away, ``IonPath.image`` = the winding vector); its highest
        saddle is ``percolation_energy[1]``.
        """
        s = self.sites
        perc = site_percolation(s)
        if not perc["cycle"]:
            raise TransportError("the site graph does not percolate: there is no path through the cell")
        cycle = perc["cycle"]
        starts = []
        for m, fwd in cycle:
            i, j = (int(x) for x in s.edges[m])
            starts.append(i if fwd else j)
        k = int(np.argmin(s.energies[starts]))
        hops = cycle[k:] + cycle[:k]
        return _build_path(self._grid_basins(), s, starts[k], hops, int(n_images), self.ion or "Li")

    # ------------------------------------------------------------------ output
    def to_dict(self) -> dict:
        """JSON-ready summary (the CLI's ``--json`` object); non-finite numbers become null."""
        nan_list = lambda a: [None if not np.isfinite(x) else float(x) for x in np.ravel(a)]  # noqa: E731
        d = {
            "temperatures_K": self.temperatures.tolist(),
            "D_cm2_s": [[nan_list(row) for row in m] for m in self.D],
            "D_mean_cm2_s": nan_list(self.D_mean),
            "D_eigenvalues_cm2_s": [nan_list(e) for e in self.eigenvalues],
            "ea_eV": _fin(self.ea),
            "ea_range_K": [float(x) for x in self.ea_range],
            "D0_cm2_s": _fin(self.D0),
            "sigma_S_cm": nan_list(self.sigma),
            "carrier_density_cm3": _fin(self.carrier_density),
            "carrier_source": self.carrier_source,
            "dimensionality": [int(x) for x in self.dimensionality()],
            "dimensionality_fraction": DIMENSIONALITY_FRACTION,
            "percolation_energy_eV": {f"{k}d": _fin(v) for k, v in self.percolation_energy.items()},
            "ion": self.ion,
            "charge": self.charge,
            "haven_ratio": self.haven_ratio,
            "attempt_frequency_Hz": self.attempt_frequency,
            "rates": self.rates,
            "method": self.method,
            "n_sites": self.sites.n_sites,
        }
        if self.D_stderr is not None:
            d["D_stderr_cm2_s"] = [[nan_list(row) for row in m] for m in self.D_stderr]
        return d

    def summary(self) -> str:
        """Short human-readable table."""
        lines = [
            f"{self.ion or 'ion'} transport ({self.method}, {self.rates} rates"
            + (f", nu = {self.attempt_frequency:.3g} Hz" if self.attempt_frequency else "")
            + f"), {self.sites.n_sites} sites",
            f"Ea = {self.ea:.4f} eV (fit {self.ea_range[0]:g}-{self.ea_range[1]:g} K), D0 = {self.D0:.3g} cm2/s;"
            f" site-graph MPE {self.percolation_energy[1]:.4f} eV",
            f"carrier density {self.carrier_density:.4g} cm-3 ({self.carrier_source}), z = {self.charge},"
            f" Haven ratio {self.haven_ratio:g}",
            f"{'T (K)':>8} {'D1':>10} {'D2':>10} {'D3':>10} {'D_mean':>10} {'sigma S/cm':>11} {'dim':>3}",
        ]
        ev = self.eigenvalues
        dims = self.dimensionality()
        for k, T in enumerate(self.temperatures):
            lines.append(
                f"{T:8.1f} {ev[k, 2]:10.3e} {ev[k, 1]:10.3e} {ev[k, 0]:10.3e} {self.D_mean[k]:10.3e}"
                f" {self.sigma[k]:11.3e} {dims[k]:3d}"
            )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"TransportResult(nT={len(self.temperatures)}, ea={self.ea:.4f} eV, "
                f"D_mean[0]={self.D_mean[0]:.3e} cm2/s, method={self.method!r})")

