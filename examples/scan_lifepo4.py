"""
Scan olivine LiFePO4 and find its Li percolation thresholds
===========================================================

The bundled LiFePO4 (``ionnet.io.example_structure``) is scanned with the
bond-valence back end (BVSE, fast, no weights): one Li probe on a 0.3 Å grid in
the empty FePO4 framework (the default: every Li removed, so the thresholds are
migration barriers).  The analysis prints the minimal percolation energy, its
direction (the olivine channel along b) and the free volume; then the same in
the occupied framework (the method's ranking setting: the other Li frozen),
whose MPE is far higher and only orders materials.

Set ``IONNET_M3GNET_PATH`` to the ``M3GNet-MP-2021.2.8-PES`` model folder to
also scan with M3GNet (about a minute on a laptop CPU at 0.6 Å).

Run::

    python examples/scan_lifepo4.py
"""
from __future__ import annotations

import os

import ionnet
from ionnet.io import example_structure

structure = example_structure("LiFePO4")
print(f"{structure.composition.reduced_formula}: {len(structure)} atoms, "
      f"a, b, c = {', '.join(f'{x:.2f}' for x in structure.lattice.abc)} Å")

# the empty framework (every Li removed, the default), one map
grid = ionnet.scan(structure, ion="Li", model="bvse", spacing=0.3, progress=False)
m = grid.metadata
print(f"\nbvse: grid {grid.shape}, {m['n_evaluated']} of {m['n_nodes']} nodes evaluated "
      f"({m['n_symmetry_ops']} symmetry operations, {m['n_excluded']} nodes near atoms), "
      f"{m['timings']['total_s']:.1f} s")
result = ionnet.analyze(grid)
print(result.summary())

# the method's own setting: one Li moves, the other Li stay frozen (one map per distinct Li)
occupied = ionnet.analyze(ionnet.scan(structure, ion="Li", model="bvse", spacing=0.3, framework="occupied",
                                      progress=False))
print(f"\nbvse, occupied framework: MPE {occupied.mpe:.2f} eV (a ranking value, not a barrier)")

if os.environ.get("IONNET_M3GNET_PATH"):
    grids = ionnet.scan(structure, ion="Li", model=os.environ["IONNET_M3GNET_PATH"], spacing=0.6, progress=False)
    print(f"\nm3gnet: {len(grids)} map(s) of the empty framework")
    print(ionnet.analyze(grids).summary())
else:
    print("\n(set IONNET_M3GNET_PATH to also scan with M3GNet)")
