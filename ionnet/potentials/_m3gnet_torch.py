"""Pure-torch M3GNet forward with the conventions of matgl 1.x (DGL).

The published M3GNet PES weights (``M3GNet-MP-2021.2.8-PES``,
``M3GNet-MatPES-PBE-v2025.1-PES``) were trained with matgl's DGL implementation
(matgl <= 1.x).  matgl >= 2 re-implemented M3GNet with PyTorch Geometric and
changed two conventions, so loading those weights into it gives wrong energies
for every compound (elemental crystals are unaffected because there both ends
of every bond look alike):

1. **Node aggregation** (the big one).  In a graph convolution the node message
   ``phi(v_i, v_j, e_ij) * W rbf_ij`` of bond ``i -> j`` is summed into the bond's
   *destination* ``j`` in matgl 1.x (``dgl.update_all(copy_e, sum)``), but into
   its *source* ``i`` in matgl >= 2 ("post-#761 convention").  With these weights
   that changes NaCl from -3.368 to -1.300 eV/atom.
2. **Three-body indexing** (sub-meV).  matgl 1.x enumerates the three-body
   triples on the bonds shorter than ``threebody_cutoff`` (the "pruned" list)
   but then uses those pruned-list positions as ids into the *full* bond list
   to pick the neighbour atom ``k``, the two cutoff weights and the bond that
   receives the message; the receiving ids come from ``n_triple_ij`` by
   ``get_segment_indices_from_n``, which also skips an id after every bond that
   has no partner.  matgl >= 4.0.4 maps the ids back to the parent bonds.  The
   weights were trained with the 1.x behaviour; the two differ by 0.1-4 meV per
   structure.  Because of this quirk the energy depends (at the 1e-4 eV level)
   on the order of the bonds, so callers must list the bonds exactly as matgl
   1.x's ``Structure2Graph``/``Atoms2Graph`` do: pymatgen's
   ``find_points_in_spheres`` on the whole structure, self pairs removed.

:class:`LegacyM3GNet` evaluates a batch of such graphs with the layers of the
installed matgl (embedding, bases, MLPs, readout: those agree with matgl 1.x)
and the 1.x message passing written with ``index_add_``.  Each graph in the
batch is treated exactly as matgl 1.x treats a single structure, so batching
does not change any energy.  Only torch is imported here; matgl supplies the
loaded modules.

On a CPU, in float32 and without autograd (the scan's case), :meth:`LegacyM3GNet.energy`
takes a second path with the same function (:meth:`LegacyM3GNet._energy_dnnl`):
every linear layer on the bonds runs with its bias and activation in one oneDNN
call (``torch.ops.mkldnn._linear_pointwise``, the fused operator torch's inductor
uses), on fixed-size chunks of bonds so that oneDNN builds each kernel once, and the
gathers and scatters run in numba.  It takes 0.6-0.8x the time of the plain path;
energies differ by float32 round-off only (reference tests unchanged, <= 1.5e-5 eV).
Without that operator the plain path runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["LegacyM3GNet", "GraphBatch", "positions_and_shifts"]


@dataclass
class GraphBatch:
    """A batch of crystal graphs, bonds grouped by graph and sorted by source atom.

    Attributes
    ----------
    node_type : (N,) long tensor
        Index of each atom's element in ``model.element_types``.
    edge_index : (2, E) long tensor
        Bond ``b`` goes from atom ``edge_index[0, b]`` to ``edge_index[1, b]``
        (global atom ids).  Bonds of graph ``g`` are contiguous, graph after
        graph, and within a graph in matgl 1.x's order (sorted by source atom).
    node_graph : (N,) long tensor
        Graph id of each atom (non-decreasing).
    edge_graph : (E,) long tensor
        Graph id of each bond (non-decreasing).
    num_graphs : int
    """

    node_type: Tensor
    edge_index: Tensor
    node_graph: Tensor
    edge_graph: Tensor
    num_graphs: int


def positions_and_shifts(frac: Tensor, pbc_offset: Tensor, lattice: Tensor, batch: GraphBatch) -> tuple[Tensor, Tensor]:
    """Cartesian positions (N, 3) and bond image shifts (E, 3), Å, as matgl 1.x's ``Potential`` computes them.

    ``frac`` is (N, 3) fractional, ``pbc_offset`` (E, 3) lattice translations of
    each bond's destination atom and ``lattice`` (G, 3, 3) Å with rows a, b, c.
    """
    pos = (frac.unsqueeze(-1) * lattice[batch.node_graph]).sum(dim=1)
    shift = (pbc_offset.unsqueeze(-1) * lattice[batch.edge_graph]).sum(dim=1)
    return pos, shift


def _exclusive_cumsum(x: Tensor) -> Tensor:
    return torch.cumsum(x, 0) - x


_LP: list = []


def _linear_pointwise():
    """torch's oneDNN fused linear + pointwise operator, or None where this torch lacks it."""
    if not _LP:
        op = None
        try:
            if torch.backends.mkldnn.is_available():
                cand = torch.ops.mkldnn._linear_pointwise
                x = torch.ones((2, 3))
                y = cand(x, torch.ones((4, 3)), torch.zeros(4), "swish", [], "")
                if tuple(y.shape) == (2, 4) and torch.allclose(y, torch.nn.functional.silu(torch.full((2, 4), 3.0))):
                    op = cand
        except Exception:  # noqa: BLE001 - missing operator or oneDNN: the plain path runs
            op = None
        _LP.append(op)
    return _LP[0]


def _chunks(n: int, size: int) -> list[slice]:
    """Slices of ``size`` rows covering ``n`` rows; the tail one slice padded to a multiple of ``size // 8``.

    So the layers see at most 8 row counts (each new one costs oneDNN a new kernel, once).
    """
    small = max(1, size // 8)
    full = n // size * size
    out = [slice(i, i + size) for i in range(0, full, size)]
    if n > full or not out:
        out.append(slice(full, full + max(1, -(-(n - full) // small)) * small))
    return out


def _bias(lin: nn.Linear):
    return None if lin.bias is None else lin.bias.detach()


def _scatter_rows(out, rows, index, n: int) -> None:
    """``out[index[e]] += rows[e]`` for the first ``n`` rows, in order (numba)."""
    from ._m3gnet_kernels import scatter_add_rows

    scatter_add_rows(out, rows, index, n)


class LegacyM3GNet(nn.Module):
    """Energy of M3GNet PES weights evaluated with matgl 1.x (DGL) conventions.

    Parameters
    ----------
    potential : matgl.apps.pes.Potential
        A loaded matgl (>= 2) potential wrapping an ``M3GNet`` without state
        features.  Its modules are shared, not copied: move or cast the
        potential, not this object.

    Notes
    -----
    ``forward`` returns the total energy per graph (eV): ``data_std * sum_atoms
    readout + data_mean + sum_atoms element_ref``, exactly the quantity matgl
    1.x's ``Potential`` returns.
    """

    def __init__(self, potential: Any) -> None:
        super().__init__()
        model = potential.model
        if getattr(model, "include_state", False) or getattr(model, "is_intensive", False):
            raise ValueError("LegacyM3GNet supports extensive M3GNet PES models without state features")
        self.potential = potential
        self.cutoff = float(model.cutoff)
        self.threebody_cutoff = float(model.threebody_cutoff)

    # ------------------------------------------------------------------ three-body
    def _triples(self, bond_dist: Tensor, batch: GraphBatch, num_nodes: int):
        """Triples of matgl 1.x: geometry on the pruned bonds, ids used as full-list ids.

        Returns ``(ka, kb, ia, ib, target)``: the true bonds ``kept[a]``/``kept[b]``
        (for the angle and radial basis) and the ids matgl 1.x actually uses for the
        cutoff weights (``ia``, ``ib``), the neighbour atom (``dst[ib]``) and the
        receiving bond (``target``), all global bond ids.
        """
        dev = bond_dist.device
        src = batch.edge_index[0]
        kept = torch.nonzero(bond_dist <= self.threebody_cutoff, as_tuple=False).squeeze(1)
        n_kept = int(kept.shape[0])
        empty = torch.zeros(0, dtype=torch.long, device=dev)
        if n_kept == 0:
            return empty, empty, empty, empty, empty
        g = batch.num_graphs
        ksrc = src[kept]
        kgraph = batch.edge_graph[kept]
        # first bond of each graph in the full list, first kept bond in the pruned list
        edge_first = _exclusive_cumsum(torch.bincount(batch.edge_graph, minlength=g))
        kept_first = _exclusive_cumsum(torch.bincount(kgraph, minlength=g))
        ar = torch.arange(n_kept, device=dev)
        p_local = ar - kept_first[kgraph]  # position in this graph's pruned list
        as_full = edge_first[kgraph] + p_local  # matgl 1.x reads pruned position p as full bond p
        n_b = torch.bincount(ksrc, minlength=num_nodes)
        atom_first = _exclusive_cumsum(n_b)  # first kept bond of each atom (kept is sorted by source)
        n_tr = n_b[ksrc] - 1  # partners of each kept bond (n_triple_ij)
        total = int(n_tr.sum().item())
        if total == 0:
            return empty, empty, empty, empty, empty
        a = torch.repeat_interleave(ar, n_tr)
        j = torch.arange(total, device=dev) - _exclusive_cumsum(n_tr)[a]
        local = ar - atom_first[ksrc]
        j = j + (j >= local[a]).to(torch.long)
        b = atom_first[ksrc[a]] + j
        # receiving bond: get_segment_indices_from_n(n_triple_ij) per graph, i.e. the
        # pruned position of `a` minus the bonds without partners at positions 1 .. p-1
        zero = (n_tr == 0).to(torch.long)
        zero_incl = torch.cumsum(zero, 0)
        first_incl = zero_incl[kept_first.clamp(max=n_kept - 1)]  # zeros up to and incl. position 0 of the graph
        seg = p_local[a] - (zero_incl[a] - zero[a] - first_incl[kgraph[a]])
        target = edge_first[kgraph[a]] + seg
        return kept[a], kept[b], as_full[a], as_full[b], target

    # ------------------------------------------------------------------ fused weights
    def _fused(self, like: Tensor) -> list | None:
        """Per block, the first layers of the two gated MLPs split into node and bond parts.

        ``hstack([v_src, v_dst, e]) @ W.T`` equals ``(v @ W_src.T)[src] + (v @ W_dst.T)[dst]
        + e @ W_e.T``: the 192-wide products of every bond become 64-wide ones, and
        the node parts are computed once per atom.  Same weights, same function;
        only the float32 summation order differs (round-off, ~1e-6 eV).
        ``None`` if a layer does not have the expected shape (then the plain path runs).
        """
        key = (like.dtype, like.device)
        cache = self.__dict__.setdefault("_fused_cache", {})
        if key in cache:
            return cache[key]
        model = self.potential.model
        out = []
        with torch.inference_mode(False), torch.no_grad():  # usable with and without autograd
            for i in range(model.n_blocks):
                conv = model.graph_layers[i].conv
                mlps = (conv.edge_update_func, conv.node_update_func)
                parts = []
                for mlp in mlps:
                    lin_l = [m for m in mlp.layers if isinstance(m, nn.Linear)]
                    lin_g = [m for m in mlp.gates if isinstance(m, nn.Linear)]
                    acts_ok = (
                        len(lin_l) == 3 and len(lin_g) == 3 and len(mlp.layers) == 6 and len(mlp.gates) == 6
                        and all(isinstance(mlp.layers[k], nn.SiLU) for k in (1, 3, 5))
                        and all(isinstance(mlp.gates[k], nn.SiLU) for k in (1, 3))
                        and isinstance(mlp.gates[5], nn.Sigmoid)
                        and lin_l[0].bias is not None and lin_g[0].bias is not None
                    )
                    if not acts_ok:
                        cache[key] = None
                        return None
                    w0 = torch.cat([lin_l[0].weight, lin_g[0].weight]).to(like)  # (2h, 3d)
                    d = w0.shape[1] // 3
                    h = lin_l[0].weight.shape[0]
                    parts.append({
                        "w_src": w0[:, :d], "w_dst": w0[:, d:2 * d], "w_e": w0[:, 2 * d:].t().contiguous(),
                        "b0": torch.cat([lin_l[0].bias, lin_g[0].bias]).to(like), "h": h,
                        "l": [(m.weight.t().contiguous().to(like), m.bias.to(like)) for m in lin_l[1:]],
                        "g": [(m.weight.t().contiguous().to(like), m.bias.to(like)) for m in lin_g[1:]],
                    })
                # node parts of both MLPs in one (N, 4 * 2h) product: [src_e, dst_e, src_n, dst_n]
                w_node = torch.cat([parts[0]["w_src"], parts[0]["w_dst"], parts[1]["w_src"], parts[1]["w_dst"]])
                out.append({"w_node": w_node.t().contiguous(), "edge": parts[0], "node": parts[1]})
        cache[key] = out
        return out

    @staticmethod
    def _first_layer(edge: Tensor, p_src: Tensor, p_dst: Tensor, p: dict, src: Tensor, dst: Tensor, inplace: bool) -> Tensor:
        """First-layer pre-activation of a gated MLP on ``[v_src, v_dst, e]``: (E, 2h)."""
        if inplace and edge.device.type == "cpu":
            from ._m3gnet_kernels import gather_add

            h0 = edge.new_empty((edge.shape[0], p_src.shape[1]))
            gather_add(h0.numpy(), (p_src + p["b0"]).numpy(), src.numpy(), p_dst.numpy(), dst.numpy())
            return h0.addmm_(edge, p["w_e"])
        h0 = torch.addmm(p["b0"], edge, p["w_e"])
        return h0 + p_src.index_select(0, src) + p_dst.index_select(0, dst)

    @staticmethod
    def _gated(h0: Tensor, p: dict, inplace: bool) -> Tensor:
        """Rest of a gated MLP from its first-layer pre-activation ``h0`` (E, 2h): layers(x) * gates(x)."""
        import torch.nn.functional as F

        h = p["h"]
        h0 = F.silu(h0, inplace=inplace)  # strided halves feed the next products directly
        a, g = h0[:, :h], h0[:, h:]
        (w1, b1), (w2, b2) = p["l"]
        a = F.silu(torch.addmm(b1, a, w1), inplace=inplace)
        a = F.silu(torch.addmm(b2, a, w2), inplace=inplace)
        (w1, b1), (w2, b2) = p["g"]
        g = F.silu(torch.addmm(b1, g, w1), inplace=inplace)
        g = torch.addmm(b2, g, w2)
        g = g.sigmoid_() if inplace else g.sigmoid()
        return a.mul_(g) if inplace else a * g

    # ------------------------------------------------------------------ oneDNN path (CPU, float32, no autograd)
    #: Bonds per chunk of the oneDNN path: every fused linear layer sees this many rows (the tail
    #: a multiple of chunk // 8), so oneDNN builds each kernel once (a new row count costs a new
    #: kernel, ~8 ms).
    chunk = 4096

    def _dnnl(self, like: Tensor) -> dict | None:
        """Weights for :meth:`_energy_dnnl` (``None`` if that path cannot run here).

        The path needs a CPU float32 tensor, no autograd, torch's oneDNN fused linear
        operator (``torch.ops.mkldnn._linear_pointwise``, the one inductor uses: a linear
        layer with its bias and SiLU or sigmoid in one pass) and the layer shapes
        :meth:`_fused` expects.
        """
        if like.device.type != "cpu" or like.dtype != torch.float32 or torch.is_grad_enabled():
            return None
        cache = self.__dict__.setdefault("_dnnl_cache", {})
        if "w" in cache:
            return cache["w"]
        fused = self._fused(like)
        w = None
        if fused is not None and _linear_pointwise() is not None:
            w = self._dnnl_weights(fused)
        cache["w"] = w
        return w

    def _dnnl_weights(self, fused: list) -> dict | None:
        model = self.potential.model
        with torch.inference_mode(False), torch.no_grad():
            emb = model.embedding.layer_edge_embedding
            lin = [m for m in emb.modules() if isinstance(m, nn.Linear)]
            acts = [m for m in emb.modules() if isinstance(m, (nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ReLU))]
            if len(lin) != 1 or len(acts) != 1 or not isinstance(acts[0], nn.SiLU):
                return None
            out = {"emb": (lin[0].weight.detach().contiguous(), _bias(lin[0])), "blocks": []}
            for i, f in enumerate(fused):
                conv = model.graph_layers[i].conv
                three = model.three_body_interactions[i]
                bl = [m for m in three.update_network_bond.layers if isinstance(m, nn.Linear)]
                bg = [m for m in three.update_network_bond.gates if isinstance(m, nn.Linear)]
                ok = (
                    len(bl) == 1 and len(bg) == 1 and len(three.update_network_bond.layers) == 2
                    and isinstance(three.update_network_bond.layers[1], nn.SiLU)
                    and len(three.update_network_bond.gates) == 2
                    and isinstance(three.update_network_bond.gates[1], nn.Sigmoid)
                    and isinstance(conv.edge_weight_func, nn.Linear) and conv.edge_weight_func.bias is None
                    and isinstance(conv.node_weight_func, nn.Linear) and conv.node_weight_func.bias is None
                )
                if not ok:
                    return None
                blk = {"w_node": f["w_node"], "three": ((bl[0].weight.detach().contiguous(), _bias(bl[0])),
                                                         (bg[0].weight.detach().contiguous(), _bias(bg[0])))}
                for name, mlp, wf in (("edge", conv.edge_update_func, conv.edge_weight_func),
                                      ("node", conv.node_update_func, conv.node_weight_func)):
                    lin_l = [m for m in mlp.layers if isinstance(m, nn.Linear)]
                    lin_g = [m for m in mlp.gates if isinstance(m, nn.Linear)]
                    d = lin_l[0].weight.shape[1] // 3
                    blk[name] = {
                        "b0": f[name]["b0"],
                        "w_ea": lin_l[0].weight.detach()[:, 2 * d:].contiguous(),
                        "w_eg": lin_g[0].weight.detach()[:, 2 * d:].contiguous(),
                        "l": [(m.weight.detach().contiguous(), m.bias.detach()) for m in lin_l[1:]],
                        "g": [(m.weight.detach().contiguous(), m.bias.detach()) for m in lin_g[1:]],
                        "w_rbf": wf.weight.detach().contiguous(),
                    }
                out["blocks"].append(blk)
        return out

    def _mlp_chunk(self, e: Tensor, p_src: np.ndarray, p_dst: np.ndarray, src: np.ndarray, dst: np.ndarray,
                   rbf: Tensor, p: dict) -> Tensor:
        """Gated MLP of one chunk of bonds times its radial weight: ``(layers(x) * gates(x)) * (rbf @ W)``, (C, h)."""
        from ._m3gnet_kernels import add_gathered

        lp = _linear_pointwise()
        silu = torch.nn.functional.silu
        ha = lp(e, p["w_ea"], None, "none", [], "")
        hg = lp(e, p["w_eg"], None, "none", [], "")
        add_gathered(ha.numpy(), hg.numpy(), p_src, src, p_dst, dst)
        silu(ha, inplace=True)
        silu(hg, inplace=True)
        (w1, b1), (w2, b2) = p["l"]
        a = lp(lp(ha, w1, b1, "swish", [], ""), w2, b2, "swish", [], "")
        (w1, b1), (w2, b2) = p["g"]
        g = lp(lp(hg, w1, b1, "swish", [], ""), w2, b2, "sigmoid", [], "")
        a.mul_(g)
        return a.mul_(lp(rbf, p["w_rbf"], None, "none", [], ""))

    def _energy_dnnl(self, w: dict, rbf: Tensor, basis_w: Tensor, end_atom: Tensor, target: Tensor,
                     batch: GraphBatch) -> Tensor:
        """:meth:`energy` on CPU in float32 without autograd: oneDNN fused layers on fixed-size chunks of bonds.

        Same function and weights as the plain path; every (bonds x 64) array is produced
        by a fused linear + activation or updated in place, bonds are processed
        ``chunk`` at a time (the last chunk padded with zero rows, whose messages are
        never summed), and the gathers and scatters run in numba in ``index_add_``'s
        order.  Only float32 round-off differs from the plain path.
        """
        from torch.profiler import record_function

        from ._m3gnet_kernels import scatter_gather_mul_add

        lp = _linear_pointwise()
        pot = self.potential
        model = pot.model
        c = self.chunk
        n_bonds = int(rbf.shape[0])
        chunks = _chunks(n_bonds, c)
        n_pad = chunks[-1].stop
        src = np.zeros(n_pad, np.int64)
        dst = np.zeros(n_pad, np.int64)
        src[:n_bonds] = batch.edge_index[0].numpy()
        dst[:n_bonds] = batch.edge_index[1].numpy()
        rbf_p = rbf.new_zeros((n_pad, rbf.shape[1]))
        rbf_p[:n_bonds] = rbf
        with record_function("m3gnet.embedding"):
            node = model.embedding.layer_node_embedding(batch.node_type)
            num_nodes = int(node.shape[0])
            we, be = w["emb"]
            edge = rbf.new_empty((n_pad, we.shape[0]))
            for sl in chunks:
                edge[sl] = lp(rbf_p[sl], we, be, "swish", [], "")
        end_np = end_atom.numpy()
        target_np = target.numpy()
        basis_np = basis_w.numpy()
        for i, blk in enumerate(w["blocks"]):
            if basis_w.shape[0]:
                with record_function(f"m3gnet.block{i}.three_body"):
                    three = model.three_body_interactions[i]
                    atoms = three.update_network_atom(node).contiguous()
                    new_bonds = rbf.new_zeros((n_pad, basis_w.shape[1]))
                    scatter_gather_mul_add(new_bonds.numpy(), basis_np, atoms.numpy(), end_np, target_np)
                    (wl, bl), (wg, bg) = blk["three"]
                    for sl in chunks:
                        nb = new_bonds[sl]
                        upd = lp(nb, wl, bl, "swish", [], "").mul_(lp(nb, wg, bg, "sigmoid", [], ""))
                        edge[sl].add_(upd)
            h2 = 2 * blk["edge"]["w_ea"].shape[0]
            proj = torch.mm(node, blk["w_node"]).view(num_nodes, 4, h2)
            pe_src = (proj[:, 0] + blk["edge"]["b0"]).numpy()
            pe_dst = proj[:, 1].contiguous().numpy()
            pn_src = (proj[:, 2] + blk["node"]["b0"]).numpy()
            pn_dst = proj[:, 3].contiguous().numpy()
            agg = torch.zeros_like(node)
            agg_np = agg.numpy()
            for sl in chunks:  # bond update, then atom messages, chunk by chunk
                e = edge[sl]
                s_, d_, r_ = src[sl], dst[sl], rbf_p[sl]
                with record_function(f"m3gnet.block{i}.bond_update"):
                    e.add_(self._mlp_chunk(e, pe_src, pe_dst, s_, d_, r_, blk["edge"]))
                with record_function(f"m3gnet.block{i}.atom_update"):
                    upd = self._mlp_chunk(e, pn_src, pn_dst, s_, d_, r_, blk["node"])
                    _scatter_rows(agg_np, upd.numpy(), d_, min(sl.stop, n_bonds) - sl.start)
            node = node + agg
        return _readout(model, pot, node, batch)

    # ------------------------------------------------------------------ forward
    def geometry(self, pos: Tensor, shift: Tensor, batch: GraphBatch) -> tuple[Tensor, Tensor]:
        """Bond vectors (E, 3) and lengths (E,), Å, as matgl 1.x computes them."""
        src, dst = batch.edge_index[0], batch.edge_index[1]
        bond_vec = pos[dst] + shift - pos[src]
        return bond_vec, torch.norm(bond_vec, dim=1)

    def forward(self, pos: Tensor, shift: Tensor, batch: GraphBatch, triples: tuple | None = None) -> Tensor:
        """Total energies (G,), eV, of the graphs in ``batch``.

        ``pos`` (N, 3) and ``shift`` (E, 3) are Cartesian, Å (see
        :func:`positions_and_shifts`); gradients flow through both.  ``triples``
        (``ka, kb, ia, ib, target`` long tensors, see :meth:`_triples`) may be
        given when they were enumerated elsewhere (the numba kernel of
        :mod:`ionnet.potentials._m3gnet_kernels`).
        """
        bond_vec, bond_dist = self.geometry(pos, shift, batch)
        if triples is None:
            triples = self._triples(bond_dist.detach(), batch, int(pos.shape[0]))
        return self.energy(bond_vec, bond_dist, batch, triples)

    def triple_basis(self, bond_vec: Tensor, bond_dist: Tensor, ka: Tensor, kb: Tensor) -> Tensor:
        """Spherical Bessel x harmonics basis (T, 9) of the triples with true bonds ``ka``, ``kb``."""
        model = self.potential.model
        v1, v2 = bond_vec.index_select(0, ka), bond_vec.index_select(0, kb)
        cos = torch.sum(v1 * v2, dim=1) / (torch.norm(v1, dim=1) * torch.norm(v2, dim=1))
        cos = cos.clamp(min=-1 + 1e-7, max=1 - 1e-7)
        return model.basis_expansion(bond_dist.index_select(0, kb), cos, torch.zeros_like(cos))

    def energy(self, bond_vec: Tensor, bond_dist: Tensor, batch: GraphBatch, triples: tuple) -> Tensor:
        """Total energies (G,), eV, from the bond geometry and the three-body triples."""
        from matgl.utils.cutoff import polynomial_cutoff
        from torch.profiler import record_function

        pot = self.potential
        model = pot.model
        src, dst = batch.edge_index[0], batch.edge_index[1]
        num_nodes = int(batch.node_type.shape[0])
        num_bonds = int(src.shape[0])
        inplace = not torch.is_grad_enabled()
        with record_function("m3gnet.bases"):
            rbf = model.bond_expansion(bond_dist)
            ka, kb, ia, ib, target = triples[:5]
            # (basis table of framework bond pairs, row of each triple or -1, the triples with -1)
            known = triples[5] if len(triples) > 5 else None
            fcut = polynomial_cutoff(bond_dist, self.threebody_cutoff)
            if known is None:
                basis = self.triple_basis(bond_vec, bond_dist, ka, kb)
                weights = (fcut.index_select(0, ia) * fcut.index_select(0, ib)).unsqueeze(1)
                basis_w = basis * weights  # fixed over the blocks
            else:
                table, rows, rest = known
                rest_t = torch.as_tensor(rest, device=ka.device)
                vals = self.triple_basis(bond_vec, bond_dist, ka[rest_t], kb[rest_t])
                if inplace and table.device.type == "cpu":
                    from ._m3gnet_kernels import assemble_basis_w

                    basis_w = table.new_empty((ka.shape[0], table.shape[1]))
                    assemble_basis_w(basis_w.numpy(), table.numpy(), rows, vals.contiguous().numpy(), fcut.numpy(),
                                     ia.numpy(), ib.numpy())
                else:
                    rows_t = torch.as_tensor(rows, device=ka.device)
                    basis = table.index_select(0, rows_t.clamp(min=0))
                    basis[rest_t] = vals
                    weights = (fcut.index_select(0, ia) * fcut.index_select(0, ib)).unsqueeze(1)
                    basis_w = basis * weights
            end_atom = dst.index_select(0, ib)
        w = self._dnnl(rbf)
        if w is not None:
            return self._energy_dnnl(w, rbf, basis_w, end_atom, target, batch)
        with record_function("m3gnet.embedding"):
            node, edge, _ = model.embedding(batch.node_type, rbf, None)
        fused = self._fused(edge)
        for i in range(model.n_blocks):
            three = model.three_body_interactions[i]
            if basis_w.shape[0]:
                with record_function(f"m3gnet.block{i}.three_body"):
                    msg = basis_w * three.update_network_atom(node).index_select(0, end_atom)
                    new_bonds = msg.new_zeros((num_bonds, msg.shape[1])).index_add_(0, target, msg)
                    edge = edge + three.update_network_bond(new_bonds)
            conv = model.graph_layers[i].conv
            if fused is None:
                with record_function(f"m3gnet.block{i}.bond_update"):
                    edge = edge + conv.edge_update_func(torch.hstack([node[src], node[dst], edge])) * conv.edge_weight_func(rbf)
                with record_function(f"m3gnet.block{i}.atom_update"):
                    mess = conv.node_update_func(torch.hstack([node[src], node[dst], edge])) * conv.node_weight_func(rbf)
                    node = node + torch.zeros_like(node).index_add_(0, dst, mess)  # matgl 1.x: into the destination
                continue
            f = fused[i]
            with record_function(f"m3gnet.block{i}.bond_update"):
                two_h = 2 * f["edge"]["h"]
                proj = torch.mm(node, f["w_node"]).view(num_nodes, 4, two_h).transpose(0, 1).contiguous()
                h0 = self._first_layer(edge, proj[0], proj[1], f["edge"], src, dst, inplace)
                upd = self._gated(h0, f["edge"], inplace)
                edge = torch.addcmul(edge, upd, conv.edge_weight_func(rbf))
            with record_function(f"m3gnet.block{i}.atom_update"):
                h0 = self._first_layer(edge, proj[2], proj[3], f["node"], src, dst, inplace)
                upd = self._gated(h0, f["node"], inplace)
                w = conv.node_weight_func(rbf)
                mess = upd.mul_(w) if inplace else upd * w
                node = node + torch.zeros_like(node).index_add_(0, dst, mess)  # matgl 1.x: into the destination
        return _readout(model, pot, node, batch)


def _readout(model, pot, node: Tensor, batch: GraphBatch) -> Tensor:
    """Total energy per graph (eV): the final layer's atomic energies summed, scaled and shifted as matgl does."""
    from torch.profiler import record_function

    with record_function("m3gnet.readout"):
        atomic = model.final_layer(node).reshape(-1)
        energy = atomic.new_zeros(batch.num_graphs).index_add_(0, batch.node_graph, atomic)
        energy = pot.data_std * energy + pot.data_mean
        if pot.element_refs is not None:
            offset = pot.element_refs.property_offset.to(energy.dtype)
            energy = energy + energy.new_zeros(batch.num_graphs).index_add_(0, batch.node_graph, offset[batch.node_type])
    return energy
