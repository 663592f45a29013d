"""The ion's path through the grid (site -> saddle -> site ...), resampled to NEB images, and its output.

:class:`IonPath` writes a VASP NEB folder (:meth:`IonPath.write_neb`), an ASE
trajectory or pymatgen structures; pymatgen and ASE are imported only there.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ..analysis import SiteGraph
from ..errors import ExportError, TransportError
from .basins import _Basins

__all__ = ["IonPath"]


@dataclass(frozen=True, eq=False)
class IonPath:
    """A path of the mobile ion through the grid, resampled to NEB images.

    Attributes
    ----------
    frac_coords : (N, 3) ndarray, fractional
        Image positions, unwrapped (the path is continuous; coordinates may
        leave [0, 1)).  ``N = n_images + 2`` (both end points included).
    energies : (N,) ndarray, eV
        Grid energy at each image (linear along the grid path), relative to ``e_min``.
    arc_length : (N,) ndarray, Å
        Distance along the path.
    sites : list of int
        Site-graph sites visited, in order.
    saddle_energies : (H,) ndarray, eV
        Saddle energy of each hop (relative).
    image : (3,) ndarray of int
        Cell of the end point relative to the start (the winding vector of a
        percolation path).
    path_frac, path_energies, path_arc : ndarrays
        The full grid path (one row per grid node), before resampling.
    lattice : (3, 3) ndarray, Å
    e_min : float, eV
        Absolute energy of the analysis reference.
    structure : pymatgen Structure or None
        The frozen framework the ion moves in.
    ion : str
    """

    frac_coords: NDArray[np.float64]
    energies: NDArray[np.float64]
    arc_length: NDArray[np.float64]
    sites: list
    saddle_energies: NDArray[np.float64]
    image: NDArray[np.int64]
    path_frac: NDArray[np.float64]
    path_energies: NDArray[np.float64]
    path_arc: NDArray[np.float64]
    lattice: NDArray[np.float64]
    e_min: float
    structure: Any = None
    ion: str = "Li"

    @property
    def cart_coords(self) -> NDArray[np.float64]:
        """(N, 3) ndarray, Å."""
        return self.frac_coords @ self.lattice

    @property
    def n_images(self) -> int:
        """Intermediate images (VASP ``IMAGES``)."""
        return len(self.energies) - 2

    @property
    def barrier(self) -> float:
        """Highest energy along the grid path minus the start's (eV)."""
        return float(self.path_energies.max() - self.path_energies[0])

    def to_structures(self) -> list:
        """pymatgen Structures, framework + the ion at each image (unwrapped fractional coordinates)."""
        if self.structure is None:
            raise ExportError("the grid has no framework structure; scan a structure (ionnet.scan) to get one")
        from pymatgen.core import Structure

        base = self.structure if isinstance(self.structure, Structure) else Structure.from_dict(self.structure)
        out = []
        for f in self.frac_coords:
            s = base.copy()
            s.append(self.ion, f, coords_are_cartesian=False, validate_proximity=False)
            out.append(s)
        return out

    def to_ase(self) -> list:
        """ASE Atoms of every image, each with a single-point energy (absolute grid energy, eV)."""
        from ase.calculators.singlepoint import SinglePointCalculator
        from pymatgen.io.ase import AseAtomsAdaptor

        atoms = []
        for s, e in zip(self.to_structures(), self.energies):
            a = AseAtomsAdaptor.get_atoms(s)
            a.calc = SinglePointCalculator(a, energy=float(e + self.e_min))
            atoms.append(a)
        return atoms

    def write_traj(self, path: str | os.PathLike) -> None:
        """Write the images as an ASE trajectory (``.traj``)."""
        from ase.io import write

        write(os.fspath(path), self.to_ase())

    def write_neb(self, folder: str | os.PathLike, *, force: bool = False) -> list[str]:
        """Write a VASP NEB folder: ``00/POSCAR`` … ``NN/POSCAR``, ``neb.traj`` and ``path.json``.

        Parameters
        ----------
        folder : path
            Created if missing.  An existing non-empty folder is refused unless ``force``.
        force : bool
            Overwrite the files of an existing folder.

        Returns
        -------
        list of str
            The files written.
        """
        from pymatgen.io.vasp.inputs import Poscar

        folder = os.fspath(folder)
        if os.path.exists(folder):
            if not os.path.isdir(folder):
                raise ExportError(f"{folder!r} exists and is not a folder")
            if os.listdir(folder) and not force:
                raise ExportError(f"{folder!r} exists and is not empty; pass force=True (CLI: --force) to overwrite")
        os.makedirs(folder, exist_ok=True)
        written = []
        width = max(2, len(str(len(self.energies) - 1)))
        for k, s in enumerate(self.to_structures()):
            d = os.path.join(folder, f"{k:0{width}d}")
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, "POSCAR")
            Poscar(s, comment=f"ionnet NEB image {k}: {self.ion} at E = {self.energies[k]:.4f} eV").write_file(p)
            written.append(p)
        traj = os.path.join(folder, "neb.traj")
        self.write_traj(traj)
        written.append(traj)
        js = os.path.join(folder, "path.json")
        with open(js, "w") as fh:
            json.dump(self.to_dict(), fh, indent=1)
        written.append(js)
        return written

    def to_dict(self) -> dict:
        return {
            "ion": self.ion,
            "n_images": self.n_images,
            "frac_coords": np.round(self.frac_coords, 6).tolist(),
            "cart_coords_ang": np.round(self.cart_coords, 5).tolist(),
            "energies_eV": np.round(self.energies, 6).tolist(),
            "arc_length_ang": np.round(self.arc_length, 5).tolist(),
            "sites": [int(s) for s in self.sites],
            "saddle_energies_eV": np.round(self.saddle_energies, 6).tolist(),
            "image": [int(x) for x in self.image],
            "barrier_eV": round(self.barrier, 6),
            "e_min_eV": self.e_min,
            "lattice_ang": self.lattice.tolist(),
        }

    def summary(self) -> str:
        length = self.path_arc[-1] if len(self.path_arc) else 0.0
        return (
            f"path through sites {self.sites} (end cell {self.image.tolist()}), {length:.2f} Å, "
            f"barrier {self.barrier:.4f} eV, {self.n_images} images"
        )


def _build_path(basins: _Basins, sites: SiteGraph, start: int, hops: list, n_images: int,
                ion: str) -> IonPath:
    from ..core.transport import basin_path

    if n_images < 1:
        raise TransportError(f"`n_images` must be >= 1 (got {n_images})")
    grid = basins.grid
    shape = np.asarray(basins.shape)
    e = basins.energies.ravel()
    frac_of = lambda nodes: np.stack(np.unravel_index(nodes, basins.shape), axis=1) / shape  # noqa: E731
    args = (basins.label, basins.img, basins.energies, basins.steps, basins.step_len, basins.site_nodes)
    offset = np.zeros(3, dtype=np.int64)
    pts = [frac_of(np.array([basins.site_nodes[start]]))]
    ens = [e[[basins.site_nodes[start]]]]
    visited = [int(start)]
    sad = []
    cur = int(start)
    for m, fwd in hops:
        i, j = (int(x) for x in sites.edges[m])
        a, b = (i, j) if fwd else (j, i)
        if a != cur:
            raise TransportError("internal: discontinuous hop sequence")
        nvec = sites.images[m] if fwd else -sites.images[m]
        x, y = basins.saddle_crossing(m, fwd)
        down_a = basin_path(x, *args)[::-1]  # a's minimum -> x
        down_b = basin_path(y, *args)  # y -> b's minimum
        pa = frac_of(down_a) + basins.img[down_a] + offset
        pb = frac_of(down_b) + basins.img[down_b] + offset + nvec
        pts += [pa[1:], pb]
        ens += [e[down_a[1:]], e[down_b]]
        offset = offset + nvec
        visited.append(b)
        sad.append(float(sites.saddle_energies[m]))
        cur = b
    pf = np.concatenate(pts)
    pe = np.concatenate(ens)
    keep = np.ones(len(pf), dtype=bool)
    keep[1:] = np.any(np.abs(np.diff(pf, axis=0)) > 1e-12, axis=1)
    pf, pe = pf[keep], pe[keep]
    seg = np.linalg.norm(np.diff(pf @ grid.lattice, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    # resample: images equally spaced on each side of the highest point, which is one of them
    n_pts = n_images + 2
    total = arc[-1]
    k_top = int(np.argmax(pe))
    s_top = arc[k_top]
    if 0 < k_top < len(pe) - 1 and total > 0:
        n1 = int(np.clip(round((n_pts - 1) * s_top / total), 1, n_pts - 2))
        s = np.concatenate([np.linspace(0, s_top, n1 + 1), np.linspace(s_top, total, n_pts - n1)[1:]])
    else:
        s = np.linspace(0, total, n_pts)
    fr = np.stack([np.interp(s, arc, pf[:, k]) for k in range(3)], axis=1)
    en = np.interp(s, arc, pe)
    return IonPath(
        frac_coords=fr, energies=en, arc_length=s, sites=visited, saddle_energies=np.asarray(sad),
        image=offset.astype(np.int64), path_frac=pf, path_energies=pe, path_arc=arc, lattice=grid.lattice,
        e_min=basins.e_min, structure=grid.structure, ion=ion,
    )

