"""Structure input/output (pymatgen and ASE are imported lazily).

>>> from ionnet.io import example_structure
>>> example_structure("LiFePO4").composition.reduced_formula
'LiFePO4'
"""
from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

from ..errors import GridError

if TYPE_CHECKING:
    from ..grid import EnergyGrid
from .structures import EXAMPLES, example_path, example_structure, read_structure

__all__ = ["read_structure", "example_structure", "example_path", "example_grid", "EXAMPLES", "EXAMPLE_GRIDS"]

#: Bundled precomputed grids: name -> file in ``ionnet/data`` (see its README.md).
EXAMPLE_GRIDS = {"LiFePO4_bvse": "LiFePO4_bvse.npz"}


def example_grid(name: str = "LiFePO4_bvse") -> EnergyGrid:
    """A bundled precomputed :class:`~ionnet.grid.EnergyGrid`.

    Parameters
    ----------
    name : {'LiFePO4_bvse'}
        ``'LiFePO4_bvse'``: a Li probe in the empty FePO4 framework of the
        bundled LiFePO4, BVSE, 0.2 Å grid (``ionnet.scan(..., "bvse",
        spacing=0.2, framework="empty")``).

    Examples
    --------
    >>> import ionnet
    >>> from ionnet.io import example_grid
    >>> g = example_grid()
    >>> g.shape, g.metadata["model"]
    ((24, 31, 54), 'bvse:softbv')
    >>> ionnet.analyze(g).percolation_directions[1]
    [[0, 1, 0]]
    """
    from ..grid import EnergyGrid

    if name not in EXAMPLE_GRIDS:
        raise GridError(f"no bundled example grid {name!r}; available: {', '.join(sorted(EXAMPLE_GRIDS))}")
    return EnergyGrid.load(str(resources.files("ionnet").joinpath("data", EXAMPLE_GRIDS[name])))
