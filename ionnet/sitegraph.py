"""The site graph: basin minima (sites) joined by their lowest saddles, with periodic images.

Built by :meth:`ionnet.PercolationResult.sites` from the arrays of
:func:`ionnet.core.sites.site_graph_arrays`; exported to networkx, igraph and GraphML.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    import igraph
    import networkx

__all__ = ["SiteGraph"]


@dataclass(frozen=True, eq=False)
class SiteGraph:
    """The ion hopping network: sites (basin minima) joined by saddles.

    Attributes
    ----------
    energies : (S,) ndarray, eV
        Site energies relative to the analysis reference (the source energy).
    frac_coords : (S, 3) ndarray, fractional
        Site positions (the minimum grid node of each basin).
    cart_coords : (S, 3) ndarray, Å
    n_nodes : (S,) ndarray of int
        Grid nodes in each basin (basin volume = n_nodes / N_total of the cell).
    edges : (M, 2) ndarray of int
        Sites ``(i, j)`` with ``i <= j`` joined by a saddle.
    images : (M, 3) ndarray of int
        Periodic image (cell offset) of site ``j`` as reached from site ``i`` in cell 0.
    saddle_energies : (M,) ndarray, eV
        Saddle energy relative to the reference; the barrier from ``i`` is
        ``saddle_energies - energies[i]``.
    saddle_frac : (M, 3) ndarray, fractional
        Saddle position.
    lattice : (3, 3) ndarray, Å
    """

    energies: NDArray[np.float64]
    frac_coords: NDArray[np.float64]
    n_nodes: NDArray[np.int64]
    edges: NDArray[np.int64]
    images: NDArray[np.int64]
    saddle_energies: NDArray[np.float64]
    saddle_frac: NDArray[np.float64]
    lattice: NDArray[np.float64]

    @property
    def cart_coords(self) -> NDArray[np.float64]:
        return self.frac_coords @ self.lattice

    @property
    def n_sites(self) -> int:
        return int(len(self.energies))

    def barriers(self) -> NDArray[np.float64]:
        """(M, 2) barrier of each saddle seen from site i and from site j (eV)."""
        return np.column_stack(
            [self.saddle_energies - self.energies[self.edges[:, 0]], self.saddle_energies - self.energies[self.edges[:, 1]]]
        )

    def _keep(self, threshold: float | None) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        if threshold is None:
            return np.ones(self.n_sites, bool), np.ones(len(self.edges), bool)
        return self.energies <= threshold, self.saddle_energies <= threshold

    def to_networkx(self, threshold: float | None = None) -> networkx.MultiGraph:
        """A ``networkx.MultiGraph``: one node per site, one edge per saddle (and image).

        ``threshold`` (eV, relative) keeps only sites and saddles at or below it.
        """
        import networkx as nx

        g = nx.MultiGraph(kind="ionnet-site-graph")
        keep_n, keep_e = self._keep(threshold)
        cart = self.cart_coords
        for i in np.flatnonzero(keep_n):
            fx, fy, fz = (float(x) for x in self.frac_coords[i])
            cx, cy, cz = (float(x) for x in cart[i])
            g.add_node(
                int(i), energy=float(self.energies[i]), n_nodes=int(self.n_nodes[i]),
                frac_x=fx, frac_y=fy, frac_z=fz, x=cx, y=cy, z=cz,
            )
        for m in np.flatnonzero(keep_e):
            i, j = (int(x) for x in self.edges[m])
            if not (keep_n[i] and keep_n[j]):
                continue
            ia, ib, ic = (int(x) for x in self.images[m])
            g.add_edge(
                i, j, weight=float(self.saddle_energies[m]), saddle_energy=float(self.saddle_energies[m]),
                barrier=float(self.saddle_energies[m] - self.energies[i]),
                image_a=ia, image_b=ib, image_c=ic,
            )
        return g

    def to_igraph(self, threshold: float | None = None) -> igraph.Graph:
        """An ``igraph.Graph`` with the same attributes as :meth:`to_networkx`."""
        import igraph as ig

        return ig.Graph.from_networkx(self.to_networkx(threshold))

    def write_graphml(self, path: str | os.PathLike, threshold: float | None = None) -> None:
        """Write the site graph as GraphML (readable by networkx, igraph, Gephi)."""
        import networkx as nx

        nx.write_graphml(self.to_networkx(threshold), os.fspath(path))
