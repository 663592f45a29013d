"""matgl back end (M3GNet) with a batched, energy-only probe evaluation.

The naive way to scan a probe ion builds one structure per position and calls
matgl's ASE calculator, which also computes forces and stresses by autograd.
:class:`MatglPotential` instead

* computes the framework-framework neighbour list once (it never changes),
* finds, for many probe positions at once, only the probe-framework pairs (and
  the probe's own periodic images) with vectorised numpy,
* assembles the graphs of many probe positions into one batched PyG graph,
  builds the three-body line graph itself (vectorised torch), and
* runs ``Potential.forward`` with forces and stresses off under
  ``torch.inference_mode()``.

The result equals matgl's own energy for the structure framework + probe
(``PESCalculator`` / ``Potential`` on a ``Structure2Graph`` graph) up to float32
round-off: the edges are the same but listed in another order, so sums are
taken in another order (differences ~2e-5 eV rms, <= 1e-4 eV on LiFePO4; in
float64 the two agree to 1e-13 eV).  torch, matgl and pymatgen are imported lazily.
"""
from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError, ModelError
from ._common import BasePotential, framework_elements, iter_batches

__all__ = ["MatglPotential", "M3GNetPotential", "DEFAULT_M3GNET", "M3GNET_ENV_VAR", "resolve_m3gnet_path"]

logger = logging.getLogger(__name__)

#: matgl's name of the default M3GNet universal potential.
DEFAULT_M3GNET = "M3GNet-MP-2021.2.8-PES"
#: Environment variable naming a local folder with the default M3GNet weights.
M3GNET_ENV_VAR = "IONNET_M3GNET_PATH"

_MODEL_FILES = ("model.json", "model.pt", "state.pt")
_ALTERNATIVES = (
    f"set {M3GNET_ENV_VAR} to a folder holding {DEFAULT_M3GNET} (model.json, model.pt, state.pt), "
    "pass path=..., or use model='chgnet' (weights ship with the package) or model='bvse' (no weights)"
)
# Edges per forward pass used to pick a default batch size.
_EDGE_BUDGET = {"cpu": 60_000, "cuda": 1_000_000}
# (points x atoms x image shifts) handled per numpy chunk in the pair search
_PAIR_CHUNK = 2_000_000


def _is_model_dir(path: Path) -> bool:
    return path.is_dir() and all((path / f).is_file() for f in _MODEL_FILES)


def _matgl_cached_dir(name: str) -> Path | None:
    """Folder of ``name`` in matgl's download cache, if complete; never touches the network."""
    try:
        from matgl.config import MATGL_CACHE
    except ImportError:  # pragma: no cover - matgl missing is reported elsewhere
        return None
    legacy = Path(MATGL_CACHE) / name
    if _is_model_dir(legacy):
        return legacy
    try:
        from huggingface_hub import try_to_load_from_cache

        found = [try_to_load_from_cache(f"materialyze/{name}", f, cache_dir=str(MATGL_CACHE)) for f in _MODEL_FILES]
    except Exception:  # noqa: BLE001 - any failure just means "not cached"
        return None
    if all(isinstance(p, str) for p in found):
        return Path(found[0]).parent  # type: ignore[arg-type]
    return None


def _online(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_m3gnet_path(path: str | os.PathLike | None = None) -> Path | str:
    """Locate the M3GNet weights without downloading anything.

    Search order: ``path``; the ``IONNET_M3GNET_PATH`` environment variable;
    matgl's cache (``~/.cache/matgl``).  If none has the weights, the matgl name
    :data:`DEFAULT_M3GNET` is returned so that the caller may try a download.

    Parameters
    ----------
    path : path-like, optional
        Folder with ``model.json``, ``model.pt`` and ``state.pt``.

    Returns
    -------
    Path or str
        A model folder, or the bare matgl model name.

    Raises
    ------
    BackendUnavailableError
        If ``path`` (or the environment variable) names a folder without the weights.
    """
    if path is not None:
        p = Path(path).expanduser()
        if not _is_model_dir(p):
            raise BackendUnavailableError(f"no matgl model in {str(p)!r} (need model.json, model.pt, state.pt); {_ALTERNATIVES}")
        return p
    env = os.environ.get(M3GNET_ENV_VAR, "").strip()
    if env:
        p = Path(env).expanduser()
        if not _is_model_dir(p):
            raise BackendUnavailableError(f"{M3GNET_ENV_VAR}={env!r} is not a matgl model folder (need model.json, model.pt, state.pt); {_ALTERNATIVES}")
        return p
    cached = _matgl_cached_dir(DEFAULT_M3GNET)
    return cached if cached is not None else DEFAULT_M3GNET


def _load_matgl(source: Path | str) -> Any:
    try:
        import matgl
    except ImportError as e:
        raise BackendUnavailableError("matgl is not installed: pip install 'ionnet[matgl]', or use model='bvse'") from e
    if isinstance(source, str) and not _online():
        raise BackendUnavailableError(f"M3GNet weights not found locally and no network to download {source!r}; {_ALTERNATIVES}")
    logger.info("loading matgl model %s", source)
    try:
        return matgl.load_model(source)
    except Exception as e:  # noqa: BLE001 - matgl wraps everything in ValueError/RuntimeError
        raise BackendUnavailableError(f"could not load matgl model {str(source)!r} ({e}); {_ALTERNATIVES}") from e


@dataclass
class _Framework:
    """Per-framework data that stays fixed while the probe moves."""

    key: tuple
    lattice: NDArray[np.float64]  # (3, 3) Å, rows a, b, c
    frac: NDArray[np.float64]  # (N, 3) framework fractional coordinates, as given
    node_type: NDArray[np.int64]  # (N + 1,) indices into model.element_types, probe last
    fw_src: NDArray[np.int64]  # (E0,) framework-framework edges
    fw_dst: NDArray[np.int64]
    fw_img: NDArray[np.float64]  # (E0, 3) image of dst
    self_img: NDArray[np.float64]  # (S, 3) lattice translations of the probe within the cutoff
    shifts: NDArray[np.float64]  # (K, 3) candidate image offsets for probe-framework pairs
    cutoff: float

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


def _image_range(lattice: NDArray[np.float64], cutoff: float) -> NDArray[np.int64]:
    """Max |n_i| of lattice translations n needed for vectors (f + n) @ L, f in [-1/2, 1/2]^3, within ``cutoff``."""
    recip = np.linalg.inv(lattice).T  # rows: reciprocal vectors without 2*pi
    return np.ceil(cutoff * np.linalg.norm(recip, axis=1) + 0.5).astype(np.int64)


def _probe_pairs(fw: _Framework, probe_frac: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Probe-framework pairs within the cutoff for many probe positions at once.

    Returns ``(point, atom, image)`` with ``image`` the lattice translation of the
    framework atom as seen from the probe: the bond vector probe -> atom is
    ``(frac[atom] + image - probe_frac[point]) @ lattice``.
    """
    chunk = max(1, _PAIR_CHUNK // max(1, fw.n_atoms * len(fw.shifts)))
    pts, ats, imgs = [], [], []
    for start in range(0, len(probe_frac), chunk):
        d = fw.frac[None, :, :] - probe_frac[start : start + chunk, None, :]  # (m, N, 3)
        k = np.round(d)
        d0 = d - k  # in [-1/2, 1/2]
        # (m, N, K, 3) fractional bond vectors for each candidate shift
        cart = (d0[:, :, None, :] + fw.shifts[None, None, :, :]) @ fw.lattice
        r2 = np.einsum("...i,...i->...", cart, cart)
        pt, at, sh = np.nonzero(r2 <= fw.cutoff * fw.cutoff)
        imgs.append(fw.shifts[sh] - k[pt, at])
        pts.append(pt + start)
        ats.append(at)
    return np.concatenate(pts).astype(np.int64), np.concatenate(ats).astype(np.int64), np.concatenate(imgs)


class MatglPotential(BasePotential):
    """A matgl potential (M3GNet by default) evaluated energy-only and batched.

    Parameters
    ----------
    path : path-like, optional
        Folder of a matgl model (``model.json``, ``model.pt``, ``state.pt``).  Default:
        the ``IONNET_M3GNET_PATH`` environment variable, then matgl's cache of
        ``M3GNet-MP-2021.2.8-PES``, then a download by matgl (only if online).
    device : str, default "cpu"
        Torch device, e.g. ``"cuda"``.
    batch_size : int, optional
        Default number of probe positions per forward pass.  ``None`` picks it
        from the graph size (about 60 000 edges per pass on CPU, 1e6 on CUDA:
        ~40 positions for a 28-atom cell on CPU).
    method : {"auto", "fast", "converter"}, default "auto"
        ``"fast"``: hand-assembled batched graphs (M3GNet only).  ``"converter"``:
        matgl's ``Structure2Graph`` per position, batched; works for any matgl
        potential.  ``"auto"`` uses ``"fast"`` whenever the model is an M3GNet.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the model.  matgl's models are trained and normally run in
        float32; "float64" removes round-off (useful to compare evaluation paths).
    potential : matgl Potential, optional
        An already-loaded ``matgl.apps.pes.Potential`` (then ``path`` is ignored).
        It is copied, not modified.
    name : str, optional
        Override :attr:`name`.

    Attributes
    ----------
    name : str
        ``"m3gnet:<model folder name>"`` (``"matgl:<...>"`` for other architectures).
    potential : matgl.apps.pes.Potential
        The wrapped potential (forces and stresses switched off).
    element_types : tuple of str
        Elements the model knows.

    Raises
    ------
    BackendUnavailableError
        matgl missing, or no weights (message lists the alternatives).

    Notes
    -----
    The fast path is exact, not an approximation: the graph holds exactly the
    edges matgl's ``Structure2Graph`` would build (pairs within the model cutoff,
    including periodic self-images) and the same three-body line graph, so the
    energies agree with matgl's standard evaluation to float32 round-off.
    Only the order of the edges differs, which changes summation order.

    Examples
    --------
    >>> from ionnet.potentials import get_potential            # doctest: +SKIP
    >>> pot = get_potential("m3gnet")                          # doctest: +SKIP
    >>> pot.energies(framework, "Li", [[0.0, 0.0, 0.0]])       # doctest: +SKIP
    array([-185.93...])
    """

    def __init__(
        self,
        path: str | os.PathLike | None = None,
        *,
        device: str = "cpu",
        batch_size: int | None = None,
        method: str = "auto",
        dtype: str = "float32",
        potential: Any = None,
        name: str | None = None,
    ) -> None:
        if method not in ("auto", "fast", "converter"):
            raise ModelError(f"`method` must be 'auto', 'fast' or 'converter' (got {method!r})")
        if dtype not in ("float32", "float64"):
            raise ModelError(f"`dtype` must be 'float32' or 'float64' (got {dtype!r})")
        try:
            import torch  # noqa: F401
            import matgl  # noqa: F401
        except ImportError as e:
            raise BackendUnavailableError("matgl/torch are not installed: pip install 'ionnet[matgl]', or use model='bvse'") from e
        import copy

        if potential is None:
            source = resolve_m3gnet_path(path)
            potential = _load_matgl(source)
            if isinstance(source, str) or source.parent.name == "snapshots":  # matgl name / HF cache
                label = DEFAULT_M3GNET if path is None else str(source)
            else:
                label = source.name
            pot = potential
        else:
            label = name or type(getattr(potential, "model", potential)).__name__
            if not hasattr(potential, "model") or not hasattr(potential, "calc_forces"):
                raise ModelError(f"{label!r} is not a matgl PES model (matgl.apps.pes.Potential); load it with matgl.load_model")
            pot = copy.deepcopy(potential)  # leave the caller's model (flags, device, dtype) alone
        pot.calc_forces = False
        pot.calc_stresses = False
        pot.calc_hessian = False
        if hasattr(pot, "debug_mode"):
            pot.debug_mode = False
        self.device = str(device)
        pot = pot.to(self.device)
        if dtype == "float64":
            pot = pot.double()
        self.dtype = dtype
        self.potential = pot.eval()
        model = self.potential.model
        self.element_types: tuple[str, ...] = tuple(model.element_types)
        self.cutoff = float(model.cutoff)
        self.threebody_cutoff = float(getattr(model, "threebody_cutoff", 0.0))
        from matgl.models import M3GNet

        self.is_m3gnet = isinstance(model, M3GNet)
        fast_ok = (
            self.is_m3gnet
            and not getattr(model, "include_state", False)
            and not getattr(self.potential, "calc_charge", False)
            and not getattr(self.potential, "calc_magmom", False)
        )
        if method == "fast" and not fast_ok:
            raise ModelError(f"method='fast' needs a plain M3GNet model (got {type(model).__name__}); use method='converter'")
        self.method = ("fast" if fast_ok else "converter") if method == "auto" else method
        self.default_batch_size = batch_size
        prefix = "m3gnet" if self.is_m3gnet else "matgl"
        self.name = name or f"{prefix}:{label}"
        self._fw: _Framework | None = None
        self._warned_fallback = False

    # -- protocol -----------------------------------------------------------------
    def _unknown_elements(self, elements: list[str]) -> list[str]:
        known = set(self.element_types)
        return [e for e in elements if e not in known]

    def _supports_hint(self) -> str:
        return "try model='chgnet' or model='bvse'"

    def _pick_batch_size(self, fw: _Framework, batch_size: int | None) -> int:
        if batch_size is not None:
            return batch_size
        if self.default_batch_size is not None:
            return int(self.default_batch_size)
        edges = max(len(fw.fw_src), 1) * (fw.n_atoms + 1) / max(fw.n_atoms, 1)
        budget = _EDGE_BUDGET["cuda" if self.device.startswith("cuda") else "cpu"]
        return int(np.clip(budget // edges, 1, 4096))

    def _energies(self, framework, ion, frac_coords, *, batch_size, progress):
        from tqdm.auto import tqdm

        fw = self._prepare(framework, ion)
        bs = self._pick_batch_size(fw, batch_size)
        out = np.empty(len(frac_coords), dtype=np.float64)
        with tqdm(total=len(frac_coords), disable=not progress, desc=self.name, unit="pt") as bar:
            for sl in iter_batches(len(frac_coords), bs):
                if self.method == "fast":
                    out[sl] = self._batch_fast(fw, frac_coords[sl])
                else:
                    out[sl] = self._batch_converter(framework, ion, frac_coords[sl])
                bar.update(sl.stop - sl.start)
        return out

    # -- framework preprocessing --------------------------------------------------------
    def _prepare(self, framework: Any, ion: str) -> _Framework:
        key = _framework_key(framework, ion)
        if self._fw is not None and self._fw.key == key:
            return self._fw
        from pymatgen.optimization.neighbors import find_points_in_spheres

        lattice = np.array(framework.lattice.matrix, dtype=np.float64)
        frac = np.array(framework.frac_coords, dtype=np.float64)
        index = {e: i for i, e in enumerate(self.element_types)}
        node_type = np.array([index[e] for e in framework_elements(framework)] + [index[ion]], dtype=np.int64)
        cart = np.ascontiguousarray(frac @ lattice)
        # exactly as matgl.ext.pymatgen.Structure2Graph
        src, dst, img, dist = find_points_in_spheres(
            cart, cart, r=self.cutoff, pbc=np.array([1, 1, 1], dtype=np.int64), lattice=lattice, tol=1e-8
        )
        keep = (src != dst) | (dist > 1e-8)
        nmax = _image_range(lattice, self.cutoff)
        grid = np.stack(
            np.meshgrid(*[np.arange(-m, m + 1) for m in nmax], indexing="ij"), axis=-1
        ).reshape(-1, 3).astype(np.float64)
        # the probe's own periodic images (a lattice vector shorter than the cutoff)
        t = grid @ lattice
        r = np.linalg.norm(t, axis=1)
        self_img = grid[(r <= self.cutoff) & (r > 1e-8)]
        self._fw = _Framework(
            key=key,
            lattice=lattice,
            frac=frac,
            node_type=node_type,
            fw_src=src[keep].astype(np.int64),
            fw_dst=dst[keep].astype(np.int64),
            fw_img=np.asarray(img[keep], dtype=np.float64),
            self_img=self_img,
            shifts=grid,
            cutoff=self.cutoff,
        )
        logger.debug(
            "framework graph: %d atoms, %d framework edges, %d probe self-images, %d candidate shifts",
            len(frac), len(self._fw.fw_src), len(self_img), len(grid),
        )
        return self._fw

    # -- fast path ------------------------------------------------------------------
    def _assemble(self, fw: _Framework, probe_frac: NDArray[np.float64]):
        """Batched graph arrays (edges sorted by source node) for ``m`` probe positions."""
        m = len(probe_frac)
        n = fw.n_atoms + 1  # nodes per graph, probe last
        probe = fw.n_atoms
        pt, at, img = _probe_pairs(fw, probe_frac)
        e0 = len(fw.fw_src)
        ns = len(fw.self_img)
        base = np.arange(m, dtype=np.int64) * n
        # framework-framework edges, one copy per graph
        src = [(base[:, None] + fw.fw_src[None, :]).ravel()]
        dst = [(base[:, None] + fw.fw_dst[None, :]).ravel()]
        imgs = [np.broadcast_to(fw.fw_img, (m, e0, 3)).reshape(-1, 3)]
        # probe -> atom and atom -> probe
        src += [base[pt] + probe, base[pt] + at]
        dst += [base[pt] + at, base[pt] + probe]
        imgs += [img, -img]
        if ns:
            src.append(np.repeat(base + probe, ns))
            dst.append(np.repeat(base + probe, ns))
            imgs.append(np.broadcast_to(fw.self_img, (m, ns, 3)).reshape(-1, 3))
        src_a = np.concatenate(src)
        dst_a = np.concatenate(dst)
        img_a = np.concatenate(imgs)
        order = np.argsort(src_a, kind="stable")
        frac = np.empty((m, n, 3), dtype=np.float64)
        frac[:, : fw.n_atoms] = fw.frac[None]
        frac[:, probe] = probe_frac
        return src_a[order], dst_a[order], img_a[order], frac.reshape(-1, 3), m, n

    def _batch_fast(self, fw: _Framework, probe_frac: NDArray[np.float64]) -> NDArray[np.float64]:
        import matgl
        import torch
        from torch_geometric.data import Batch

        src, dst, img, frac, m, n = self._assemble(fw, probe_frac)
        dev = torch.device(self.device)
        fdt = self.potential.data_mean.dtype
        with torch.inference_mode():
            edge_index = torch.as_tensor(np.stack([src, dst]), dtype=torch.long, device=dev)
            g = Batch(
                edge_index=edge_index,
                node_type=torch.as_tensor(np.tile(fw.node_type, m), dtype=torch.long, device=dev),
                frac_coords=torch.as_tensor(frac, dtype=matgl.float_th, device=dev),
                pbc_offset=torch.as_tensor(img, dtype=matgl.float_th, device=dev),
                batch=torch.arange(m, device=dev).repeat_interleave(n),
                ptr=torch.arange(0, (m + 1) * n, n, device=dev),
                num_nodes=m * n,
            )
            g._num_graphs = m
            lat = torch.as_tensor(fw.lattice, dtype=matgl.float_th, device=dev)[None].expand(m, 3, 3).contiguous()
            l_g = self._line_graph(g, lat, fdt)
            try:
                e = self.potential(g, lat, l_g=l_g)[0]
            except ValueError as exc:  # three-body topology check failed: let matgl rebuild it
                if not self._warned_fallback:
                    logger.warning("cached three-body graph rejected by matgl (%s); letting matgl rebuild it", exc)
                    self._warned_fallback = True
                e = self.potential(g, lat)[0]
            return e.detach().to("cpu", torch.float64).numpy().reshape(m)

    def _line_graph(self, g: Any, lat: Any, fdt: Any) -> dict:
        """M3GNet three-body line graph (parent-bond ids), built vectorised.

        The bond lengths are computed with exactly the operations of
        ``Potential.forward`` / ``M3GNet.forward`` so that the set of bonds within
        the three-body cutoff is bit-identical to the one matgl checks against.
        """
        import torch

        lat = lat.to(fdt)
        pbc_offset = g.pbc_offset.to(fdt)
        frac = g.frac_coords.to(fdt)
        m = lat.shape[0]
        eye = torch.eye(3, dtype=fdt, device=lat.device)
        lattice = lat @ (eye + lat.new_zeros([m, 3, 3]))
        src = g.edge_index[0].to(torch.long)
        dst = g.edge_index[1].to(torch.long)
        edge_lat = lattice[g.batch[g.edge_index[0]]]
        offshift = (pbc_offset.unsqueeze(dim=-1) * edge_lat).sum(dim=1)
        pos = (frac.unsqueeze(-1) * lattice[g.batch]).sum(dim=1)
        bond_vec = pos[dst] + offshift - pos[src]
        bond_dist = torch.norm(bond_vec, dim=1)
        return _three_body_indices(src, bond_dist, self.threebody_cutoff, int(pos.shape[0]))

    # -- reference / generic path ---------------------------------------------------------
    def _batch_converter(self, framework: Any, ion: str, probe_frac: NDArray[np.float64]) -> NDArray[np.float64]:
        import torch
        from matgl.ext.pymatgen import Structure2Graph
        from torch_geometric.data import Batch

        conv = Structure2Graph(element_types=self.element_types, cutoff=self.cutoff)
        graphs, lats, states = [], [], []
        for p in probe_frac:
            s = framework.copy()
            s.append(ion, p, coords_are_cartesian=False)
            g, lat, state = conv.get_graph(s)
            graphs.append(g)
            lats.append(lat)
            states.append(state)
        dev = torch.device(self.device)
        with torch.inference_mode():
            bg = Batch.from_data_list(graphs).to(dev)
            lat = torch.cat(lats).to(dev)
            state = None
            if getattr(self.potential.model, "include_state", False):
                state = torch.as_tensor(np.stack(states), device=dev)
            e = self.potential(bg, lat, state)[0]
            return e.detach().to("cpu", torch.float64).numpy().reshape(len(probe_frac))


def _three_body_indices(src: Any, bond_dist: Any, cutoff: float, num_nodes: int) -> dict:
    """Pairs of distinct bonds sharing a source atom, both within ``cutoff``.

    ``src`` must be sorted ascending.  Same content as
    ``matgl.graph._compute.create_line_graph`` (indices are parent-bond ids).
    """
    import torch

    dev = src.device
    num_bonds = int(src.shape[0])
    kept = torch.nonzero(bond_dist <= cutoff, as_tuple=False).squeeze(1)
    ksrc = src[kept]
    nk = int(kept.shape[0])
    n_b = torch.bincount(ksrc, minlength=num_nodes)
    first = torch.cumsum(n_b, 0) - n_b  # first kept-bond position of each atom
    n_tr = (n_b[ksrc] - 1).clamp(min=0)
    total = int(n_tr.sum().item())
    n_triple_ij = torch.zeros(num_bonds, dtype=torch.long, device=dev)
    n_triple_ij[kept] = n_tr
    if total == 0:
        line = torch.zeros((2, 0), dtype=torch.long, device=dev)
    else:
        ar = torch.arange(nk, device=dev)
        ij = torch.repeat_interleave(ar, n_tr)
        start = torch.cumsum(n_tr, 0) - n_tr
        j = torch.arange(total, device=dev) - start[ij]
        local = ar - first[ksrc]
        j = j + (j >= local[ij]).to(torch.long)
        ik = first[ksrc[ij]] + j
        line = torch.stack([kept[ij], kept[ik]])
    return {"kept_edge_ids": kept, "line_edge_index": line, "n_triple_ij": n_triple_ij}


#: Alias: the default matgl model is an M3GNet.
M3GNetPotential = MatglPotential
