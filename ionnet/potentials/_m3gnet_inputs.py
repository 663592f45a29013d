"""Inputs of the M3GNet forward: per-framework data and batches of matgl 1.x graphs (pymatgen, torch lazily).

Split out of :mod:`ionnet.potentials.m3gnet`, which re-exports these names.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ._common import framework_elements


@dataclass
class _Framework:
    """Per-framework data that stays fixed while the probe moves."""

    key: tuple
    lattice: NDArray[np.float64]  # (3, 3) Å, rows a, b, c
    frac: NDArray[np.float64]  # (N, 3) framework fractional coordinates, as given
    cart: NDArray[np.float64]  # (N, 3) Å
    node_type: NDArray[np.int64]  # (N + 1,) indices into model.element_types, probe last
    cutoff: float
    n_edges: int | None = None  # bonds of framework + one probe (batch-size estimate)
    graph: Any = None  # _m3gnet_graph.FrameworkGraph: framework bonds, built on first use
    tuned: int | None = None  # batch size measured fastest for this framework
    basis: Any = None  # three-body basis of framework-framework bond pairs (see _framework_basis)

    @property
    def n_atoms(self) -> int:
        return len(self.frac)


def _framework_key(framework: Any, ion: str) -> tuple:
    return (
        ion,
        np.asarray(framework.lattice.matrix, dtype=np.float64).tobytes(),
        np.asarray(framework.frac_coords, dtype=np.float64).tobytes(),
        tuple(framework_elements(framework)),
    )


def _matgl1_edges(
    cart: NDArray[np.float64], lattice: NDArray[np.float64], cutoff: float
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Bonds of one periodic structure exactly as matgl 1.x's ``Atoms2Graph`` lists them.

    ``cart`` is (N, 3) Å.  Returns ``(src, dst, image)``: bond ``src -> dst`` with
    ``dst`` translated by the (E, 3) lattice vectors ``image``; sorted by ``src``,
    in pymatgen's order.  M3GNet's three-body term as trained depends (at the
    1e-4 eV level) on this order, so it is not rearranged.
    """
    from pymatgen.optimization.neighbors import find_points_in_spheres

    src, dst, img, dist = find_points_in_spheres(
        cart, cart, r=cutoff, pbc=np.array([1, 1, 1], dtype=np.int64), lattice=lattice, tol=1e-8
    )
    keep = (src != dst) | (dist > 1e-8)
    return src[keep].astype(np.int64), dst[keep].astype(np.int64), np.asarray(img[keep], dtype=np.float64)


def _graph_batch(
    node_type: NDArray[np.int64],
    frac: list[NDArray[np.float64]],
    cart: list[NDArray[np.float64]],
    lattice: list[NDArray[np.float64]],
    cutoff: float,
    *,
    device: Any,
    dtype: Any,
) -> tuple[Any, Any, Any, Any]:
    """Batch of matgl 1.x graphs: ``(batch, frac, pbc_offset, lattice)`` tensors.

    ``frac`` and ``cart`` hold one (N_g, 3) array per graph (fractional, Å),
    ``lattice`` one (3, 3) array (Å, rows a, b, c); ``node_type`` is a list of
    (N_g,) arrays or one array shared by all graphs.  The float tensors get
    ``dtype`` (matgl 1.x uses float32 throughout).
    """
    import torch

    from ._m3gnet_torch import GraphBatch

    src, dst, img, types, ngraph, egraph = [], [], [], [], [], []
    off = 0
    for g, (c, lat) in enumerate(zip(cart, lattice)):
        s_, d_, i_ = _matgl1_edges(c, lat, cutoff)
        n = len(c)
        src.append(s_ + off)
        dst.append(d_ + off)
        img.append(i_)
        types.append(node_type if isinstance(node_type, np.ndarray) else node_type[g])
        ngraph.append(np.full(n, g, dtype=np.int64))
        egraph.append(np.full(len(s_), g, dtype=np.int64))
        off += n

    def t(x, dt):
        return torch.as_tensor(np.ascontiguousarray(np.concatenate(x)), dtype=dt, device=device)

    batch = GraphBatch(
        node_type=t(types, torch.long),
        edge_index=torch.stack([t(src, torch.long), t(dst, torch.long)]),
        node_graph=t(ngraph, torch.long),
        edge_graph=t(egraph, torch.long),
        num_graphs=len(cart),
    )
    frac_t = t(frac, dtype)
    img_t = t(img, dtype)
    lat_t = torch.as_tensor(np.stack(lattice), dtype=dtype, device=device)
    return batch, frac_t, img_t, lat_t
