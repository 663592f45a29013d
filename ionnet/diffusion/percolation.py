"""Percolation of the site graph and its minimax paths (the site sequences of the ion's paths)."""
from __future__ import annotations

import math

import numpy as np

from ..analysis import SiteGraph
from ..errors import TransportError

__all__ = ["site_percolation"]


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
    from ..core.transport import network_percolation

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

