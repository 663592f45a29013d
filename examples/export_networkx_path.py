"""
Lowest-barrier path to a periodic image with networkx
=====================================================

A two-well field: along a, a deep site (x = 1/4) and a shallow one (x = 3/4,
0.2 eV higher) behind 0.7 eV walls; a 0.1 eV barrier along b and 0.5 eV along
c.  The site graph is exported to networkx, unrolled over neighbouring cells
(node = (site, cell)), and the path from the deep site to its own image one
lattice vector away that keeps the highest saddle lowest (a minimax path: the
path inside a minimum spanning tree) gives the barrier for each direction;
the fewest hops that stay below that saddle are printed.
The lowest of them is the MPE that ``ionnet.analyze`` finds with its
percolation sweep.

Run:  python examples/export_networkx_path.py [OUTDIR]
"""
import itertools
import os
import sys

import networkx as nx
import numpy as np

import ionnet
from ionnet.data import two_well_field
from ionnet.export import write_graph

out = sys.argv[1] if len(sys.argv) > 1 else "out"
os.makedirs(out, exist_ok=True)

energies = two_well_field((16, 16, 16), barrier=0.3, tilt=0.1, amplitudes=(0.05, 0.25))
grid = ionnet.EnergyGrid(energies, np.diag([6.0, 4.0, 4.5]), metadata={"ion": "Li", "model": "two wells"})
result = ionnet.analyze(grid)
sites = result.sites()
G = sites.to_networkx()  # MultiGraph: one edge per saddle, with image_a/b/c of site j seen from site i
print(f"site graph: {G.number_of_nodes()} sites, {G.number_of_edges()} saddles")

# unroll the periodic graph over cells -2..2: node (site, cell)
cells = list(itertools.product(range(-2, 3), repeat=3))
U = nx.Graph()
for i, j, d in G.edges(data=True):
    img = np.array([d["image_a"], d["image_b"], d["image_c"]])
    for c in cells:
        a, b = (i, c), (j, tuple(int(v) for v in np.add(c, img)))
        if b[1] not in cells or a == b:
            continue
        w = d["saddle_energy"]
        if not U.has_edge(a, b) or U[a][b]["weight"] > w:  # keep the lowest saddle between two nodes
            U.add_edge(a, b, weight=w)
T = nx.minimum_spanning_tree(U)  # the path in a minimum spanning tree is a minimax path

start = int(np.argmin(sites.energies))
barriers = {}
for name, step in zip("abc", np.eye(3, dtype=int)):
    src, dst = (start, (0, 0, 0)), (start, tuple(int(v) for v in step))
    tree_path = nx.shortest_path(T, src, dst)
    top = max(T[u][v]["weight"] for u, v in zip(tree_path, tree_path[1:]))  # the minimax saddle
    barriers[name] = top - sites.energies[start]
    # the fewest hops that never climb above that saddle
    below = U.edge_subgraph((u, v) for u, v, w in U.edges(data="weight") if w <= top + 1e-12)
    path = nx.shortest_path(below, src, dst)
    hops = " -> ".join(f"{s}{list(c)}" for s, c in path)
    print(f"along {name}: barrier {barriers[name]:.3f} eV via {hops}")

print(f"lowest: {min(barriers.values()):.3f} eV;  ionnet MPE: {result.mpe:.3f} eV along {result.percolation_directions[1]}")
assert abs(min(barriers.values()) - result.mpe) < 1e-9

path = write_graph(result, os.path.join(out, "two_wells_sites.graphml"), graph="sites")
print(f"wrote {path}")
