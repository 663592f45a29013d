"""matgl back end (M3GNet) with a batched, energy-only probe evaluation.

The naive way to scan a probe ion builds one structure per position and calls
matgl's ASE calculator, which also computes forces and stresses by autograd.
:class:`MatglPotential` instead builds the graphs of many probe positions,
batches them and runs one energy-only forward pass per batch under
``torch.inference_mode()``.

**Which M3GNet.**  The M3GNet PES weights in circulation
(``M3GNet-MP-2021.2.8-PES``, ``M3GNet-MatPES-PBE-v2025.1-PES``) were trained
with matgl 1.x, whose M3GNet was written with DGL.  matgl >= 2 (PyTorch
Geometric) changed the message-passing conventions, and running these weights
through its ``M3GNet.forward`` gives wrong energies for every compound
(NaCl -1.30 instead of -3.37 eV/atom, LiFePO4 -2.12 instead of -6.81 eV/atom;
elemental crystals are unaffected).  For M3GNet models the fast path therefore
runs :class:`ionnet.potentials._m3gnet_torch.LegacyM3GNet`, the matgl 1.x
forward written in plain torch on matgl's own layers, on graphs built exactly as
matgl 1.x builds them (pymatgen ``find_points_in_spheres`` on framework + probe,
about 0.1 ms per position).  Its energies equal matgl 1.1.3 + DGL's
``PESCalculator`` to float32 round-off (<= 1e-4 eV, see
``tests/data/m3gnet_reference.json``).  :class:`M3GNetASECalculator` gives the
same energies, with forces and stress by autograd, for loops over ASE ``Atoms``
and for relaxations.  torch, matgl and pymatgen are imported lazily.
"""
from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError, ModelError
from ._common import BasePotential, framework_elements, iter_batches
from ._m3gnet_cpu import (  # noqa: F401  (re-exported: the thread and memory helpers live there)
    _available_memory_bytes,
    _cpu_times,
    _idle_cores,
    _LoadMeter,
    _set_threads,
    _torch_threads,
)
from ._m3gnet_inputs import _Framework, _framework_key, _graph_batch, _matgl1_edges  # noqa: F401  (re-exported)

__all__ = [
    "MatglPotential",
    "M3GNetPotential",
    "M3GNetASECalculator",
    "DEFAULT_M3GNET",
    "M3GNET_ENV_VAR",
    "resolve_m3gnet_path",
]

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
# Bonds per forward pass for the first batch size tried (CPU: measured on LiFePO4, 1 000 bonds per
# graph; larger passes are slower per node once the bond features leave the caches).
_EDGE_BUDGET = {"cpu": 16_000, "cuda": 1_000_000}
# Bytes per bond and per triple of one forward pass (float32 features and index lists, measured with
# tracemalloc-free accounting of the tensors the forward keeps alive at once), for the memory cap.
_BYTES_PER_BOND = 3_000
_BYTES_PER_TRIPLE = 200
# Fraction of the available memory one forward pass may use.
_MEMORY_FRACTION = 0.25


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


def _pes_model(path: str | os.PathLike | None, potential: Any, name: str | None) -> tuple[Any, str]:
    """The matgl PES model (loaded from ``path``, or a copy of ``potential``) with force, stress,
    Hessian and debug output off, and its label for the potential's name."""
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
    return pot, label


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
        Default number of probe positions per forward pass.  ``None``: chosen
        per framework from memory and measured throughput (see Notes).
    threads : int, optional
        Torch CPU threads during :meth:`energies` (restored afterwards).  ``None``:
        the cores this process may use that other processes leave idle, at least 1.
    method : {"auto", "fast", "converter"}, default "auto"
        ``"fast"``: batched matgl 1.x (DGL) M3GNet forward of
        :class:`~ionnet.potentials._m3gnet_torch.LegacyM3GNet` (M3GNet only; the
        convention all published M3GNet weights were trained with).
        ``"converter"``: matgl's own ``Structure2Graph`` and ``Potential.forward``,
        batched; works for any matgl PES model, but for M3GNet it is matgl >= 2's
        convention, right only for weights trained with matgl >= 2.  ``"auto"``
        uses ``"fast"`` whenever the model is a plain M3GNet.
    dtype : {"float32", "float64"}, default "float32"
        Precision of the model.  The reference energies are float32 (as trained);
        "float64" removes round-off.
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
    method : str
        ``"fast"`` or ``"converter"``, the path in use.

    Raises
    ------
    BackendUnavailableError
        matgl missing, or no weights (message lists the alternatives).

    Notes
    -----
    **Batch size.**  Without ``batch_size``, the first pass holds about 16 000
    bonds on CPU (1e6 on CUDA), capped so that one pass stays under a quarter of
    the available memory; on CPU the next passes try half and twice that size
    and the fastest per position is kept for the rest of the framework's
    positions (more positions per pass are *slower* on a CPU once the bond
    features leave the caches).  Batching does not change any energy.

    **Threads.**  Two threads on a machine whose cores are already busy run
    several times slower than one (OpenMP threads wait for each other), so the
    default uses only the cores other processes leave idle: measured over 50 ms
    from /proc/stat when a call starts (at most every 30 s), then every 2 s during
    the call from the machine's busy time minus this process's own CPU time
    (:class:`_LoadMeter`), so a long scan follows the machine's load.

    The fast path is exact, not an approximation: each probe position gets the
    graph matgl 1.x builds for the structure framework + probe (probe appended
    last, its fractional coordinates wrapped into [0, 1)), and each graph of a
    batch is evaluated as matgl 1.x evaluates a single structure.  Energies equal
    matgl 1.1.3's ``PESCalculator`` to float32 round-off (<= 1e-4 eV) and do not
    depend on ``batch_size``.

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
        threads: int | None = None,
    ) -> None:
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise ModelError(f"`threads` must be a positive integer or None (got {threads!r})")
        self.threads = None if threads is None else int(threads)
        if method not in ("auto", "fast", "converter"):
            raise ModelError(f"`method` must be 'auto', 'fast' or 'converter' (got {method!r})")
        if dtype not in ("float32", "float64"):
            raise ModelError(f"`dtype` must be 'float32' or 'float64' (got {dtype!r})")
        try:
            import torch  # noqa: F401
            import matgl
        except ImportError as e:
            raise BackendUnavailableError("matgl/torch are not installed: pip install 'ionnet[matgl]', or use model='bvse'") from e
        pot, label = _pes_model(path, potential, name)
        self.device = str(device)
        pot = pot.to(self.device)
        if dtype == "float64":
            pot = pot.double()
        self.dtype = dtype
        self.potential = pot.eval().requires_grad_(False)  # inference only (the ASE calculator differentiates inputs)
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
            and not getattr(self.potential, "calc_repuls", False)
            and not getattr(model, "is_intensive", False)
        )
        if method == "fast" and not fast_ok:
            raise ModelError(f"method='fast' needs a plain M3GNet model (got {type(model).__name__}); use method='converter'")
        self.method = ("fast" if fast_ok else "converter") if method == "auto" else method
        self._net = None
        if self.method == "fast":
            from ._m3gnet_torch import LegacyM3GNet

            self._net = LegacyM3GNet(self.potential)
        elif self.is_m3gnet:
            logger.warning(
                "method='converter' runs matgl %s's own M3GNet forward, whose conventions differ from the "
                "matgl 1.x (DGL) ones the published M3GNet weights were trained with: energies of compounds "
                "are wrong for those weights; use method='fast'", getattr(matgl, "__version__", "?"),
            )
        self.default_batch_size = batch_size
        prefix = "m3gnet" if self.is_m3gnet else "matgl"
        self.name = name or f"{prefix}:{label}"
        self._fw: _Framework | None = None

    # -- protocol -----------------------------------------------------------------
    def _unknown_elements(self, elements: list[str]) -> list[str]:
        known = set(self.element_types)
        return [e for e in elements if e not in known]

    def _supports_hint(self) -> str:
        return "try model='chgnet' or model='bvse'"

    def _pick_batch_size(self, fw: _Framework, batch_size: int | None) -> int:
        """Batch size: explicit, default, the one measured fastest for ``fw``, or from the bond budget."""
        if batch_size is not None:
            return batch_size
        if self.default_batch_size is not None:
            return int(self.default_batch_size)
        if fw.tuned is not None:
            return fw.tuned
        if fw.n_edges is None:
            fw.n_edges = len(_matgl1_edges(np.vstack([fw.cart, fw.cart[:1]]), fw.lattice, self.cutoff)[0])
        edges = max(fw.n_edges, 1)
        budget = _EDGE_BUDGET["cuda" if self.device.startswith("cuda") else "cpu"]
        size = int(np.clip(budget // edges, 1, 4096))
        # memory cap: bonds and triples (~ (bonds per atom)^2 per atom) of one pass
        per_atom = edges / (fw.n_atoms + 1)
        per_graph = edges * _BYTES_PER_BOND + (fw.n_atoms + 1) * per_atom ** 2 * _BYTES_PER_TRIPLE
        avail = _available_memory_bytes()
        if avail is not None:
            size = max(1, min(size, int(_MEMORY_FRACTION * avail // per_graph)))
        return size

    def _energies(self, framework, ion, frac_coords, *, batch_size, progress):
        import time

        from tqdm.auto import tqdm

        fw = self._prepare(framework, ion)
        bs = self._pick_batch_size(fw, batch_size)
        # on CPU, with no size given: time bs/2, bs and 2 bs on the first passes, keep the fastest
        tune = (
            batch_size is None and self.default_batch_size is None and fw.tuned is None
            and self.method == "fast" and not self.device.startswith("cuda") and len(frac_coords) >= 8 * bs
        )
        trials = [max(1, bs // 2), bs, 2 * bs] if tune else []
        speed: dict[int, float] = {}
        out = np.empty(len(frac_coords), dtype=np.float64)
        n_threads = self._thread_count()
        meter = _LoadMeter(n_threads) if n_threads is not None and self.threads is None else None
        with _torch_threads(n_threads), tqdm(
            total=len(frac_coords), disable=not progress, desc=self.name, unit="pt"
        ) as bar:
            start = 0
            warm = tune  # the first pass pays one-off costs; not timed
            while start < len(frac_coords):
                if meter is not None:
                    _set_threads(meter.threads())
                size = trials[0] if trials and not warm else bs
                sl = slice(start, min(start + size, len(frac_coords)))
                t = time.perf_counter()
                if self.method == "fast":
                    out[sl] = self._batch_fast(fw, frac_coords[sl])
                else:
                    out[sl] = self._batch_converter(framework, ion, frac_coords[sl])
                if trials and not warm and sl.stop - sl.start == size:
                    speed[size] = (time.perf_counter() - t) / size
                    trials.pop(0)
                    if not trials:
                        bs = fw.tuned = min(speed, key=speed.get)
                        logger.debug("m3gnet batch size %d (s per position: %s)", bs, speed)
                warm = False
                bar.update(sl.stop - sl.start)
                start = sl.stop
        return out

    def _thread_count(self) -> int | None:
        if self.device.startswith("cuda"):
            return None
        return self.threads if self.threads is not None else _idle_cores()

    # -- framework preprocessing --------------------------------------------------------
    def _prepare(self, framework: Any, ion: str) -> _Framework:
        key = _framework_key(framework, ion)
        if self._fw is not None and self._fw.key == key:
            return self._fw
        lattice = np.array(framework.lattice.matrix, dtype=np.float64)
        frac = np.array(framework.frac_coords, dtype=np.float64)
        index = {e: i for i, e in enumerate(self.element_types)}
        node_type = np.array([index[e] for e in framework_elements(framework)] + [index[ion]], dtype=np.int64)
        self._fw = _Framework(
            key=key, lattice=lattice, frac=frac, cart=np.dot(frac, lattice), node_type=node_type, cutoff=self.cutoff
        )
        return self._fw

    # -- fast path ------------------------------------------------------------------
    def _batch_fast(self, fw: _Framework, probe_frac: NDArray[np.float64]) -> NDArray[np.float64]:
        import torch

        with torch.inference_mode():
            e = self._net.energy(*self._graph_inputs(fw, probe_frac))
            return e.detach().to("cpu", torch.float64).numpy().reshape(len(probe_frac))

    def _graph_inputs(self, fw: _Framework, probe_frac: NDArray[np.float64]) -> tuple:
        """Everything the forward needs for one batch: ``(bond_vec, bond_dist, batch, triples)``.

        Framework bonds come from the framework's cached :class:`FrameworkGraph`;
        positions and bond vectors are computed as matgl 1.x does (float32).
        """
        import torch

        from ._m3gnet_graph import FrameworkGraph, framework_triple_rows, triples
        from ._m3gnet_torch import GraphBatch, positions_and_shifts

        if fw.graph is None:
            fw.graph = FrameworkGraph(fw.cart, fw.lattice, self.cutoff)
        probe = probe_frac - np.floor(probe_frac)  # wrap into [0, 1): results are translation invariant
        nb = len(probe)
        n1 = fw.n_atoms + 1
        src, dst, img, fw_bond, first = fw.graph.bonds(probe)
        frac = np.empty((nb, n1, 3))
        frac[:, :-1] = fw.frac
        frac[:, -1] = probe
        dev = torch.device(self.device)
        dtype = self.potential.data_mean.dtype
        with torch.inference_mode():
            batch = GraphBatch(
                node_type=torch.as_tensor(np.tile(fw.node_type, nb), device=dev),
                edge_index=torch.as_tensor(np.stack([src, dst]), device=dev),
                node_graph=torch.arange(nb, device=dev).repeat_interleave(n1),
                edge_graph=torch.as_tensor(np.repeat(np.arange(nb), np.diff(first)), device=dev),
                num_graphs=nb,
            )
            lat = torch.as_tensor(fw.lattice, dtype=dtype, device=dev).expand(nb, 3, 3)
            pos, shift = positions_and_shifts(
                torch.as_tensor(frac.reshape(-1, 3), dtype=dtype, device=dev),
                torch.as_tensor(img, dtype=dtype, device=dev), lat, batch,
            )
            bond_vec, bond_dist = self._net.geometry(pos, shift, batch)
            keep = (bond_dist <= self.threebody_cutoff).cpu().numpy()
            ka, kb, ia, ib, target = triples(src, first, keep)
            tri = tuple(torch.as_tensor(t, device=dev) for t in (ka, kb, ia, ib, target))
            # triples of two framework bonds: basis from the framework's table
            if fw.basis is None:
                fw.basis = self._framework_basis(fw)
            table, local, offset, size = fw.basis
            rows = framework_triple_rows(ka, kb, fw_bond, fw.graph.fw_center, local, offset, size)
            tri = tri + ((table, rows, np.flatnonzero(rows < 0)),)
        return bond_vec, bond_dist, batch, tri

    def _framework_basis(self, fw: _Framework) -> tuple:
        """Three-body basis of every ordered pair of short framework bonds with the same centre.

        Returns ``(table, local, offset, size)``: the basis of bonds ``p``, ``q`` of
        centre ``c`` (framework-bond ids) is ``table[offset[c] + local[p] * size[c] + local[q]]``;
        ``local`` is -1 for bonds longer than the three-body cutoff.  The geometry is
        computed as in the forward (float32), so the rows equal what the forward would compute.
        """
        import torch

        from ._m3gnet_torch import GraphBatch, positions_and_shifts

        g = fw.graph
        n = fw.n_atoms
        dev = torch.device(self.device)
        dtype = self.potential.data_mean.dtype
        with torch.inference_mode():
            one = GraphBatch(
                node_type=torch.as_tensor(fw.node_type[:n], device=dev),
                edge_index=torch.as_tensor(np.stack([g.fw_center, g.fw_atom]), device=dev),
                node_graph=torch.zeros(n, dtype=torch.long, device=dev),
                edge_graph=torch.zeros(len(g.fw_center), dtype=torch.long, device=dev),
                num_graphs=1,
            )
            lat = torch.as_tensor(fw.lattice, dtype=dtype, device=dev)[None]
            pos, shift = positions_and_shifts(
                torch.as_tensor(fw.frac, dtype=dtype, device=dev), torch.as_tensor(g.fw_img, dtype=dtype, device=dev),
                lat, one,
            )
            vec, dist = self._net.geometry(pos, shift, one)
            kept = (dist <= self.threebody_cutoff).cpu().numpy()
            local = np.full(len(kept), -1, dtype=np.int64)
            size = np.zeros(n, dtype=np.int64)
            members = []
            for c in range(n):
                ids = np.flatnonzero(kept[g.cstart[c]:g.cstart[c + 1]]) + g.cstart[c]
                local[ids] = np.arange(len(ids))
                size[c] = len(ids)
                members.append(ids)
            offset = np.concatenate([[0], np.cumsum(size ** 2)[:-1]]).astype(np.int64)
            pa = np.concatenate([np.repeat(m, len(m)) for m in members]) if members else np.zeros(0, np.int64)
            pb = np.concatenate([np.tile(m, len(m)) for m in members]) if members else np.zeros(0, np.int64)
            table = self._net.triple_basis(vec, dist, torch.as_tensor(pa, device=dev), torch.as_tensor(pb, device=dev))
        return table, local, offset, size

    def ase_calculator(self) -> Any:
        """An ASE calculator with this model's energies, plus forces and stress.

        For the fast path this is :class:`M3GNetASECalculator` (matgl 1.x
        conventions, sharing this model); for the converter path matgl's own
        ``PESCalculator``.
        """
        if self._net is not None:
            return __getattr__("M3GNetASECalculator")(self)
        import copy

        from matgl.ext.ase import PESCalculator

        pot = copy.copy(self.potential)
        pot.calc_forces, pot.calc_stresses = True, True
        return PESCalculator(pot)

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


_LAZY: dict[str, type] = {}


def __getattr__(name: str) -> Any:
    """``M3GNetASECalculator`` is created on first access so that importing this module does not import ASE."""
    if name == "M3GNetASECalculator":
        if name not in _LAZY:
            from ._m3gnet_ase import _ase_calculator_class

            _LAZY[name] = _ase_calculator_class()
        return _LAZY[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: Alias: the default matgl model is an M3GNet.
M3GNetPotential = MatglPotential
