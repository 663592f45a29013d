"""CHGNet back end: batched, energy-only prediction with the weights shipped in the chgnet wheel."""
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
    (eV/atom times the number of atoms, probe included).  Each position still
    goes through chgnet's own graph converter; the forward passes are batched
    and run under ``torch.inference_mode()`` without forces or stresses.
    """

    def __init__(
        self,
        model_name: str = "0.3.0",
        *,
        device: str = "cpu",
        batch_size: int | None = None,
        model: Any = None,
    ) -> None:
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
        conv = self.model.graph_converter
        n_atoms = len(framework) + 1
        out = np.empty(len(frac_coords), dtype=np.float64)
        with tqdm(total=len(frac_coords), disable=not progress, desc=self.name, unit="pt") as bar:
            for sl in iter_batches(len(frac_coords), bs):
                graphs = []
                for p in frac_coords[sl]:
                    s = framework.copy()
                    s.append(ion, p, coords_are_cartesian=False)
                    try:
                        graphs.append(conv(s).to(self.device))
                    except Exception as e:  # noqa: BLE001 - e.g. isolated probe atom
                        raise ModelError(f"CHGNet could not build a graph with {ion} at {np.round(p, 4).tolist()}: {e}") from e
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
