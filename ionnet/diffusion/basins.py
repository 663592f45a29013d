"""The analysed grid behind a site graph: basin labels, periodic frames, saddle crossings, grid (TST) rates.

Built once per result, lazily (paths) or for ``rates='grid'``; the kernels are
:func:`ionnet.core.sites.site_graph_arrays`, :func:`ionnet.core.sites.basin_images`
and :func:`ionnet.core.sites.basin_crossings`.
"""
from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from ..analysis import PercolationResult, SiteGraph
from ..errors import TransportError
from .constants import AMU_KG, E_CHARGE
from .rates import _grouped_logsumexp, _logsumexp_rows

__all__: list[str] = []


class _Basins:
    """Basin labels, periodic images and saddle crossings of the analysed grid (built once, lazily)."""

    def __init__(self, result: PercolationResult, sites: SiteGraph, min_depth: float):
        from ..core.sites import basin_crossings, basin_images, site_graph_arrays
        from ..core.sweep import stencil

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

