"""``ionnet.transport``: diffusion tensor, activation energy and conductivity from the site graph; NEB paths.

The module is called ``diffusion`` (not ``transport``) so that ``ionnet.transport``
stays the function: importing a submodule of the same name would replace it
(the reason ``ionnet.scan`` lives in ``ionnet.scanning``).

Everything here is a thin layer over :mod:`ionnet.core.transport`; the
formulas and assumptions are in ``docs/transport.md``.
"""
from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .analysis import PercolationResult, PercolationSet, SiteGraph
from .errors import ExportError, TransportError

__all__ = ["transport", "TransportResult", "IonPath", "site_percolation", "KB_EV", "DIMENSIONALITY_FRACTION"]

logger = logging.getLogger(__name__)

KB_EV = 8.617333262e-5  # eV/K
KB_J = 1.380649e-23  # J/K
E_CHARGE = 1.602176634e-19  # C
AMU_KG = 1.66053906660e-27  # kg

#: A direction counts towards :meth:`TransportResult.dimensionality` when its
#: eigenvalue of D is at least this fraction of the largest one.
DIMENSIONALITY_FRACTION = 0.01

#: |charge| of common mobile ions (Nernst–Einstein ``z``).
ION_CHARGE = {"H": 1, "Li": 1, "Na": 1, "K": 1, "Rb": 1, "Cs": 1, "Ag": 1, "Cu": 1, "Tl": 1,
              "Mg": 2, "Ca": 2, "Zn": 2, "Sr": 2, "Ba": 2, "Al": 3, "F": 1, "Cl": 1, "Br": 1, "I": 1, "O": 2}
#: Atomic masses (u) of common mobile ions (grid partition-function rates).
ION_MASS_AMU = {"H": 1.008, "Li": 6.94, "Na": 22.990, "K": 39.098, "Rb": 85.468, "Cs": 132.905, "Ag": 107.868,
                "Cu": 63.546, "Tl": 204.38, "Mg": 24.305, "Ca": 40.078, "Zn": 65.38, "Sr": 87.62, "Ba": 137.327,
                "Al": 26.982, "F": 18.998, "Cl": 35.45, "Br": 79.904, "I": 126.904, "O": 15.999}


# ============================================================================ site-graph percolation
def site_percolation(sites: SiteGraph) -> dict:
    """Percolation thresholds of the site graph (any region), from Kruskal's order with periodic offsets.

    Saddles are added in increasing energy; a saddle that joins a site to a
    copy of its own component at another cell offset closes a cycle with that
    winding vector.  The energy at which some component first has 1, 2, 3
    independent winding vectors is the 1D, 2D, 3D threshold.  With the default
    ``source`` these equal the grid's ``percolation_energy_any``.

    Returns
    -------
    dict
        ``energy`` {1, 2, 3} -> eV (inf if never), ``directions`` {d: list of
        winding vectors}, ``cycle``: the hops ``[(edge, forward), ...]`` of the
        first cycle with a non-zero winding (empty if none) and ``winding`` its
        (3,) cell offset.
    """
    from .core.transport import network_percolation

    first, dirs, cycle_edge, winding, is_tree, order = network_percolation(
        sites.n_sites, sites.edges, sites.images, sites.saddle_energies
    )
    energy = {d: (float(sites.saddle_energies[first[d - 1]]) if first[d - 1] >= 0 else math.inf) for d in (1, 2, 3)}
    directions = {d: ([[int(x) for x in v] for v in dirs[d - 1, :d]] if first[d - 1] >= 0 else []) for d in (1, 2, 3)}
    cycle: list = []
    if cycle_edge >= 0:
        # the spanning forest as it was when the cycle closed
        rank_of = np.empty(len(order), dtype=np.int64)
        rank_of[order] = np.arange(len(order))
        tree: list[list[tuple[int, int, bool]]] = [[] for _ in range(sites.n_sites)]
        for m in np.flatnonzero(is_tree & (rank_of < rank_of[cycle_edge])):
            i, j = (int(x) for x in sites.edges[m])
            tree[i].append((j, int(m), True))
            tree[j].append((i, int(m), False))
        i, j = (int(x) for x in sites.edges[cycle_edge])
        cycle = [(int(cycle_edge), True)] + _tree_hops(tree, j, i)
    return {"energy": energy, "directions": directions, "cycle": cycle, "winding": np.asarray(winding)}


def _tree_hops(tree, start: int, goal: int) -> list:
    """Hops ``(edge, forward)`` along the spanning forest from ``start`` to ``goal``."""
    if start == goal:
        return []
    prev = {start: None}
    queue = [start]
    for x in queue:
        if x == goal:
            break
        for y, m, fwd in tree[x]:
            if y not in prev:
                prev[y] = (x, m, fwd)
                queue.append(y)
    hops = []
    x = goal
    while prev[x] is not None:
        px, m, fwd = prev[x]
        hops.append((m, fwd))
        x = px
    return hops[::-1]


def _minimax_hops(sites: SiteGraph, i: int, j: int) -> list:
    """Hops of the lowest-maximum-saddle path from site i to site j (Kruskal's forest)."""
    n = sites.n_sites
    parent = np.arange(n)

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    tree: list[list[tuple[int, int, bool]]] = [[] for _ in range(n)]
    for m in np.argsort(sites.saddle_energies, kind="stable"):
        a, b = (int(x) for x in sites.edges[m])
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        parent[rb] = ra
        tree[a].append((b, int(m), True))
        tree[b].append((a, int(m), False))
        if find(i) == find(j):
            return _tree_hops(tree, i, j)
    raise TransportError(f"sites {i} and {j} are not joined by any saddle of the site graph; pick sites of one component")


# ============================================================================ rates
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


# ============================================================================ grid context (basins, saddles)
class _Basins:
    """Basin labels, periodic images and saddle crossings of the analysed grid (built once, lazily)."""

    def __init__(self, result: PercolationResult, sites: SiteGraph, min_depth: float):
        from .core.sites import site_graph_arrays
        from .core.sweep import stencil
        from .core.transport import basin_crossings, basin_images

        grid = result.grid
        self.grid = grid
        self.shape = grid.shape
        self.e_min = float(result.e_min)
        self.energies = np.ascontiguousarray(grid.energies - result.e_min)  # relative, +inf forbidden
        nodes, label, edges, images, _, _ = site_graph_arrays(
            grid.energies, connectivity=result.connectivity, min_depth=min_depth
        )
        if len(nodes) != sites.n_sites or not np.array_equal(edges, sites.edges):
            raise TransportError("the site graph does not match its grid; pass the grid or analysis result itself")
        self.site_nodes = nodes
        self.label = label
        self.steps = stencil(result.connectivity)
        self.img = basin_images(label, nodes, self.steps)
        self.step_len = np.linalg.norm((self.steps / np.asarray(self.shape)) @ grid.lattice, axis=1)
        x, y, st, im = basin_crossings(label, self.img, self.steps)
        self.cross_x, self.cross_y, self.cross_step, self.cross_image = x, y, st, im
        self.cross_edge, self.cross_forward = self._match(sites, x, y, im)
        self.sites = sites

    def _match(self, sites: SiteGraph, x, y, im):
        """Site-graph edge of each crossing, and whether it runs i -> j as stored."""
        lab = self.label.ravel()
        a, b = lab[x], lab[y]
        nz = im != 0
        first = np.argmax(nz, axis=1)
        neg = nz.any(axis=1) & (im[np.arange(len(im)), first] < 0)
        flip = (a > b) | ((a == b) & neg)
        ia, ib = np.where(flip, b, a), np.where(flip, a, b)
        imc = np.where(flip[:, None], -im, im)
        S = sites.n_sites
        r = int(max(np.abs(imc).max(initial=0), np.abs(sites.images).max(initial=0))) + 1
        base = 2 * r + 1

        def key(i, j, m):
            return ((i * S + j) * base + (m[:, 0] + r)) * base * base + (m[:, 1] + r) * base + (m[:, 2] + r)

        ek = key(sites.edges[:, 0], sites.edges[:, 1], sites.images)
        ck = key(ia, ib, imc)
        order = np.argsort(ek)
        pos = np.searchsorted(ek[order], ck)
        pos = np.minimum(pos, len(ek) - 1)
        hit = ek[order][pos] == ck if len(ek) else np.zeros(len(ck), bool)
        edge = np.where(hit, order[pos], -1)
        return edge, ~flip

    def saddle_crossing(self, m: int, forward: bool) -> tuple[int, int]:
        """The lowest crossing ``(x, y)`` of edge m, x on the departure side."""
        e = self.energies.ravel()
        sel = np.flatnonzero(self.cross_edge == m)
        if sel.size == 0:
            raise TransportError(f"no grid crossing found for saddle {m}")
        w = np.maximum(e[self.cross_x[sel]], e[self.cross_y[sel]])
        k = sel[np.argmin(w)]
        x, y = int(self.cross_x[k]), int(self.cross_y[k])
        if not self.cross_forward[k]:
            x, y = y, x
        return (x, y) if forward else (y, x)

    def grid_weights(self, kt: NDArray[np.float64], mass_amu: float):
        """ln π_i and ln w_e from basin and dividing-surface Boltzmann sums (classical TST)."""
        grid = self.grid
        lat = grid.lattice
        n_nodes = int(np.prod(self.shape))
        dv = abs(np.linalg.det(lat)) / n_nodes  # Å³ per node
        lab = self.label.ravel()
        e = self.energies.ravel()
        S = self.sites.n_sites
        M = len(self.sites.edges)
        ok = lab >= 0
        # basins
        vals = -e[ok][None, :] / kt[:, None]
        log_q = _grouped_logsumexp(vals, lab[ok], S) + math.log(dv)  # (nT, S)
        log_qtot = _logsumexp_rows(log_q)
        # faces: one orientation per face (positive unit steps), then the face area of that axis
        steps = self.steps[self.cross_step]
        face = (np.abs(steps).sum(axis=1) == 1) & (steps.sum(axis=1) == 1) & (self.cross_edge >= 0)
        axis = np.argmax(steps[face], axis=1)
        na = np.asarray(self.shape)
        areas = np.array([
            np.linalg.norm(np.cross(lat[1], lat[2])) / (na[1] * na[2]),
            np.linalg.norm(np.cross(lat[2], lat[0])) / (na[2] * na[0]),
            np.linalg.norm(np.cross(lat[0], lat[1])) / (na[0] * na[1]),
        ])
        ef = np.maximum(e[self.cross_x[face]], e[self.cross_y[face]])
        vals = -ef[None, :] / kt[:, None] + np.log(areas[axis])[None, :]
        log_s = _grouped_logsumexp(vals, self.cross_edge[face], M)  # (nT, M)
        missing = ~np.isfinite(log_s[0]) & np.isfinite(self.sites.saddle_energies)
        if missing.any():  # saddles crossed only diagonally (connectivity 18/26): one face of mean area
            log_s[:, missing] = -self.sites.saddle_energies[missing][None, :] / kt[:, None] + math.log(areas.mean())
        v = np.sqrt(kt * E_CHARGE / (2 * math.pi * mass_amu * AMU_KG)) * 1e10  # Å/s, one-way mean speed
        log_w = np.log(v)[:, None] + log_s - log_qtot[:, None]
        log_pi = log_q - log_qtot[:, None]
        return log_pi, log_w


# ============================================================================ NEB-ready path
@dataclass(frozen=True, eq=False)
class IonPath:
    """A path of the mobile ion through the grid, resampled to NEB images.

    Attributes
    ----------
    frac_coords : (N, 3) ndarray, fractional
        Image positions, unwrapped (the path is continuous; coordinates may
        leave [0, 1)).  ``N = n_images + 2`` (both end points included).
    energies : (N,) ndarray, eV
        Grid energy at each image (linear along the grid path), relative to ``e_min``.
    arc_length : (N,) ndarray, Å
        Distance along the path.
    sites : list of int
        Site-graph sites visited, in order.
    saddle_energies : (H,) ndarray, eV
        Saddle energy of each hop (relative).
    image : (3,) ndarray of int
        Cell of the end point relative to the start (the winding vector of a
        percolation path).
    path_frac, path_energies, path_arc : ndarrays
        The full grid path (one row per grid node), before resampling.
    lattice : (3, 3) ndarray, Å
    e_min : float, eV
        Absolute energy of the analysis reference.
    structure : pymatgen Structure or None
        The frozen framework the ion moves in.
    ion : str
    """

    frac_coords: NDArray[np.float64]
    energies: NDArray[np.float64]
    arc_length: NDArray[np.float64]
    sites: list
    saddle_energies: NDArray[np.float64]
    image: NDArray[np.int64]
    path_frac: NDArray[np.float64]
    path_energies: NDArray[np.float64]
    path_arc: NDArray[np.float64]
    lattice: NDArray[np.float64]
    e_min: float
    structure: Any = None
    ion: str = "Li"

    @property
    def cart_coords(self) -> NDArray[np.float64]:
        """(N, 3) ndarray, Å."""
        return self.frac_coords @ self.lattice

    @property
    def n_images(self) -> int:
        """Intermediate images (VASP ``IMAGES``)."""
        return len(self.energies) - 2

    @property
    def barrier(self) -> float:
        """Highest energy along the grid path minus the start's (eV)."""
        return float(self.path_energies.max() - self.path_energies[0])

    def to_structures(self) -> list:
        """pymatgen Structures, framework + the ion at each image (unwrapped fractional coordinates)."""
        if self.structure is None:
            raise ExportError("the grid has no framework structure; scan a structure (ionnet.scan) to get one")
        from pymatgen.core import Structure

        base = self.structure if isinstance(self.structure, Structure) else Structure.from_dict(self.structure)
        out = []
        for f in self.frac_coords:
            s = base.copy()
            s.append(self.ion, f, coords_are_cartesian=False, validate_proximity=False)
            out.append(s)
        return out

    def to_ase(self) -> list:
        """ASE Atoms of every image, each with a single-point energy (absolute grid energy, eV)."""
        from ase.calculators.singlepoint import SinglePointCalculator
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = []
        for s, e in zip(self.to_structures(), self.energies):
            a = AseAtomsAdaptor.get_atoms(s)
            a.calc = SinglePointCalculator(a, energy=float(e + self.e_min))
            atoms.append(a)
        return atoms

    def write_traj(self, path: str | os.PathLike) -> None:
        """Write the images as an ASE trajectory (``.traj``)."""
        from ase.io import write

        write(os.fspath(path), self.to_ase())

    def write_neb(self, folder: str | os.PathLike, *, force: bool = False) -> list[str]:
        """Write a VASP NEB folder: ``00/POSCAR`` … ``NN/POSCAR``, ``neb.traj`` and ``path.json``.

        Parameters
        ----------
        folder : path
            Created if missing.  An existing non-empty folder is refused unless ``force``.
        force : bool
            Overwrite the files of an existing folder.

        Returns
        -------
        list of str
            The files written.
        """
        from pymatgen.io.vasp.inputs import Poscar

        folder = os.fspath(folder)
        if os.path.exists(folder):
            if not os.path.isdir(folder):
                raise ExportError(f"{folder!r} exists and is not a folder")
            if os.listdir(folder) and not force:
                raise ExportError(f"{folder!r} exists and is not empty; pass force=True (CLI: --force) to overwrite")
        os.makedirs(folder, exist_ok=True)
        written = []
        width = max(2, len(str(len(self.energies) - 1)))
        for k, s in enumerate(self.to_structures()):
            d = os.path.join(folder, f"{k:0{width}d}")
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "POSCAR")
            Poscar(s, comment=f"ionnet NEB image {k}: {self.ion} at E = {self.energies[k]:.4f} eV").write_file(p)
            written.append(p)
        traj = os.path.join(folder, "neb.traj")
        self.write_traj(traj)
        written.append(traj)
        js = os.path.join(folder, "path.json")
        with open(js, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
        written.append(js)
        return written

    def to_dict(self) -> dict:
        return {
            "ion": self.ion,
            "n_images": self.n_images,
            "frac_coords": np.round(self.frac_coords, 6).tolist(),
            "cart_coords_ang": np.round(self.cart_coords, 5).tolist(),
            "energies_eV": np.round(self.energies, 6).tolist(),
            "arc_length_ang": np.round(self.arc_length, 5).tolist(),
            "sites": [int(s) for s in self.sites],
            "saddle_energies_eV": np.round(self.saddle_energies, 6).tolist(),
            "image": [int(x) for x in self.image],
            "barrier_eV": round(self.barrier, 6),
            "e_min_eV": self.e_min,
            "lattice_ang": self.lattice.tolist(),
        }

    def summary(self) -> str:
        length = self.path_arc[-1] if len(self.path_arc) else 0.0
        return (
            f"path through sites {self.sites} (end cell {self.image.tolist()}), {length:.2f} Å, "
            f"barrier {self.barrier:.4f} eV, {self.n_images} images"
        )


def _build_path(basins: _Basins, sites: SiteGraph, start: int, hops: list, n_images: int,
                ion: str) -> IonPath:
    from .core.transport import basin_path

    if n_images < 1:
        raise TransportError(f"`n_images` must be >= 1 (got {n_images})")
    grid = basins.grid
    shape = np.asarray(basins.shape)
    e = basins.energies.ravel()
    frac_of = lambda nodes: np.stack(np.unravel_index(nodes, basins.shape), axis=1) / shape  # noqa: E731
    args = (basins.label, basins.img, basins.energies, basins.steps, basins.step_len, basins.site_nodes)
    offset = np.zeros(3, dtype=np.int64)
    pts = [frac_of(np.array([basins.site_nodes[start]]))]
    ens = [e[[basins.site_nodes[start]]]]
    visited = [int(start)]
    sad = []
    cur = int(start)
    for m, fwd in hops:
        i, j = (int(x) for x in sites.edges[m])
        a, b = (i, j) if fwd else (j, i)
        if a != cur:
            raise TransportError("internal: discontinuous hop sequence")
        nvec = sites.images[m] if fwd else -sites.images[m]
        x, y = basins.saddle_crossing(m, fwd)
        down_a = basin_path(x, *args)[::-1]  # a's minimum -> x
        down_b = basin_path(y, *args)  # y -> b's minimum
        pa = frac_of(down_a) + basins.img[down_a] + offset
        pb = frac_of(down_b) + basins.img[down_b] + offset + nvec
        pts += [pa[1:], pb]
        ens += [e[down_a[1:]], e[down_b]]
        offset = offset + nvec
        visited.append(b)
        sad.append(float(sites.saddle_energies[m]))
        cur = b
    pf = np.concatenate(pts)
    pe = np.concatenate(ens)
    keep = np.ones(len(pf), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(pf, axis=0)) > 1e-12, axis=1)
    pf, pe = pf[keep], pe[keep]
    seg = np.linalg.norm(np.diff(pf @ grid.lattice, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    # resample: images equally spaced on each side of the highest point, which is one of them
    n_pts = n_images + 2
    total = arc[-1]
    k_top = int(np.argmax(pe))
    s_top = arc[k_top]
    if 0 < k_top < len(pe) - 1 and total > 0:
        n1 = int(np.clip(round((n_pts - 1) * s_top / total), 1, n_pts - 2))
        s = np.concatenate([np.linspace(0, s_top, n1 + 1), np.linspace(s_top, total, n_pts - n1)[1:]])
    else:
        s = np.linspace(0, total, n_pts)
    fr = np.stack([np.interp(s, arc, pf[:, k]) for k in range(3)], axis=1)
    en = np.interp(s, arc, pe)
    return IonPath(
        frac_coords=fr, energies=en, arc_length=s, sites=visited, saddle_energies=np.asarray(sad),
        image=offset.astype(np.int64), path_frac=pf, path_energies=pe, path_arc=arc, lattice=grid.lattice,
        e_min=basins.e_min, structure=grid.structure, ion=ion,
    )


# ============================================================================ result
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


# ============================================================================ entry point
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
            from .io import read_structure

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
        if md.get("framework") == "empty" and "n_removed" in md:
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
    from .grid import EnergyGrid

    if isinstance(obj, SiteGraph):
        return obj, None, None
    if isinstance(obj, EnergyGrid) or (
        isinstance(obj, (list, tuple)) and obj and all(isinstance(g, EnergyGrid) for g in obj)
    ):
        from .analysis import analyze

        obj = analyze(obj if not (isinstance(obj, (list, tuple)) and len(obj) == 1) else obj[0],
                      connectivity=connectivity)
    if isinstance(obj, PercolationSet):
        best = min(obj.results, key=lambda r: r.e_min)
        logger.info("vacancy-mode set: transport of the map with the lowest minimum (of %d)", len(obj))
        obj = best
    if isinstance(obj, PercolationResult):
        return obj.sites(min_depth=min_depth), obj, obj.grid
    raise TransportError(
        f"transport() takes an EnergyGrid, a list of them, an analysis result or a SiteGraph (got {type(obj).__name__})"
    )


def transport(
    result_or_grid: Any,
    temperatures: ArrayLike = (300, 400, 500, 600, 700, 800, 900, 1000),
    *,
    attempt_frequency: float = 1e13,
    rates: str = "harmonic",
    method: str = "exact",
    haven_ratio: float = 1.0,
    carrier_density: float | None = None,
    structure: Any = None,
    ion: str | None = None,
    charge: int | None = None,
    mass_amu: float | None = None,
    ea_range: Sequence[float] | None = None,
    connectivity: int = 6,
    min_depth: float = 0.02,
    n_walkers: int = 1000,
    kmc_hops: int = 20000,
    seed: int | np.random.Generator | None = None,
    progress: bool = False,
) -> TransportResult:
    """Tracer diffusion tensor D(T), activation energy and conductivity of one mobile ion.

    The ion hops between the sites of the site graph (basins of the energy
    grid) over their saddles.  ``method='exact'`` solves the dilute-limit
    problem on the periodic network exactly (no sampling noise): stationary
    weights, the periodic corrector and the resulting D (see
    :mod:`ionnet.core.transport` and ``docs/transport.md``).

    Parameters
    ----------
    result_or_grid : EnergyGrid, list of EnergyGrid, PercolationResult, PercolationSet or SiteGraph
        An occupied-framework set uses its lowest map.  A bare SiteGraph allows
        harmonic rates only and has no paths.
    temperatures : float or (nT,) array, K
    attempt_frequency : float, Hz
        ``ν`` of the harmonic rates ``k = ν exp(-(E_s - E_i)/kT)``.
    rates : {'harmonic', 'grid'}
        ``'grid'``: classical transition-state theory from the grid itself,
        ``k_ij = sqrt(kT/2πm) S_ij / Q_i`` with ``Q_i`` the Boltzmann-weighted
        volume of basin i and ``S_ij`` the Boltzmann-weighted area of the
        dividing surface (grid faces) between i and j; no attempt frequency.
    method : {'exact', 'kmc'}
        ``'kmc'``: kinetic Monte Carlo on the same network (``n_walkers``
        walkers started from equilibrium, each for the time in which an
        equilibrium walker makes ``kmc_hops`` hops; ``seed``); gives
        ``D_stderr``.
    haven_ratio : float
        ``H_R = D_tracer / D_sigma`` in Nernst–Einstein (1: uncorrelated).
    carrier_density : float, cm⁻³, optional
        Overrides the count from ``structure`` or the scan metadata.
    structure : pymatgen Structure or path, optional
        The *full* structure (with its mobile ions): carriers = Σ occupancy of
        ``ion`` / volume.
    ion : str, optional
        Mobile ion (default: the grid's ``metadata['ion']``).
    charge : int, optional
        |z| (default from ``ion``; 1 if unknown).
    mass_amu : float, optional
        Ion mass for ``rates='grid'`` (default from ``ion``).
    ea_range : (T_low, T_high), K, optional
        Temperatures used in the Arrhenius fit (default: all).
    connectivity : {6, 18, 26}
        Used when a grid is analysed here.
    min_depth : float, eV
        Site-graph persistence filter (``PercolationResult.sites``).
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
    (1, 0.5)
    """
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
    sites, analysis, grid = _as_sites(result_or_grid, connectivity=connectivity, min_depth=min_depth)
    if sites.n_sites == 0:
        raise TransportError("the grid has no sites (every node is forbidden)")
    if ion is None and grid is not None:
        ion = (grid.metadata or {}).get("ion")
    if charge is None:
        charge = ION_CHARGE.get(ion, 1) if ion else 1
    kt = KB_EV * T

    from .core.transport import exact_diffusion, kmc_diffusion, prepare_network

    basins = None
    if rates == "grid":
        if analysis is None:
            raise TransportError("rates='grid' needs the energy grid, not a bare SiteGraph")
        m = mass_amu if mass_amu is not None else ION_MASS_AMU.get(ion or "")
        if m is None or not m > 0:
            raise TransportError(f"rates='grid' needs the ion mass: pass `mass_amu=` or a known `ion=` (got {ion!r})")
        basins = _Basins(analysis, sites, min_depth)
        log_pi, log_w = basins.grid_weights(kt, float(m))
        nu = None
    else:
        log_pi, log_w = _harmonic_weights(sites, kt, float(attempt_frequency))
        nu = float(attempt_frequency)

    kmc_info = None
    stderr = None
    if method == "exact":
        net = prepare_network(sites.n_sites, sites.edges, sites.images)
        d_ang = exact_diffusion(net, log_w, sites.lattice, sites.frac_coords)
    else:
        from tqdm.auto import tqdm

        rng = np.random.default_rng(seed)
        d_ang = np.zeros((len(T), 3, 3))
        stderr = np.zeros((len(T), 3, 3))
        kmc_info = {"t_end_s": [], "mean_hops": [], "n_walkers": int(n_walkers)}
        for k in tqdm(range(len(T)), disable=not progress, desc="kmc"):
            d, se, info = kmc_diffusion(
                sites.n_sites, sites.edges, sites.images, log_w[k], log_pi[k], sites.frac_coords, sites.lattice,
                n_walkers=int(n_walkers), n_hops=int(kmc_hops), seed=rng,
            )
            d_ang[k], stderr[k] = d, se * 1e-16
            kmc_info["t_end_s"].append(info["t_end_s"])
            kmc_info["mean_hops"].append(info["mean_hops"])
    D = d_ang * 1e-16  # Å²/s -> cm²/s
    D = 0.5 * (D + np.swapaxes(D, 1, 2))
    d_mean = np.trace(D, axis1=1, axis2=2) / 3.0

    # Arrhenius fit of D_mean
    lo, hi = (float(T.min()), float(T.max())) if ea_range is None else (float(min(ea_range)), float(max(ea_range)))
    sel = (T >= lo - 1e-9) & (T <= hi + 1e-9) & (d_mean > 0) & np.isfinite(d_mean)
    if sel.sum() >= 2 and np.ptp(T[sel]) > 0:
        slope, intercept = np.polyfit(1.0 / kt[sel], np.log(d_mean[sel]), 1)
        ea, d0 = float(-slope), float(np.exp(intercept))
    else:
        ea, d0 = float("nan"), float("nan")
        if not np.any(d_mean > 0):
            ea = float("inf")  # no long-range transport at all

    volume = abs(float(np.linalg.det(sites.lattice)))
    n, source = _carrier_density(grid, volume, ion, structure, carrier_density)
    sigma = n * (charge * E_CHARGE) ** 2 * d_mean / (haven_ratio * KB_J * T)
    perc = site_percolation(sites)
    return TransportResult(
        temperatures=T, D=D, D_stderr=stderr, D_mean=d_mean, ea=ea, ea_range=(lo, hi), D0=d0, sigma=sigma,
        carrier_density=n, carrier_source=source, haven_ratio=float(haven_ratio), charge=int(charge), ion=ion,
        attempt_frequency=nu, rates=rates, method=method, occupation=np.exp(log_pi), sites=sites,
        percolation_energy=perc["energy"], analysis=analysis, kmc=kmc_info, _basins=basins,
        _min_depth=float(min_depth),
    )
