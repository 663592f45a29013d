"""``ionnet.analyze``: level map, percolation thresholds, free volume, site graph.

``analyze`` of one map (an :class:`~ionnet.EnergyGrid` or an array) gives a
:class:`PercolationResult`; of the maps of a scan (a :class:`~ionnet.ScanResult`
or any sequence of grids) a :class:`PercolationSet`.  Both share one protocol,
:class:`Percolation`: thresholds, free volume, summary, and ``lowest()``, the
map of the lowest-energy mobile ion that pictures and exports show.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .core.windings import canonical_basis
from .errors import ExportError, GridError
from .grid import EnergyGrid
from .settings import DEFAULT_CONNECTIVITY, DEFAULT_THRESHOLDS, check_connectivity
from .sitegraph import SiteGraph

if TYPE_CHECKING:
    import igraph
    import networkx

__all__ = ["analyze", "Percolation", "PercolationResult", "PercolationSet", "SiteGraph"]

logger = logging.getLogger(__name__)


def _fraction_at_or_below(sorted_levels: NDArray[np.float64], t: ArrayLike) -> float | NDArray[np.float64]:
    """Fraction of ``sorted_levels`` that are ``<= t`` (scalar t -> float, array t -> array)."""
    fv = np.searchsorted(sorted_levels, np.asarray(t, dtype=np.float64), side="right") / sorted_levels.size
    return float(fv) if fv.ndim == 0 else fv


def _finite_or_none(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None


class Percolation:
    """The protocol of an analysis result, written once for one map and for a set of maps.

    Subclasses provide ``results`` (the per-map :class:`PercolationResult`
    list), ``multiplicities``, :meth:`lowest`, ``percolation_energy``,
    ``percolation_directions``, ``e_min``, ``level_map``, ``grid``,
    ``connectivity`` and ``source_mode``; everything else follows from them.
    """

    results: list[PercolationResult]
    multiplicities: NDArray[np.int64]
    percolation_energy: dict[int, float]
    percolation_directions: dict[int, list[list[int]]]
    e_min: float
    level_map: NDArray[np.float64]
    grid: EnergyGrid
    connectivity: int
    source_mode: str
    _sorted_levels: NDArray[np.float64] | None

    def lowest(self) -> PercolationResult:
        """The map of the lowest-energy mobile ion (the result itself for one map)."""
        raise NotImplementedError

    @property
    def mpe(self) -> float:
        """Minimal percolation energy (1D threshold), eV."""
        return self.percolation_energy[1]

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(na, nb, nc)``."""
        return self.lowest().grid.shape

    @property
    def source_frac(self) -> NDArray[np.float64]:
        """(3,) fractional position of the source of :meth:`lowest`."""
        return self.lowest().grid.frac_coords(self.lowest().source)

    def sites(self, *, min_depth: float = 0.02) -> SiteGraph:
        """The site graph of :meth:`lowest` (see :meth:`PercolationResult.sites`)."""
        return self.lowest().sites(min_depth=min_depth)

    def free_volume(self, t: ArrayLike) -> float | NDArray[np.float64]:
        """Fraction of the cell volume with ``level_map <= t`` (t in eV, scalar or array)."""
        if self._sorted_levels is None:
            self._sorted_levels = np.sort(self.level_map, axis=None)
        return _fraction_at_or_below(self._sorted_levels, t)

    def fv_curve(self, ts: ArrayLike | None = None) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``(ts, FV(ts))``; default ``ts``: 0 to 3 eV in 0.01 eV steps."""
        ts = np.arange(0.0, 3.0 + 1e-9, 0.01) if ts is None else np.asarray(ts, dtype=np.float64)
        return ts, np.asarray(self.free_volume(ts))

    def to_dict(self, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> dict:
        """JSON-ready summary (the CLI's ``--json`` object)."""
        md = self.lowest().grid.metadata
        return {
            "e_min": float(self.e_min),
            "mpe": _finite_or_none(self.mpe),
            "percolation_energy": {f"{d}d": _finite_or_none(self.percolation_energy[d]) for d in (1, 2, 3)},
            "percolation_directions": {f"{d}d": self.percolation_directions[d] for d in (1, 2, 3)},
            "free_volume": {f"{t:g}": float(self.free_volume(t)) for t in thresholds},
            "grid_shape": list(self.shape),
            "source_frac": [float(x) for x in self.source_frac],
            "connectivity": self.connectivity,
            "source_mode": self.source_mode,
            "model": md.get("model"),
            "ion": md.get("ion"),
        }

    def summary(self, thresholds: Iterable[float] = DEFAULT_THRESHOLDS) -> str:
        """Short human-readable summary."""
        d = self.to_dict(thresholds)
        lines = [
            f"grid {'x'.join(map(str, d['grid_shape']))}  ion {d['ion'] or '-'}  model {d['model'] or '-'}"
            f"  connectivity {d['connectivity']}",
            f"e_min            {d['e_min']:.4f} eV at frac {np.round(d['source_frac'], 4).tolist()}",
        ]
        for k in ("1d", "2d", "3d"):
            v = d["percolation_energy"][k]
            dirs = d["percolation_directions"][k]
            name = "MPE (1D)" if k == "1d" else f"{k.upper()} threshold"
            lines.append(f"{name:<16} {'never' if v is None else f'{v:.4f} eV'}" + (f"  along {dirs}" if dirs else ""))
        for t, fv in d["free_volume"].items():
            lines.append(f"FV({t} eV)        {fv:.4f}")
        lines.append(f"sites            {self.sites().n_sites}")
        return "\n".join(lines)


@dataclass(eq=False)
class PercolationResult(Percolation):
    """Everything :func:`analyze` computes for one energy grid.

    Energies are in eV relative to the source's energy (``e_min``) unless the
    name starts with ``e_``.

    Attributes
    ----------
    grid : EnergyGrid
        The analysed grid.
    connectivity : int
        6, 18 or 26.
    e_min : float, eV
        Absolute energy of the lowest source node.
    source : int
        Flat index of the lowest source node (``np.unravel_index(source, shape)``).
    sources : (S,) ndarray of int
        All source nodes: the basin minima of the mobile ion's sites
        (``'sites'``), or the minimum and the nodes within the float tolerance
        of it (``'min'``, ``'any'``); see :func:`analyze`.
    source_frac : (3,) ndarray, fractional
    source_mode : {'sites', 'min', 'node', 'any'}
    level_map : (na, nb, nc) ndarray, eV
        Minimax energy from the source to each node (+inf: unreachable).
    percolation_energy : dict {1, 2, 3} -> float, eV
        Lowest energy at which the source's region wraps around along 1, 2, 3
        independent directions (+inf if never).  With ``source='any'``, the
        lowest energy at which *any* region does.
    percolation_directions : dict {1, 2, 3} -> list of [int, int, int]
        Winding vectors (lattice units) found at each dimensionality.
    percolation_energy_any : dict
        The ``'any region'`` thresholds, always computed.
    """

    grid: EnergyGrid
    connectivity: int
    e_min: float
    source: int
    sources: NDArray[np.int64]
    source_mode: str
    level_map: NDArray[np.float64]
    percolation_energy: dict
    percolation_directions: dict
    percolation_energy_any: dict
    percolation_directions_any: dict
    _sorted_levels: NDArray[np.float64] | None = field(repr=False, default=None)

    @property
    def results(self) -> list[PercolationResult]:
        """``[self]``: the protocol's per-map list."""
        return [self]

    @property
    def multiplicities(self) -> NDArray[np.int64]:
        """(1,) how many mobile ions the map stands for (``metadata['multiplicity']``, default 1)."""
        return np.asarray([int(self.grid.metadata.get("multiplicity", 1))], dtype=np.int64)

    def lowest(self) -> PercolationResult:
        """The result itself."""
        return self

    @property
    def source_frac(self) -> NDArray[np.float64]:
        """(3,) fractional position of the source node."""
        return self.grid.frac_coords(self.source)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(na, nb, nc)``."""
        return self.grid.shape

    @cached_property
    def mpe_supercell(self) -> float:
        """MPE as the original abstract defines it (eV), from every source.

        For each source, the level map is computed on a non-periodic
        (2n+1) x (2n+1) x (2n+1) tile of the cell (the authors' ``pes_fingerprint``
        wrap) with that source at its centre; the MPE is the lowest level on the
        tile's surface, minimised over the sources and measured from
        :attr:`e_min`.  Reaching the surface means travelling one full cell
        length, which every percolating path must do, so this is never above
        the exact :attr:`mpe`; it is lower when a finite region is longer than
        one cell.
        """
        from .core.sweep import sweep

        e = self.grid.energies
        flat = e.ravel()
        n = np.asarray(e.shape)
        best = np.inf
        for s in self.sources[np.argsort(flat[self.sources], kind="stable")]:
            if flat[s] >= best:
                break  # sources are sorted: no later one can reach the surface lower
            src = np.asarray(np.unravel_index(int(s), e.shape))
            # (2n+1)^3 tile, index i <-> cell node (src + i - n) mod n; the source at i = n (its centre)
            idx = [((np.arange(2 * n[d] + 1) - n[d] + src[d]) % n[d]) for d in range(3)]
            sc = e[np.ix_(*idx)]
            if np.isfinite(best):  # nodes at or above the best so far cannot lower it
                sc = np.where(sc < best, sc, np.inf)
            centre = int(np.ravel_multi_index(tuple(n), sc.shape))
            level, *_ = sweep(sc, connectivity=self.connectivity, source=centre, periodic=(False, False, False))
            surface = np.concatenate(
                [level[0].ravel(), level[-1].ravel(), level[:, 0].ravel(), level[:, -1].ravel(),
                 level[:, :, 0].ravel(), level[:, :, -1].ravel()]
            )
            best = min(best, float(surface.min()))
        return float(best - self.e_min)

    # -------------------------------------------------------------- site graph
    def sites(self, *, min_depth: float = 0.02) -> SiteGraph:
        """The site graph: basin minima joined by their lowest saddles.

        Parameters
        ----------
        min_depth : float, eV
            Minima shallower than this (saddle minus minimum) are merged into
            the neighbouring deeper basin (filters grid noise).
        """
        key = float(min_depth)
        cache = self.__dict__.setdefault("_sites_cache", {})
        if key not in cache:
            from .core.sites import site_graph_arrays

            e = self.grid.energies
            nodes, label, edges, images, sad_e, sad_node = site_graph_arrays(
                e, connectivity=self.connectivity, min_depth=key
            )
            counts = np.bincount(label[label >= 0].ravel(), minlength=len(nodes))
            cache[key] = SiteGraph(
                energies=e.ravel()[nodes] - self.e_min,
                frac_coords=self.grid.frac_coords(nodes).reshape(-1, 3),
                n_nodes=counts,
                edges=edges,
                images=images,
                saddle_energies=sad_e - self.e_min,
                saddle_frac=self.grid.frac_coords(sad_node).reshape(-1, 3),
                lattice=self.grid.lattice,
            )
        return cache[key]

    # ------------------------------------------------------------------ graphs
    def _graph_arrays(self, threshold: float | None) -> tuple[NDArray[np.int64], ...]:
        """Nodes and edges of the grid graph kept at ``threshold`` (relative eV), with edge weights."""
        from .core.graph import grid_edges

        rel = self.grid.energies - self.e_min
        keep = np.isfinite(rel) if threshold is None else rel <= threshold
        nodes, src, dst, img = grid_edges(keep, self.connectivity)
        flat = rel.ravel()
        return nodes, src, dst, img, np.maximum(flat[src], flat[dst])

    def to_networkx(self, threshold: float | None = None) -> networkx.MultiGraph:
        """The grid graph as a ``networkx.MultiGraph``.

        Nodes are flat grid indices with ``energy`` and ``level`` (eV, relative),
        ``frac_x/y/z`` and ``x/y/z`` (Å); edges carry ``weight`` (eV, the higher
        node energy) and ``image_a/b/c`` (the periodic cell offset crossed going
        from the lower to the higher node index as stored).  ``threshold`` keeps
        nodes and edges at or below it.
        """
        import networkx as nx

        nodes, src, dst, img, w = self._graph_arrays(threshold)
        rel = self.grid.energies.ravel() - self.e_min
        lev = self.level_map.ravel()
        frac = self.grid.frac_coords(nodes).reshape(-1, 3)
        cart = frac @ self.grid.lattice
        g = nx.MultiGraph(kind="ionnet-grid-graph", e_min=float(self.e_min))
        g.add_nodes_from(
            (int(n), dict(energy=float(rel[n]), level=float(lev[n]), frac_x=float(f[0]), frac_y=float(f[1]),
                          frac_z=float(f[2]), x=float(c[0]), y=float(c[1]), z=float(c[2])))
            for n, f, c in zip(nodes, frac, cart)
        )
        g.add_edges_from(
            (int(a), int(b), dict(weight=float(ww), image_a=int(i[0]), image_b=int(i[1]), image_c=int(i[2])))
            for a, b, i, ww in zip(src, dst, img, w)
        )
        return g

    def to_igraph(self, threshold: float | None = None) -> igraph.Graph:
        """The grid graph as an ``igraph.Graph`` (same attributes as :meth:`to_networkx`)."""
        import igraph as ig

        nodes, src, dst, img, w = self._graph_arrays(threshold)
        rel = self.grid.energies.ravel() - self.e_min
        pos = np.full(rel.size, -1, dtype=np.int64)
        pos[nodes] = np.arange(nodes.size)
        frac = self.grid.frac_coords(nodes).reshape(-1, 3)
        cart = frac @ self.grid.lattice
        g = ig.Graph(n=int(nodes.size), edges=np.column_stack([pos[src], pos[dst]]).tolist())
        g.vs["name"] = [str(int(n)) for n in nodes]
        g.vs["energy"] = rel[nodes].tolist()
        g.vs["level"] = self.level_map.ravel()[nodes].tolist()
        for k, ax in enumerate("xyz"):
            g.vs[f"frac_{ax}"] = frac[:, k].tolist()
            g.vs[ax] = cart[:, k].tolist()
        g.es["weight"] = w.tolist()
        for k, ax in enumerate("abc"):
            g.es[f"image_{ax}"] = img[:, k].astype(int).tolist()
        return g

    def write_graphml(self, path: str | os.PathLike, threshold: float | None = None, *, graph: str = "grid") -> None:
        """Write the grid graph (``graph='grid'``) or the site graph (``'sites'``) as GraphML."""
        import networkx as nx

        if graph == "sites":
            self.sites().write_graphml(path, threshold)
            return
        if graph != "grid":
            raise ExportError(f"`graph` must be 'grid' or 'sites' (got {graph!r})")
        nx.write_graphml(self.to_networkx(threshold), os.fspath(path))

    def __repr__(self) -> str:
        return f"PercolationResult(shape={self.shape}, e_min={self.e_min:.4f}, mpe={self.mpe:.4f})"


@dataclass(eq=False)
class PercolationSet(Percolation):
    """Results for the maps of one structure (one per symmetry-distinct mobile ion).

    Thresholds are the lowest over the maps; free volume is the union over the
    maps, each map's level measured from its own minimum.

    Attributes
    ----------
    results : list of PercolationResult
    multiplicities : (n,) ndarray of int
        How many mobile ions each map stands for.
    """

    results: list[PercolationResult]
    multiplicities: NDArray[np.int64]
    _sorted_levels: NDArray[np.float64] | None = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.results)

    def __iter__(self):
        return iter(self.results)

    def __getitem__(self, i: int) -> PercolationResult:
        return self.results[i]

    def lowest(self) -> PercolationResult:
        """The map whose source is lowest in energy."""
        return min(self.results, key=lambda r: r.e_min)

    @property
    def percolation_energy(self) -> dict[int, float]:
        """{1, 2, 3} -> the lowest threshold over the maps, eV."""
        return {d: min(r.percolation_energy[d] for r in self.results) for d in (1, 2, 3)}

    @property
    def percolation_directions(self) -> dict[int, list[list[int]]]:
        """{1, 2, 3} -> the directions of the map with the lowest threshold."""
        return {d: min(self.results, key=lambda r: r.percolation_energy[d]).percolation_directions[d] for d in (1, 2, 3)}

    @property
    def e_min(self) -> float:
        """The lowest source energy over the maps, eV (absolute)."""
        return self.lowest().e_min

    @cached_property
    def level_map(self) -> NDArray[np.float64]:
        """(na, nb, nc) union over every mobile ion's map: the lowest level of each node, each from its own source, eV.

        A map standing for a symmetry orbit (``metadata['orbit_node_ops']``,
        recorded by a scan with symmetry on) contributes its level map moved
        by each operation, so the union does not depend on the symmetry flag.
        The moved level map is the computed one exactly when the operation maps
        the connectivity stencil onto itself (axis permutations and sign
        changes, e.g. every orthorhombic or monoclinic operation); Xi
        (:mod:`ionnet.descriptors`) sweeps the moved energies instead.
        """
        from .core.symmetry import move_map

        out = None
        for r in self.results:
            ops = [op for op in (r.grid.metadata.get("orbit_node_ops") or [])[1:] if op is not None]
            for lev in [r.level_map] + [move_map(op[:3], op[3], r.level_map) for op in ops]:
                out = lev if out is None else np.minimum(out, lev)
        return out

    @property
    def grid(self) -> EnergyGrid:
        """The grid of :meth:`lowest`."""
        return self.lowest().grid

    @property
    def connectivity(self) -> int:
        """6, 18 or 26."""
        return self.results[0].connectivity

    @property
    def source_mode(self) -> str:
        """``'sites'``, ``'min'``, ``'node'`` or ``'any'`` (see :func:`analyze`)."""
        return self.results[0].source_mode

    def __repr__(self) -> str:
        return f"PercolationSet(n_maps={len(self.results)}, mpe={self.mpe:.4f})"


SOURCE_MODES = ("sites", "min", "any")


def _source(grid: EnergyGrid, source: int | tuple | str | None, source_tol: float | None, connectivity: int):
    """``(source node, source mask, mode)`` of the ``source`` argument of :func:`analyze`."""
    from .core.sources import min_sources, site_sources

    e = grid.energies
    flat = e.ravel()
    sites = grid.metadata.get("mobile_sites_frac") if isinstance(grid.metadata, dict) else None
    if source is None:
        source = "sites" if sites else "min"
    if isinstance(source, str) and source == "sites":
        if not sites:
            raise GridError("`source='sites'` needs metadata['mobile_sites_frac'] (a scanned grid); "
                            "use source='min' for a bare grid")
        nodes = site_sources(e, np.asarray(sites, dtype=np.float64).reshape(-1, 3), connectivity=connectivity)
        if nodes.size:
            mask = np.zeros(flat.size, dtype=bool)
            mask[nodes] = True
            return int(nodes[np.argmin(flat[nodes])]), mask, "sites"
        logger.warning("every mobile-ion site lies in a forbidden region; the source is the global minimum")
        source = "min"
    if isinstance(source, str) and source in ("min", "any"):
        mask = min_sources(e, tol=source_tol)
        src = int(np.argmin(np.where(np.isfinite(flat), flat, np.inf)))
        return src, mask, source
    if isinstance(source, str):
        raise GridError(f"`source` must be None, 'sites', 'min', 'any', a flat index or an (i, j, k) tuple "
                        f"(got {source!r})")
    try:
        if np.ndim(source) == 1 and len(source) == 3:
            src = int(np.ravel_multi_index(tuple(int(s) for s in source), e.shape))
        else:
            src = int(source)
            if not 0 <= src < flat.size:
                raise ValueError
    except (TypeError, ValueError):
        raise GridError(f"`source` {source!r} is not a node of a grid of shape {e.shape}") from None
    if not np.isfinite(flat[src]):
        raise GridError(f"`source` {source!r} is a forbidden node (non-finite energy)")
    mask = np.zeros(flat.size, dtype=bool)
    mask[src] = True
    return src, mask, "node"


def _thresholds(thr: NDArray[np.float64], dirs: NDArray[np.int64], e_src: float) -> tuple[dict, dict]:
    """Thresholds relative to the source and canonical directions of a sweep's output."""
    energies = {d + 1: float(thr[d] - e_src) for d in range(3)}
    directions = {d + 1: (canonical_basis(dirs[d, : d + 1]) if np.isfinite(thr[d]) else []) for d in range(3)}
    return energies, directions


def _is_maps(grid: object) -> bool:
    return isinstance(grid, (list, tuple)) and bool(grid) and all(isinstance(g, EnergyGrid) for g in grid)


def analyze(
    grid: EnergyGrid | ArrayLike | Sequence[EnergyGrid],
    *,
    lattice: ArrayLike | None = None,
    connectivity: int = DEFAULT_CONNECTIVITY,
    source: int | tuple | str | None = None,
    source_tol: float | None = None,
) -> PercolationResult | PercolationSet:
    """Level map, percolation thresholds, free volume and site graph of an energy grid.

    Parameters
    ----------
    grid : EnergyGrid, (na, nb, nc) array (then pass ``lattice``), or a ScanResult / sequence of EnergyGrid
        One map gives a :class:`PercolationResult`; the maps of a scan (one per
        distinct mobile ion, e.g. what ``ionnet.scan`` returns) a :class:`PercolationSet`.
    lattice : (3, 3) array, Å, optional
        Rows a, b, c; required with a raw array.
    connectivity : {6, 18, 26}
        Face, face+edge or full-cube neighbours, with periodic wrap.
    source : None, 'sites', 'min', 'any', int (flat index) or (i, j, k) tuple
        Where the ion starts (``docs/conventions.md``, "Sources").  ``'sites'``
        (the default when the grid records ``metadata['mobile_sites_frac']``,
        as every scanned grid does): the mobile ion's equilibrium positions,
        i.e. the basin minima (steepest descent on the grid) holding its
        crystallographic sites -- every mobile-ion site in the empty
        framework, the scanned ion's own site in the occupied one.  ``'min'``
        (the default of a bare grid): the global minimum and every node within
        ``source_tol`` of it.  ``'any'``: the lowest energy at which *any*
        region wraps around (the definition of bond-valence tools); the level
        map is then measured from the ``'min'`` sources.  An index: that node only.
    source_tol : float, eV, optional
        For ``'min'``/``'any'``: nodes this close to the minimum count as
        sources.  Default: 8 float32 ulps of the grid's largest ``|E|``
        (:func:`ionnet.core.sources.float_tolerance`; 1.2e-4 eV at 174 eV),
        the resolution of a model's energies.

    Returns
    -------
    PercolationResult or PercolationSet
        Both have ``mpe``, ``percolation_energy``, ``free_volume``, ``sites()``,
        ``summary()``, ``to_dict()`` and ``lowest()`` (:class:`Percolation`).

    Raises
    ------
    GridError
        Malformed grid or lattice, bad connectivity or source, an empty sequence.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.data import cosine_field
    >>> E = cosine_field((8, 8, 8), (0.1, 0.3, 0.5))  # eV: barriers 0.2, 0.6, 1.0 along a, b, c
    >>> r = ionnet.analyze(E, lattice=np.eye(3) * 5.0)
    >>> round(r.mpe, 6), r.percolation_directions[1]
    (0.2, [[1, 0, 0]])
    >>> round(r.percolation_energy[3], 6)
    1.0
    """
    from .core.sweep import sweep

    connectivity = check_connectivity(connectivity)
    if _is_maps(grid):
        res = [analyze(g, connectivity=connectivity, source=source, source_tol=source_tol) for g in grid]
        return PercolationSet(res, np.concatenate([r.multiplicities for r in res]))
    if isinstance(grid, (list, tuple)) and len(grid) == 0:
        raise GridError("nothing to analyse: the sequence of grids is empty")
    if not isinstance(grid, EnergyGrid):
        if lattice is None:
            raise GridError("a raw energy array needs `lattice=` (3x3, Å, rows a, b, c)")
        grid = EnergyGrid(grid, lattice)
    src, src_mask, mode = _source(grid, source, source_tol, connectivity)
    e_src = float(grid.energies.ravel()[src])
    level, thr_src, dir_src, thr_any, dir_any = sweep(grid.energies, connectivity=connectivity, source=src_mask)
    pe_src, pd_src = _thresholds(thr_src, dir_src, e_src)
    pe_any, pd_any = _thresholds(thr_any, dir_any, e_src)
    pe, pd = (pe_any, pd_any) if mode == "any" else (pe_src, pd_src)
    return PercolationResult(
        grid=grid, connectivity=connectivity, e_min=e_src, source=src, sources=np.flatnonzero(src_mask),
        source_mode=mode, level_map=level - e_src, percolation_energy=pe, percolation_directions=pd,
        percolation_energy_any=pe_any, percolation_directions_any=pd_any,
    )
