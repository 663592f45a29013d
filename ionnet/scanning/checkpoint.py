"""Checkpoints of a scan: the evaluated nodes of every map, written atomically, keyed by the scan's settings."""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..errors import ScanError
from ..settings import ScanSettings

if TYPE_CHECKING:
    from pymatgen.core import Structure

__all__ = ["CHECKPOINT_EVERY_S", "FORMAT", "Checkpoint", "checkpoint_key"]

logger = logging.getLogger(__name__)

#: Seconds between periodic checkpoint writes (also written on any interruption).
CHECKPOINT_EVERY_S = 10.0
#: Version of the checkpoint layout (part of the key).
FORMAT = 1


def _fingerprint(structure: Structure) -> str:
    rows = [np.round(np.asarray(structure.lattice.matrix), 6).tolist()]
    for site in structure:
        rows.append([sorted((str(k), round(float(v), 4)) for k, v in site.species.items()),
                     np.round(np.asarray(site.frac_coords) % 1.0, 6).tolist()])
    return json.dumps(rows)


def checkpoint_key(structure: Structure, settings: ScanSettings, model_name: str, **constants: float) -> str:
    """SHA-256 of the structure and of every setting that changes the result.

    ``constants`` (symmetry tolerance, exclusion factor...) are hashed too, so
    a checkpoint of another ionnet configuration is not reused.
    """
    model_arg = settings.model if isinstance(settings.model, str) else type(settings.model).__name__
    src = {
        **settings.key(), "ceiling": settings.ceiling, "structure": _fingerprint(structure), "ion": settings.ion,
        "model": model_name, "model_arg": model_arg, "format": FORMAT, **constants,
    }
    return hashlib.sha256(json.dumps(src, sort_keys=True, default=str).encode()).hexdigest()


class Checkpoint:
    """Evaluated nodes of each map, written atomically (``np.savez`` + ``os.replace``).

    Parameters
    ----------
    path : path or None
        None disables checkpointing (every method is then a no-op).
    key : str
        :func:`checkpoint_key` of the scan; a file with another key is refused.

    Raises
    ------
    ScanError
        The file belongs to another scan or cannot be read.
    """

    def __init__(self, path: str | os.PathLike | None, key: str):
        self.path = None if path is None else os.fspath(path)
        self.key = key
        self.maps: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
        self.structure_json = ""
        self.prepare_info = ""
        self._last = time.monotonic()
        if self.path and os.path.exists(self.path):
            self._read()

    def _read(self) -> None:
        try:
            with np.load(self.path, allow_pickle=False) as z:
                if str(z["key"]) != self.key:
                    raise ScanError(
                        f"checkpoint {self.path} belongs to a different scan (other structure or arguments); "
                        "delete it or pass another `checkpoint` path"
                    )
                self.structure_json = str(z["structure"])
                self.prepare_info = str(z["prepare_info"])
                for text in (self.structure_json, self.prepare_info):  # damaged JSON fails here, named
                    if text and not isinstance(json.loads(text), (dict, list)):
                        raise ValueError("its records are not JSON objects")
                for name in z.files:
                    if name.startswith("idx_"):
                        j = int(name[4:])
                        idx, e = z[name].astype(np.int64), z[f"e_{j}"].astype(np.float64)
                        if idx.ndim != 1 or e.shape != idx.shape or j < 0:
                            raise ValueError(f"map {j}: {idx.size} indices but {e.size} energies")
                        self.maps[j] = (idx, e)
        except ScanError:
            raise
        except Exception as e:  # noqa: BLE001 - any unreadable file
            from ..io.files import one_line

            raise ScanError(f"cannot read checkpoint {one_line(self.path)} ({one_line(e, 120)}); "
                            "delete it to start afresh") from None
        logger.info("resuming from %s (%d evaluated nodes)", self.path, sum(len(v[0]) for v in self.maps.values()))

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def resumed(self, j: int, n_orbits: int) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Orbit indices and energies of map ``j`` saved earlier (empty when none).

        Raises
        ------
        ScanError
            The saved indices do not fit a grid of ``n_orbits`` orbits.
        """
        idx, e = self.maps.get(j, (np.zeros(0, np.int64), np.zeros(0)))
        if idx.size and (idx.max() >= n_orbits or idx.min() < 0 or np.unique(idx).size != idx.size):
            raise ScanError(f"checkpoint {self.path} does not match this grid; delete it to start afresh")
        return idx, e

    def begin(self, structure_json: str, prepare_info: str) -> None:
        """Write the prepared structure and its records, once (a resumed scan has them already)."""
        if self.enabled and not self.structure_json:
            self.structure_json, self.prepare_info = structure_json, prepare_info
            self.write()

    def update(self, j: int, known: NDArray[np.bool_], energies: NDArray[np.float64], *, force: bool = False) -> None:
        """Record the evaluated orbits of map ``j``; write when forced or every :data:`CHECKPOINT_EVERY_S`."""
        if not self.enabled:
            return
        idx = np.flatnonzero(known)
        self.maps[j] = (idx, energies[idx])
        if force or time.monotonic() - self._last >= CHECKPOINT_EVERY_S:
            self.write()

    def write(self) -> None:
        """Write every map (atomically: a temporary file, then ``os.replace``)."""
        if not self.enabled:
            return
        arrays: dict[str, NDArray] = {
            "key": np.array(self.key),
            "format": np.array(FORMAT),
            "structure": np.array(self.structure_json),
            "prepare_info": np.array(self.prepare_info),
        }
        for j, (idx, e) in self.maps.items():
            arrays[f"idx_{j}"] = idx
            arrays[f"e_{j}"] = e
        from ..io.files import atomic_path

        with atomic_path(self.path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
        self._last = time.monotonic()
