"""
Migration pathways in 3D
========================

Builds a toy framework (a monoclinic cell with O and Ti atoms, each a soft
Gaussian repulsion for the mobile ion) on a grid, or loads the first bundled
``ionnet/data/*.npz`` grid when there is one, analyses it, and renders off
screen:

* ``pathways.png`` - the volume reachable just above the minimal percolation
  energy (MPE + 0.05 eV) over a 2x2x2 supercell, each component coloured by
  its dimensionality, with the framework atoms and the site graph (saddle
  tubes coloured by barrier);
* ``components.png`` - every connected region below MPE + 0.25 eV in one
  cell, percolating ones labelled with their direction;
* ``fv.png`` - the free-volume curve (log axis) with the thresholds marked.

The grid itself is saved as ``pathways_grid.npz`` for the command line
(``ionnet render OUTDIR/pathways_grid.npz -o ...``).

Run:  python examples/plot_pathways.py [OUTDIR]      (default OUTDIR: ./out)
"""
import glob
import os
import sys

import numpy as np

import ionnet
from ionnet import render

out = sys.argv[1] if len(sys.argv) > 1 else "out"
os.makedirs(out, exist_ok=True)


def toy_framework(shape=(20, 18, 16)):
    """Sum of periodic Gaussian bumps (eV) at the framework atoms of a monoclinic cell."""
    from pymatgen.core import Lattice, Structure

    lattice = Lattice.monoclinic(6.0, 5.0, 4.5, 100.0)
    species = ["Ti", "Ti", "O", "O", "O", "O"]
    frac = [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.25, 0.0, 0.5], [0.75, 0.5, 0.5], [0.0, 0.5, 0.3], [0.5, 0.0, 0.7]]
    height = {"Ti": 2.0, "O": 1.2}  # eV
    width = {"Ti": 1.0, "O": 0.9}  # Å
    structure = Structure(lattice, species, frac)
    L = lattice.matrix
    nodes = np.stack(np.meshgrid(*[np.arange(n) / n for n in shape], indexing="ij"), -1).reshape(-1, 3)
    images = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)])
    energy = np.zeros(len(nodes))
    for sp, f in zip(species, frac):
        d = (nodes[:, None, :] - (np.asarray(f) + images)[None]) @ L  # (N, 27, 3) Å
        energy += height[sp] * np.exp(-(d**2).sum(-1) / (2 * width[sp] ** 2)).sum(1)
    meta = {"ion": "Li", "model": "toy Gaussian framework"}
    return ionnet.EnergyGrid(energy.reshape(shape), L, structure=structure, metadata=meta)


bundled = sorted(glob.glob(os.path.join(os.path.dirname(ionnet.__file__), "data", "*.npz")))
if bundled:
    grids = ionnet.load_grids(bundled[0])
    grid = grids if isinstance(grids, ionnet.EnergyGrid) else min(grids, key=lambda g: float(np.min(g.energies)))
    print(f"grid: {bundled[0]}")
else:
    grid = toy_framework()
    print("grid: toy Gaussian framework (no bundled ionnet/data/*.npz)")
grid.save(os.path.join(out, "pathways_grid.npz"))

result = ionnet.analyze(grid)
print(result.summary())

# the answer: the volume reachable just above the MPE, per component, over 2x2x2 cells
plotter = render.pathways(result, supercell=(2, 2, 2))
print("wrote", render.save(plotter, os.path.join(out, "pathways.png")))
plotter.close()

# every region a little above the MPE, each its own colour; percolating ones named with their direction
t = render.channel_threshold(result, margin=0.25)
plotter = render.components(result, t)
print("wrote", render.save(plotter, os.path.join(out, "components.png")))
plotter.close()

fig = render.fv_plot(result, log=True)
fig.savefig(os.path.join(out, "fv.png"), dpi=120)
print("wrote", os.path.join(out, "fv.png"))
