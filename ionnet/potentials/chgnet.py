"""CHGNet back end: batched, energy-only prediction with the weights shipped in the chgnet wheel.

The graph of framework + probe is built from the framework's graph, found once per
framework (:mod:`ionnet.potentials._chgnet_graph`): the same graph, index for index,
as CHGNet's own ``CrystalGraphConverter``, at about 1/50 of its cost.
"""
from __future__ import annotations

import contextlib
import io
import logging
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..errors import BackendUnavailableError, ModelError
from ._common import BasePotential, iter_batches

__all__ = ["CHGNetPotential"]

logger = logging.getLogger(__name__)

_MAX_Z = 94  # CHGNet's atom embedding covers H..Pu


class CHGNetPotential(BasePotential):
    """CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) evaluated energy-only.

    Parameters
    ----------
    model_name : str, default "0.3.0"
        Pretrained checkpoint shipped with chgnet (``"0.3.0"``, ``"0.2.0"``, ``"r2scan"``).
    device : str, default "cpu"
        Torch device.
    batch_size : int, optional
        Default structures per forward pass (default 32 on CPU, 256 on CUDA).
    model : chgnet.model.CHGNet, optional
        An already-loaded model (then ``model_name`` is ignored).
    method : {"cached", "converter"}, default "cached"
        How the graphs are built.  ``"cached"``: the framework's bonds, their pairing
        into undirected bonds and their lengths are found once per framework; each
        position adds the probe's bonds and the bookkeeping runs in numba.
        ``"converter"``: CHGNet's ``CrystalGraphConverter`` on every structure.  Both
        give the same graphs, hence the same energies.
    threads : int, optional
        Torch CPU threads during :meth:`energies` (restored afterwards).  ``None``:
        the cores that other processes leave idle, at least 1 (as
        :class:`~ionnet.potentials.MatglPotential`).

    Attributes
    ----------
    name : str
        ``"chgnet:<version>"``, e.g. ``"chgnet:0.3.0"``.
    model : chgnet.model.CHGNet

    Raises
    ------
    BackendUnavailableError
        If chgnet is not installed or the checkpoint cannot be loaded.

    Notes
    -----
    CHGNet predicts eV/atom; :meth:`energies` returns the total energy
    (eV/atom times the number of atoms, probe included).  Probe positions are
    wrapped into [0, 1) (the energy is periodic).  The forward passes are batched
    and run under ``torch.inference_mode()`` without forces or stresses.  A position
    where CHGNet's converter would refuse the structure (an atom without neighbours
    within 6 Å) goes through the converter, which raises as it always did.
    """

    def __init__(
        self,
        model_name: str = "0.3.0",
        *,
        device: str = "cpu",
        batch_size: int | None = None,
        model: Any = None,
        method: str = "cached",
        threads: int | None = None,
    ) -> None:
        if threads is not None and (not isinstance(threads, (int, np.integer)) or threads < 1):
            raise ModelError(f"`threads` must be a positive integer or None (got {threads!r})")
        self.threads = None if threads is None else int(threads)
        if method not in ("cached", "converter"):
            raise ModelError(f"`method` must be 'cached' or 'converter' (got {method!r})")
        self.method = method
        self._fw: tuple | None = None  # (key, CHGNetFrameworkGraph) of the last framework
        if model is None:
            try:
                from chgnet.model import CHGNet
            except ImportError as e:
                raise BackendUnavailableError("chgnet is not installed: pip install 'ionnet[chgnet]', or use model='bvse'") from e
            buf = io.StringIO()
            try:
                with contextlib.redirect_stdout(buf):  # CHGNet prints on construction
                    model = CHGNet.load(model_name=model_name, use_device=device, verbose=False)
            except Exception as e:  # noqa: BLE001
                raise BackendUnavailableError(f"could not load CHGNet {model_name!r} ({e}); use model='m3gnet' or model='bvse'") from e
            logger.debug("chgnet: %s", buf.getvalue().strip())
        self.device = str(device)
        self.model = model.to(self.device).eval()
        version = getattr(self.model, "version", None) or model_name
        self.name = f"chgnet:{version}"
        self.default_batch_size = batch_size

    def _unknown_elements(self, elements: list[str]) -> list[str]:
        from pymatgen.core import Element

        bad = []
        for e in elements:
            try:
                z = Element(e).Z
            except (ValueError, KeyError):
                bad.append(e)
                continue
            if z > _MAX_Z:
                bad.append(e)
        return bad

    def _supports_hint(self) -> str:
        return f"CHGNet knows elements up to Z={_MAX_Z}"

    def _energies(self, framework: Any, ion: str, frac_coords: NDArray[np.float64], *, batch_size: int | None, progress: bool) -> NDArray[np.float64]:
        import torch
        from tqdm.auto import tqdm

        bs = batch_size or self.default_batch_size or (256 if self.device.startswith("cuda") else 32)
        n_atoms = len(framework) + 1
        frac_coords = frac_coords - np.floor(frac_coords)  # into [0, 1): the energy is periodic
        out = np.empty(len(frac_coords), dtype=np.float64)
        from .m3gnet import _idle_cores, _LoadMeter, _set_threads, _torch_threads

        threads = None if self.device.startswith("cuda") else (self.threads or _idle_cores())
        meter = _LoadMeter(threads) if threads is not None and self.threads is None else None
        with _torch_threads(threads), tqdm(total=len(frac_coords), disable=not progress, desc=self.name, unit="pt") as bar:
            for sl in iter_batches(len(frac_coords), bs):
                if meter is not None:
                    _set_threads(meter.threads())
                graphs = self.graphs(framework, ion, frac_coords[sl])
                with torch.inference_mode():
                    pred = self.model(graphs, task="e")
                e = pred["e"].detach().to("cpu", torch.float64).numpy().reshape(-1)
                out[sl] = e * n_atoms if self.model.is_intensive else e
                bar.update(sl.stop - sl.start)
        return out

    def ase_calculator(self) -> Any:
        """CHGNet's own ASE calculator sharing this model (energy, forces, stress); used by ``relax=True``."""
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=self.model, use_device=self.device)

    def graphs(self, framework: Any, ion: str, frac_coords: NDArray[np.float64]) -> list:
        """CHGNet ``CrystalGraph`` of ``framework`` + ``ion`` at each position, on :attr:`device`.

        Parameters
        ----------
        framework : pymatgen Structure
        ion : str
        frac_coords : (n, 3) ndarray, fractional
            Probe positions, in [0, 1) for ``method="cached"``.

        Returns
        -------
        list of n ``chgnet.graph.CrystalGraph``

        Raises
        ------
        ModelError
            If CHGNet's converter refuses a structure (e.g. an isolated atom).
        """
        graphs: list = [None] * len(frac_coords)
        if self.method == "cached":
            key = _framework_key(framework, ion)
            if self._fw is None or self._fw[0] != key:
                from ._chgnet_graph import CHGNetFrameworkGraph

                conv = self.model.graph_converter
                self._fw = (key, CHGNetFrameworkGraph(framework, ion, conv.atom_graph_cutoff, conv.bond_graph_cutoff))
            graphs, _ = self._fw[1].graphs(frac_coords)
        conv = self.model.graph_converter
        for i, p in enumerate(frac_coords):
            if graphs[i] is not None:
                continue
            s = framework.copy()
            s.append(ion, p, coords_are_cartesian=False)
            try:
                graphs[i] = conv(s)
            except Exception as e:  # noqa: BLE001 - e.g. isolated probe atom
                raise ModelError(f"CHGNet could not build a graph with {ion} at {np.round(p, 4).tolist()}: {e}") from e
        if self.device != "cpu":
            graphs = [g.to(self.device) for g in graphs]
        return graphs


def _framework_key(framework: Any, ion: str) -> tuple:
    return (
        ion,
        np.asarray(framework.lattice.matrix, dtype=np.float64).tobytes(),
        np.asarray(framework.frac_coords, dtype=np.float64).tobytes(),
        tuple(site.specie.symbol for site in framework),
    )
