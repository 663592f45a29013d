"""``transport()``: the entry point (inputs, rates, the exact or KMC solve, the Arrhenius fit, carriers)."""
from __future__ import annotations

import logging
import os
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike

from ..analysis import PercolationResult, PercolationSet, SiteGraph
from ..errors import TransportError
from ..settings import DEFAULT_CONNECTIVITY
from .basins import _Basins
from .constants import E_CHARGE, ION_CHARGE, ION_MASS_AMU, KB_EV, KB_J
from .percolation import site_percolation
from .rates import _harmonic_weights
from .result import TransportResult

__all__ = ["transport"]

logger = logging.getLogger(__name__)


def _carrier_density(grid, volume_ang3: float, ion: str | None, structure: Any, explicit: float | None):
    """(n in cm⁻³, source description)."""
    vol_cm3 = volume_ang3 * 1e-24
    if explicit is not None:
        n = float(explicit)
        if not (np.isfinite(n) and n >= 0):
            raise TransportError(f"`carrier_density` must be a number >= 0 in cm^-3 (got {explicit!r})")
        return n, "given"
    if structure is not None:
        if isinstance(structure, (str, os.PathLike)):
            from ..io import read_structure

            structure = read_structure(structure)
        if ion is None:
            raise TransportError("counting carriers in `structure` needs the mobile ion: pass `ion=`")
        count = sum(float(site.species.get_el_amt_dict().get(ion, 0.0)) for site in structure)
        return count / (structure.volume * 1e-24), f"{count:g} {ion} in the given structure"
    if grid is not None:
        md = grid.metadata or {}
        if "n_mobile" in md:
            c = float(md["n_mobile"])
            return c / vol_cm3, f"{c:g} {ion or 'mobile ions'} per cell (metadata n_mobile)"
        if md.get("framework") == "empty" and md.get("n_removed", 0) > 0:
            c = float(md["n_removed"])
            return c / vol_cm3, f"{c:g} {ion or 'mobile-ion'} sites removed from the empty framework (full occupancy)"
        if md.get("framework") in ("occupied", "vacancy") and grid.structure is not None and ion is not None:
            s = grid.structure
            try:
                c = sum(float(site.species.get_el_amt_dict().get(ion, 0.0)) for site in s) + 1.0
            except AttributeError:
                c = None
            if c is not None:
                return c / vol_cm3, f"{c:g} {ion} per cell (occupied framework + the probe)"
    return float("nan"), "unknown (pass carrier_density= or structure=)"


def _as_sites(obj: Any, *, connectivity: int, min_depth: float):
    """(sites, analysis or None, grid or None) from any accepted input."""
    from ..grid import EnergyGrid

    if isinstance(obj, SiteGraph):
        return obj, None, None
    if isinstance(obj, EnergyGrid) or (
        isinstance(obj, (list, tuple)) and obj and all(isinstance(g, EnergyGrid) for g in obj)
    ):
        from ..analysis import analyze

        obj = analyze(obj if not (isinstance(obj, (list, tuple)) and len(obj) == 1) else obj[0],
                      connectivity=connectivity)
    if isinstance(obj, PercolationSet):
        best = min(obj.results, key=lambda r: r.e_min)
        logger.info("occupied-framework set: transport of the map with the lowest minimum (of %d)", len(obj))
        obj = best
    if isinstance(obj, PercolationResult):
        return obj.sites(min_depth=min_depth), obj, obj.grid
    raise TransportError(
        f"transport() takes an EnergyGrid, a list of them, an analysis result or a SiteGraph (got {type(obj).__name__})"
    )


def _check_options(temperatures, rates, method, attempt_frequency, haven_ratio, connectivity, n_walkers, kmc_hops):
    """The temperatures as a (nT,) float array, K, after checking every option of :func:`transport`."""
    T = np.atleast_1d(np.asarray(temperatures, dtype=np.float64)).ravel()
    if T.size == 0 or not np.all(np.isfinite(T)) or np.any(T <= 0):
        raise TransportError(f"`temperatures` must be positive numbers in K (got {temperatures!r})")
    if rates not in ("harmonic", "grid"):
        raise TransportError(f"`rates` must be 'harmonic' or 'grid' (got {rates!r})")
    if method not in ("exact", "kmc"):
        raise TransportError(f"`method` must be 'exact' or 'kmc' (got {method!r})")
    if not (np.isfinite(attempt_frequency) and attempt_frequency > 0):
        raise TransportError(f"`attempt_frequency` must be > 0 in Hz (got {attempt_frequency!r})")
    if not (np.isfinite(haven_ratio) and haven_ratio > 0):
        raise TransportError(f"`haven_ratio` must be > 0 (got {haven_ratio!r})")
    if connectivity not in (6, 18, 26):
        raise TransportError(f"`connectivity` must be 6, 18 or 26 (got {connectivity!r})")
    if method == "kmc" and (int(n_walkers) < 2 or int(kmc_hops) < 1):
        raise TransportError("KMC needs `n_walkers` >= 2 and `kmc_hops` >= 1")
    return T


def _weights(sites: SiteGraph, analysis, kt, *, rates: str, attempt_frequency: float, mass_amu, ion,
             min_depth: float):
    """``(ln π (nT, S), ln w (nT, M), ν in Hz or None, the grid context or None)`` of the chosen rates."""
    if rates == "grid":
        if analysis is None:
            raise TransportError("rates='grid' needs the energy grid, not a bare SiteGraph")
        m = mass_amu if mass_amu is not None else ION_MASS_AMU.get(ion or "")
        if m is None or not m > 0:
            raise TransportError(f"rates='grid' needs the ion mass: pass `mass_amu=` or a known `ion=` (got {ion!r})")
        basins = _Basins(analysis, sites, min_depth)
        log_pi, log_w = basins.grid_weights(kt, float(m))
        return log_pi, log_w, None, basins
    log_pi, log_w = _harmonic_weights(sites, kt, float(attempt_frequency))
    return log_pi, log_w, float(attempt_frequency), None


def _kmc(sites: SiteGraph, log_pi, log_w, *, n_walkers: int, kmc_hops: int, seed, progress: bool):
    """KMC at every temperature: ``D`` (nT, 3, 3) Å²/s, its standard error in cm²/s and the run details."""
    from tqdm.auto import tqdm

    from ..core.transport import kmc_diffusion

    nt = log_w.shape[0]
    rng = np.random.default_rng(seed)
    d_ang = np.zeros((nt, 3, 3))
    stderr = np.zeros((nt, 3, 3))
    info_all = {"t_end_s": [], "mean_hops": [], "n_walkers": int(n_walkers)}
    for k in tqdm(range(nt), disable=not progress, desc="kmc"):
        d, se, info = kmc_diffusion(
            sites.n_sites, sites.edges, sites.images, log_w[k], log_pi[k], sites.frac_coords, sites.lattice,
            n_walkers=int(n_walkers), n_hops=int(kmc_hops), seed=rng,
        )
        d_ang[k], stderr[k] = d, se * 1e-16
        info_all["t_end_s"].append(info["t_end_s"])
        info_all["mean_hops"].append(info["mean_hops"])
    return d_ang, stderr, info_all


def _diffusion(sites: SiteGraph, log_pi, log_w, *, method: str, n_walkers: int, kmc_hops: int, seed, progress: bool):
    """``(D (nT, 3, 3) cm²/s, symmetric; its standard error or None; the KMC details or None)``."""
    kmc_info = stderr = None
    if method == "exact":
        from ..core.transport import exact_diffusion, prepare_network

        net = prepare_network(sites.n_sites, sites.edges, sites.images)
        d_ang = exact_diffusion(net, log_w, sites.lattice, sites.frac_coords)
    else:
        d_ang, stderr, kmc_info = _kmc(sites, log_pi, log_w, n_walkers=n_walkers, kmc_hops=kmc_hops, seed=seed,
                                       progress=progress)
    D = d_ang * 1e-16  # Å²/s -> cm²/s
    return 0.5 * (D + np.swapaxes(D, 1, 2)), stderr, kmc_info


def _arrhenius(T, d_mean, ea_range):
    """``(ea in eV, D0 in cm²/s, (T_low, T_high) in K)``: least squares of ``ln D_mean`` against ``1/kT``."""
    kt = KB_EV * T
    lo, hi = (float(T.min()), float(T.max())) if ea_range is None else (float(min(ea_range)), float(max(ea_range)))
    sel = (T >= lo - 1e-9) & (T <= hi + 1e-9) & (d_mean > 0) & np.isfinite(d_mean)
    if sel.sum() >= 2 and np.ptp(T[sel]) > 0:
        slope, intercept = np.polyfit(1.0 / kt[sel], np.log(d_mean[sel]), 1)
        return float(-slope), float(np.exp(intercept)), (lo, hi)
    # no long-range transport at all: ea = inf
    return (float("nan") if np.any(d_mean > 0) else float("inf")), float("nan"), (lo, hi)


def transport(
    result_or_grid: Any, temperatures: ArrayLike = (300, 400, 500, 600, 700, 800, 900, 1000), *,
    attempt_frequency: float = 1e13, rates: str = "harmonic", method: str = "exact", haven_ratio: float = 1.0,
    carrier_density: float | None = None, structure: Any = None, ion: str | None = None, charge: int | None = None,
    mass_amu: float | None = None, ea_range: Sequence[float] | None = None, connectivity: int | None = None,
    min_depth: float = 0.02, n_walkers: int = 1000, kmc_hops: int = 20000,
    seed: int | np.random.Generator | None = None, progress: bool = False,
) -> TransportResult:
    """Tracer diffusion tensor D(T), activation energy and conductivity of one mobile ion.

    The ion hops between the sites of the site graph (basins of the grid) over their saddles;
    ``method='exact'`` solves the dilute-limit problem on the periodic network exactly (no
    sampling noise; :mod:`ionnet.core.transport`, ``docs/transport.md``).

    Parameters
    ----------
    result_or_grid : EnergyGrid, list of EnergyGrid, PercolationResult, PercolationSet or SiteGraph
        A set uses its lowest map.  A bare SiteGraph allows harmonic rates only and has no paths.
    temperatures : float or (nT,) array, K
    attempt_frequency : float, Hz
        ``ν`` of the harmonic rates ``k = ν exp(-(E_s - E_i)/kT)``.
    rates : {'harmonic', 'grid'}
        ``'grid'``: classical TST from the grid itself, ``k_ij = sqrt(kT/2πm) S_ij / Q_i``
        (``Q_i`` the Boltzmann-weighted volume of basin i, ``S_ij`` the Boltzmann-weighted
        area of the grid faces between i and j); no attempt frequency.
    method : {'exact', 'kmc'}
        ``'kmc'``: kinetic Monte Carlo on the same network (``n_walkers`` walkers from
        equilibrium, each for the time of ``kmc_hops`` equilibrium hops; ``seed``); gives ``D_stderr``.
    haven_ratio : float
        ``H_R = D_tracer / D_sigma`` in Nernst–Einstein (1: uncorrelated).
    carrier_density, structure : float in cm⁻³; pymatgen Structure or path; optional
        The carrier density, or the *full* structure to count ``ion`` in (default: scan metadata).
    ion, charge, mass_amu : str, int, float in u; optional
        Mobile ion (default: ``metadata['ion']``), its |z| (default from ``ion``, else 1) and
        mass (``rates='grid'``; default from ``ion``).
    ea_range : (T_low, T_high), K, optional
        Temperatures used in the Arrhenius fit (default: all).
    connectivity : {6, 18, 26}, optional
        Used when a grid is analysed here (default :data:`ionnet.settings.DEFAULT_CONNECTIVITY`);
        an analysis result passed in keeps its own connectivity.
    min_depth : float, eV
        The site-graph persistence filter (``PercolationResult.sites``).
    progress : bool
        Progress bar over temperatures (KMC).

    Returns
    -------
    TransportResult

    Raises
    ------
    TransportError
        Bad temperatures, options, or an input that cannot give a site graph.

    Examples
    --------
    >>> import ionnet
    >>> from ionnet.io import example_grid
    >>> r = ionnet.transport(example_grid("LiFePO4_bvse"), [300, 600, 1000])
    >>> r.dimensionality(300), round(r.ea, 2)
    (1, 0.38)
    """
    if connectivity is None:
        connectivity = DEFAULT_CONNECTIVITY
    T = _check_options(temperatures, rates, method, attempt_frequency, haven_ratio, connectivity, n_walkers, kmc_hops)
    sites, analysis, grid = _as_sites(result_or_grid, connectivity=connectivity, min_depth=min_depth)
    if sites.n_sites == 0:
        raise TransportError("the grid has no sites (every node is forbidden)")
    ion = ion if ion is not None or grid is None else (grid.metadata or {}).get("ion")
    charge = charge if charge is not None else (ION_CHARGE.get(ion, 1) if ion else 1)
    log_pi, log_w, nu, basins = _weights(sites, analysis, KB_EV * T, rates=rates, attempt_frequency=attempt_frequency,
                                         mass_amu=mass_amu, ion=ion, min_depth=min_depth)
    D, stderr, kmc_info = _diffusion(sites, log_pi, log_w, method=method, n_walkers=n_walkers, kmc_hops=kmc_hops,
                                     seed=seed, progress=progress)
    d_mean = np.trace(D, axis1=1, axis2=2) / 3.0
    ea, d0, (lo, hi) = _arrhenius(T, d_mean, ea_range)
    n, source = _carrier_density(grid, abs(float(np.linalg.det(sites.lattice))), ion, structure, carrier_density)
    return TransportResult(
        temperatures=T, D=D, D_stderr=stderr, D_mean=d_mean, ea=ea, ea_range=(lo, hi), D0=d0,
        sigma=n * (charge * E_CHARGE) ** 2 * d_mean / (haven_ratio * KB_J * T), carrier_density=n,
        carrier_source=source, haven_ratio=float(haven_ratio), charge=int(charge), ion=ion,
        attempt_frequency=nu, rates=rates, method=method, occupation=np.exp(log_pi), sites=sites,
        percolation_energy=site_percolation(sites)["energy"], analysis=analysis, kmc=kmc_info, _basins=basins,
        _min_depth=float(min_depth),
    )
