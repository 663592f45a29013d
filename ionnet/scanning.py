"""``ionnet.scan``: the energy landscape of a mobile ion in a frozen framework.

Put one probe ion on a regular grid spanning the cell, evaluate a potential at
every node and return :class:`~ionnet.grid.EnergyGrid` objects ready for
:func:`ionnet.analyze`.  Three exact levers keep the number of evaluations down:

* **symmetry** - nodes related by a space-group operation of the framework are
  evaluated once (orbits found with integer arithmetic on the grid);
* **exclusion** - nodes closer than ``min_distance`` to a framework atom are not
  evaluated (+inf), with a *frontier check*: every evaluated node within the
  ceiling (eV above the map's minimum) has all its 26 neighbours evaluated, so
  every percolation threshold and free volume below the ceiling is exactly that
  of a dense scan (``ceiling='auto'``: 3 eV, raised to the map's MPE up to 6 eV);
* **refine** (optional) - coarse grid first, full resolution only near the
  low-energy region (same frontier guarantee).

Batching and devices belong to the potential back end (``batch_size``,
``device`` are passed through).  See ``docs/scan.md``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
from numpy.typing import NDArray

from .errors import (
    BackendUnavailableError,
    GridError,
    IonnetError,
    ModelError,
    ResourceError,
    ScanError,
    StructureError,
)
from ._version import __version__
from .grid import EnergyGrid

__all__ = [
    "scan",
    "ScanError",
    "default_min_distance",
    "grid_shape",
    "order_structure",
    "SYMPREC",
    "EXCLUSION_FACTOR",
]

logger = logging.getLogger(__name__)

#: Symmetry tolerance (Å) for spglib / pymatgen.  Tight on purpose: node
#: energies are copied between symmetry-equivalent nodes, which is exact only
#: if the framework really has that symmetry.
SYMPREC = 1e-3
#: Default exclusion radius = EXCLUSION_FACTOR * (r_probe + r_atom), radii from pymatgen.
EXCLUSION_FACTOR = 0.6
#: Starting ``ceiling`` (eV above the grid minimum) of the frontier check with ``ceiling='auto'``.
DEFAULT_CEILING_EV = 3.0
#: ``ceiling='auto'`` raises the ceiling to the map's MPE (1D threshold), but not above this.
AUTO_CEILING_MAX_EV = 6.0
#: ... in steps of at most this many eV (when the current MPE is +inf or far above).
AUTO_CEILING_STEP_EV = 1.0
#: The frontier check counts every node within this of the minimum as a source.
FRONTIER_SOURCE_TOL_EV = 0.05
#: With ``refine=True`` a fine node is evaluated when a corner of its coarse cell is
#: below ``ceiling + REFINE_MARGIN_EV``.
REFINE_MARGIN_EV = 0.5
#: ``order=True`` refuses ordered approximants with more sites than this.
MAX_ORDER_SITES = 200
#: Largest translation denominator accepted for a grid-compatible symmetry operation.
MAX_DENOMINATOR = 24
#: Symmetry may grow the node count by at most this factor; beyond it the grid keeps
#: the requested shape and only the operations compatible with it are used.
MAX_SHAPE_GROWTH = 1.5
#: Points handed to the potential per call (checkpoint granularity).
CHUNK_POINTS = 512
#: Seconds between periodic checkpoint writes (also written on any interruption).
CHECKPOINT_EVERY_S = 10.0
#: Estimated bytes of working memory per grid node.
BYTES_PER_NODE = 120
_CHECKPOINT_FORMAT = 1


# ----------------------------------------------------------------------------- helpers
def _element(symbol: Any, what: str = "`ion`") -> str:
    from pymatgen.core import Element

    if not isinstance(symbol, str) or not symbol.strip():
        raise StructureError(f"{what} must be an element symbol such as 'Li' (got {symbol!r})")
    s = symbol.strip().rstrip("+-0123456789")  # accept 'Li+', 'Mg2+'
    try:
        return Element(s).symbol
    except ValueError:
        raise StructureError(f"{what} must be an element symbol such as 'Li' (got {symbol!r})") from None


def _site_elements(site) -> dict[str, float]:
    out: dict[str, float] = {}
    for sp, occ in site.species.items():
        sym = getattr(sp, "symbol", None) or getattr(getattr(sp, "element", None), "symbol", str(sp))
        out[sym] = out.get(sym, 0.0) + float(occ)
    return out


def _strip_oxidation(structure):
    s = structure.copy()
    try:
        s.remove_oxidation_states()
    except Exception:  # pragma: no cover - already plain elements
        pass
    return s


def _clean_occupancies(structure, tol: float = 1e-3):
    """Snap occupancies within ``tol`` of 1 to exactly 1 (CIF rounding)."""
    s = structure.copy()
    for i, site in enumerate(s):
        els = _site_elements(site)
        if len(els) == 1:
            (sym, occ), = els.items()
            if occ != 1.0 and abs(occ - 1.0) < tol:
                s.replace(i, sym, properties=site.properties)
    return s


def _formula(structure) -> str:
    try:
        return structure.composition.reduced_formula
    except Exception:  # pragma: no cover
        return str(structure.composition)


# ----------------------------------------------------------------------------- grid shape
def grid_shape(lattice: Any, spacing: float) -> tuple[int, int, int]:
    """Nodes along a, b, c for a target ``spacing`` (Å): ``ceil(|a_i| / spacing)``.

    Examples
    --------
    >>> grid_shape([[10.0, 0, 0], [0, 6.0, 0], [0, 0, 4.7]], 0.5)
    (20, 12, 10)
    """
    lat = np.asarray(lattice, dtype=np.float64)
    lengths = np.linalg.norm(lat, axis=1)
    return tuple(max(1, int(math.ceil(L / spacing - 1e-9))) for L in lengths)  # type: ignore[return-value]


@dataclass
class _Ops:
    """Space-group operations in the basis of the structure's cell."""

    rotations: NDArray[np.int64]  # (k, 3, 3)
    translations: list  # k lists of 3 Fractions
    n_dropped: int = 0
    spacegroup: str = "P1"
    deviation_ang: float = 0.0  # largest distance of an atom from its image's nearest equal atom


def _spglib_cell(structure):
    return (
        np.asarray(structure.lattice.matrix, dtype=np.float64),
        np.asarray(structure.frac_coords, dtype=np.float64),
        [site.specie.Z for site in structure],
    )


def _rational(x: float, tol: float = 2e-3) -> Fraction | None:
    x = float(x) % 1.0
    f = Fraction(x).limit_denominator(MAX_DENOMINATOR)
    if abs(float(f) - x) > tol:
        return None
    return f % 1


def _symmetry_ops(structure, symprec: float) -> tuple[_Ops, NDArray[np.float64] | None]:
    """spglib operations of ``structure`` with rational translations.

    Returns the operations and, when some translations are irrational in this
    origin (an arbitrary origin shift of the input), the fractional vector to
    add to every atom so the standard origin is used (None when not needed).
    """
    import spglib

    cell = _spglib_cell(structure)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's OLD_ERROR_HANDLING notice
        return _symmetry_ops_inner(spglib, structure, cell, symprec)


def _symmetry_ops_inner(spglib, structure, cell, symprec):
    sym = spglib.get_symmetry(cell, symprec=symprec)
    if sym is None:  # pragma: no cover - spglib failure
        return _Ops(np.eye(3, dtype=np.int64)[None], [[Fraction(0)] * 3]), None
    rots = np.asarray(sym["rotations"], dtype=np.int64)
    trans = np.asarray(sym["translations"], dtype=np.float64)
    fr = [[_rational(t) for t in tr] for tr in trans]
    bad = [any(f is None for f in row) for row in fr]
    shift = None
    if any(bad):
        ds = spglib.get_symmetry_dataset(cell, symprec=symprec)
        if ds is not None:
            P = np.asarray(ds.transformation_matrix, dtype=np.float64)
            p = np.asarray(ds.origin_shift, dtype=np.float64)
            shift = np.linalg.solve(P, p) % 1.0
    keep = [i for i, b in enumerate(bad) if not b]
    try:
        sg = spglib.get_spacegroup(cell, symprec=symprec) or "P1"
    except Exception:  # pragma: no cover
        sg = "?"
    ops = _Ops(rots[keep], [fr[i] for i in keep], n_dropped=int(sum(bad)), spacegroup=sg)
    ops.deviation_ang = _deviation(structure, ops)
    return ops, shift


def _deviation(structure, ops: _Ops) -> float:
    """Largest distance (Å) between an atom's image under an operation and the nearest equal atom."""
    f = np.asarray(structure.frac_coords, dtype=np.float64)
    lat = np.asarray(structure.lattice.matrix, dtype=np.float64)
    Z = np.asarray([site.specie.Z for site in structure])
    worst = 0.0
    for R, t in zip(ops.rotations, ops.translations):
        g = f @ R.T + np.asarray([float(x) for x in t])
        for z in np.unique(Z):
            a, b = g[Z == z], f[Z == z]
            d = (a[:, None, :] - b[None, :, :] + 0.5) % 1.0 - 0.5
            worst = max(worst, float(np.linalg.norm(d @ lat, axis=-1).min(axis=1).max()))
    return worst


def _constraints_ok(n: Sequence[int], R: NDArray[np.int64], t: list) -> bool:
    for r in range(3):
        if (t[r] * n[r]).denominator != 1:
            return False
        for s in range(3):
            if R[r, s] and (n[r] * int(R[r, s])) % n[s]:
                return False
    return True


def _compatible_shape(n0: Sequence[int], op_sets: Sequence[_Ops]) -> tuple[int, int, int]:
    """Smallest shape >= ``n0`` mapped onto itself by every operation in ``op_sets``."""
    n = [int(x) for x in n0]
    for _ in range(200):
        old = list(n)
        for ops in op_sets:
            for R, t in zip(ops.rotations, ops.translations):
                for r in range(3):
                    d = t[r].denominator
                    n[r] = -(-n[r] // d) * d
                    for s in range(3):
                        if r != s and R[r, s] and n[r] != n[s]:
                            n[r] = n[s] = max(n[r], n[s])
        if n == old:
            break
    return tuple(n)  # type: ignore[return-value]


def _compatible_ops(shape: Sequence[int], ops: _Ops) -> _Ops:
    """The operations that map the grid ``shape`` onto itself (always a subgroup)."""
    keep = [i for i, (R, t) in enumerate(zip(ops.rotations, ops.translations)) if _constraints_ok(shape, R, t)]
    return _Ops(
        ops.rotations[keep], [ops.translations[i] for i in keep], ops.n_dropped + len(ops.rotations) - len(keep),
        ops.spacegroup, ops.deviation_ang,
    )


def _integer_ops(shape: Sequence[int], ops: _Ops) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Each operation as ``i -> M @ i + T (mod n)`` on integer node indices."""
    n = np.asarray(shape, dtype=np.int64)
    out = []
    for R, t in zip(ops.rotations, ops.translations):
        M = np.empty((3, 3), dtype=np.int64)
        for r in range(3):
            for s in range(3):
                q = Fraction(int(n[r]) * int(R[r, s]), int(n[s]))
                assert q.denominator == 1, "grid not compatible with operation"
                M[r, s] = int(q)
        T = np.array([int(t[r] * int(n[r])) for r in range(3)], dtype=np.int64)
        out.append((M, T))
    return out


def _orbit_representatives(shape: Sequence[int], int_ops) -> NDArray[np.int64]:
    """(N,) flat index of the smallest node of each node's orbit (exact for a group)."""
    n = np.asarray(shape, dtype=np.int64)
    N = int(np.prod(n))
    rep = np.arange(N, dtype=np.int64)
    if len(int_ops) <= 1:
        return rep
    idx = np.indices(tuple(int(x) for x in n), dtype=np.int64).reshape(3, -1)
    for M, T in int_ops:
        if np.array_equal(M, np.eye(3, dtype=np.int64)) and not T.any():
            continue
        j = (M @ idx + T[:, None]) % n[:, None]
        np.minimum(rep, (j[0] * n[1] + j[1]) * n[2] + j[2], out=rep)
    return rep


# ----------------------------------------------------------------------------- exclusion
def _radius(symbol: str, anion: bool) -> float:
    from pymatgen.core import Element

    el = Element(symbol)
    cand = []
    if anion:
        cand.append(float(el.average_anionic_radius or 0.0))
    cand += [float(el.average_cationic_radius or 0.0), float(el.average_ionic_radius or 0.0)]
    for r in cand:
        if r > 0:
            return r
    return float(el.atomic_radius or 1.0)


def _is_anion(symbol: str) -> bool:
    from pymatgen.core import Element

    el = Element(symbol)
    return el.group in (15, 16, 17) and (el.X or 0.0) >= 2.5


def default_min_distance(ion: str, elements: Sequence[str], factor: float = EXCLUSION_FACTOR) -> dict[str, float]:
    """Default exclusion radius (Å) of each framework element around a probe ``ion``.

    ``factor * (r_ion + r_element)`` with pymatgen's average ionic radii (the
    probe and cations: average cationic radius; N, O, F, S, Cl, Se, Br, I...:
    average anionic radius).

    Examples
    --------
    >>> d = default_min_distance("Li", ["O", "Fe"])
    >>> round(d["O"], 3), round(d["Fe"], 3)
    (1.296, 1.051)
    """
    r_ion = _radius(ion, anion=False)
    return {e: float(factor * (r_ion + _radius(e, anion=_is_anion(e)))) for e in elements}


def _excluded_mask(framework, shape: Sequence[int], radii: dict[str, float]) -> NDArray[np.bool_]:
    """(na, nb, nc) True where a node is closer than ``radii[element]`` to a framework atom."""
    n = np.asarray(shape, dtype=np.int64)
    mask = np.zeros(tuple(int(x) for x in n), dtype=bool)
    lat = np.asarray(framework.lattice.matrix, dtype=np.float64)
    recip_len = np.linalg.norm(np.linalg.inv(lat).T, axis=1)  # |b_i*| (1/Å), no 2*pi
    for site in framework:
        r = radii.get(site.specie.symbol, 0.0)
        if r <= 0:
            continue
        c = np.asarray(site.frac_coords) * n
        ext = r * recip_len * n
        lo = np.floor(c - ext).astype(np.int64)
        hi = np.ceil(c + ext).astype(np.int64)
        axes = [np.arange(lo[d], hi[d] + 1) for d in range(3)]
        I, J, K = np.meshgrid(*axes, indexing="ij")
        frac = np.stack([I / n[0], J / n[1], K / n[2]], axis=-1) - np.asarray(site.frac_coords)
        d2 = np.einsum("...i,...i->...", frac @ lat, frac @ lat)
        hit = d2 < r * r
        mask[I[hit] % n[0], J[hit] % n[1], K[hit] % n[2]] = True
    return mask


def _dilate26(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Periodic dilation of a 3D boolean mask by the 3x3x3 cube."""
    out = mask.copy()
    for ax in range(3):
        cur = out.copy()
        out |= np.roll(cur, 1, axis=ax)
        out |= np.roll(cur, -1, axis=ax)
    return out


# ----------------------------------------------------------------------------- potentials
def _resolve_potential(model: Any, device: str) -> Any:
    if hasattr(model, "energies") and callable(getattr(model, "energies")) and not isinstance(model, str):
        return model
    try:
        from .potentials import get_potential
    except ImportError as e:
        raise BackendUnavailableError(
            f"cannot load model {model!r}: ionnet.potentials is not available ({e}); "
            "pass a potential object with an energies(framework, ion, frac_coords) method"
        ) from None
    return get_potential(model, device=device)


def _potential_name(pot: Any) -> str:
    return str(getattr(pot, "name", type(pot).__name__))


def _calculator(pot: Any):
    for attr in ("calculator", "ase_calculator", "get_calculator"):
        c = getattr(pot, attr, None)
        if c is None:
            continue
        if callable(c) and not hasattr(c, "get_potential_energy"):
            try:
                c = c()
            except TypeError:
                continue
        if c is not None and hasattr(c, "get_potential_energy"):
            return c
    # ionnet's matgl / CHGNet back ends: build the package's own ASE calculator
    inner = getattr(pot, "potential", None)
    if inner is not None and hasattr(inner, "calc_forces") and hasattr(inner, "model"):
        import copy

        from matgl.ext.ase import PESCalculator

        p = copy.copy(inner)
        p.calc_forces, p.calc_stresses = True, True
        return PESCalculator(p)
    model = getattr(pot, "model", None)
    if model is not None and type(model).__module__.startswith("chgnet"):
        from chgnet.model.dynamics import CHGNetCalculator

        return CHGNetCalculator(model=model, use_device=str(getattr(pot, "device", "cpu")))
    return None


def _relax(structure, pot: Any, *, fmax: float = 0.05, steps: int = 500):
    """Relax positions and cell of ``structure`` with the potential's ASE calculator."""
    calc = _calculator(pot)
    if calc is None:
        raise ModelError(
            f"relax=True needs an ASE calculator and potential {_potential_name(pot)!r} has none; "
            "relax the structure beforehand or use relax=False"
        )
    from ase.optimize import BFGS
    from pymatgen.io.ase import AseAtomsAdaptor

    try:
        from ase.filters import FrechetCellFilter as CellFilter
    except ImportError:  # pragma: no cover - older ASE
        from ase.constraints import ExpCellFilter as CellFilter

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calc
    opt = BFGS(CellFilter(atoms), logfile=None)
    converged = bool(opt.run(fmax=fmax, steps=steps))
    e = float(atoms.get_potential_energy())
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    info = {"method": "ase-bfgs+frechet-cell", "fmax_ev_ang": fmax, "steps": int(opt.nsteps),
            "converged": converged, "energy_ev": e}
    if not converged:
        logger.warning("relaxation did not converge in %d steps (fmax %.3f eV/Å)", steps, fmax)
    return relaxed, info


# ----------------------------------------------------------------------------- disorder
def _disorder(structure, ion: str) -> tuple[list[int], list[int]]:
    """Indices of disordered sites: (mobile-ion-only sites, framework sites)."""
    mobile, fw = [], []
    for i, site in enumerate(structure):
        els = _site_elements(site)
        if len(els) == 1 and abs(next(iter(els.values())) - 1.0) < 1e-3:
            continue
        (mobile if set(els) == {ion} else fw).append(i)
    return mobile, fw


def _supercell_for(structure, max_sites: int) -> tuple[int, int, int]:
    """Smallest diagonal supercell in which the occupancy of each disordered group is integral."""
    groups: dict[tuple, dict[str, float]] = {}
    for site in structure:
        els = _site_elements(site)
        if len(els) == 1 and abs(next(iter(els.values())) - 1.0) < 1e-3:
            continue
        key = tuple(sorted((k, round(v, 3)) for k, v in els.items()))
        g = groups.setdefault(key, {})
        for k, v in els.items():
            g[k] = g.get(k, 0.0) + v
    n_sites = len(structure)
    m_max = max(1, max_sites // max(n_sites, 1))
    m = None
    for cand in range(1, m_max + 1):
        if all(abs(cand * v - round(cand * v)) < 0.05 for g in groups.values() for v in g.values()):
            m = cand
            break
    if m is None:
        raise StructureError(
            f"order=True: no supercell of <= {max_sites} sites makes the occupancies of {_formula(structure)} "
            f"integral ({n_sites} sites per cell); order the structure yourself (e.g. with supercell or enumlib)"
        )
    lengths = np.asarray(structure.lattice.abc)
    best = None
    for a in range(1, m + 1):
        if m % a:
            continue
        for b in range(1, m // a + 1):
            if (m // a) % b:
                continue
            c = m // a // b
            L = lengths * (a, b, c)
            score = (L.max() / L.min(), a + b + c)
            if best is None or score < best[0]:
                best = (score, (a, b, c))
    return best[1]  # type: ignore[index]


def order_structure(structure, *, max_sites: int = MAX_ORDER_SITES) -> tuple[Any, dict]:
    """An ordered approximant of a partially occupied structure.

    The smallest diagonal supercell in which every group of equally occupied
    sites holds an integral number of each species is ordered with pymatgen's
    ``OrderDisorderedStructureTransformation`` (lowest Ewald energy; oxidation
    states guessed with ``add_oxidation_state_by_guess`` unless the input has them).

    Returns
    -------
    structure : pymatgen Structure (ordered, oxidation states removed)
    info : dict
        ``supercell``, ``n_atoms``, ``ewald_energy_ev``, ``oxidation_states``.

    Raises
    ------
    StructureError
        No supercell within ``max_sites`` sites, oxidation states cannot be
        guessed, or pymatgen cannot order it.
    """
    from pymatgen.transformations.standard_transformations import OrderDisorderedStructureTransformation

    s = structure.copy()
    scale = _supercell_for(s, max_sites)
    if scale != (1, 1, 1):
        s.make_supercell(list(scale))
    has_oxi = all(hasattr(sp, "oxi_state") and sp.oxi_state is not None for site in s for sp in site.species)
    if not has_oxi:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                s.add_oxidation_state_by_guess(max_sites=-1)
            except Exception as e:
                raise StructureError(
                    f"order=True: cannot guess oxidation states of {_formula(structure)} ({e}); "
                    "give oxidation states in the CIF or order the structure yourself"
                ) from None
        if all((getattr(sp, "oxi_state", 0) or 0) == 0 for site in s for sp in site.species):
            raise StructureError(
                f"order=True: cannot guess oxidation states of {_formula(structure)} for the Ewald ranking; "
                "give oxidation states in the CIF or order the structure yourself"
            )
    trans = OrderDisorderedStructureTransformation(algo=OrderDisorderedStructureTransformation.ALGO_FAST)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ranked = trans.apply_transformation(s, return_ranked_list=1)
    except Exception as e:
        raise StructureError(f"order=True: pymatgen could not order {_formula(structure)}: {e}") from None
    best = ranked[0]
    ordered = _strip_oxidation(best["structure"])
    info = {
        "supercell": list(scale),
        "n_atoms": len(ordered),
        "ewald_energy_ev": float(best.get("energy", float("nan"))),
        "oxidation_states": "input" if has_oxi else "guess",
    }
    return ordered, info


# ----------------------------------------------------------------------------- checkpoint
class _Checkpoint:
    """Evaluated nodes of each map, written atomically (``np.savez`` + ``os.replace``)."""

    def __init__(self, path: str | os.PathLike | None, key: str):
        self.path = None if path is None else os.fspath(path)
        self.key = key
        self.maps: dict[int, tuple[NDArray[np.int64], NDArray[np.float64]]] = {}
        self.structure_json = ""
        self.prepare_info = ""
        self._last = time.monotonic()
        if self.path and os.path.exists(self.path):
            try:
                with np.load(self.path, allow_pickle=False) as z:
                    key_on_disk = str(z["key"])
                    if key_on_disk != key:
                        raise ScanError(
                            f"checkpoint {self.path} belongs to a different scan (other structure or arguments); "
                            "delete it or pass another `checkpoint` path"
                        )
                    self.structure_json = str(z["structure"])
                    self.prepare_info = str(z["prepare_info"])
                    for name in z.files:
                        if name.startswith("idx_"):
                            j = int(name[4:])
                            self.maps[j] = (z[name].astype(np.int64), z[f"e_{j}"].astype(np.float64))
            except ScanError:
                raise
            except Exception as e:
                raise ScanError(f"cannot read checkpoint {self.path} ({e}); delete it to start afresh") from None
            logger.info("resuming from %s (%d evaluated nodes)", self.path,
                        sum(len(v[0]) for v in self.maps.values()))

    @property
    def enabled(self) -> bool:
        return self.path is not None

    def update(self, j: int, known: NDArray[np.bool_], energies: NDArray[np.float64], *, force: bool = False) -> None:
        if not self.enabled:
            return
        idx = np.flatnonzero(known)
        self.maps[j] = (idx, energies[idx])
        if force or time.monotonic() - self._last >= CHECKPOINT_EVERY_S:
            self.write()

    def write(self) -> None:
        if not self.enabled:
            return
        arrays: dict[str, Any] = {
            "key": np.array(self.key),
            "format": np.array(_CHECKPOINT_FORMAT),
            "structure": np.array(self.structure_json),
            "prepare_info": np.array(self.prepare_info),
        }
        for j, (idx, e) in self.maps.items():
            arrays[f"idx_{j}"] = idx
            arrays[f"e_{j}"] = e
        d = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(d, exist_ok=True)
        tmp = f"{self.path}.{os.getpid()}.tmp.npz"
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, self.path)
        self._last = time.monotonic()


def _structure_fingerprint(structure) -> str:
    rows = [np.round(np.asarray(structure.lattice.matrix), 6).tolist()]
    for site in structure:
        rows.append([sorted((str(k), round(float(v), 4)) for k, v in site.species.items()),
                     np.round(np.asarray(site.frac_coords) % 1.0, 6).tolist()])
    return json.dumps(rows)


# ----------------------------------------------------------------------------- evaluation
@dataclass
class _Job:
    framework: Any  # pymatgen Structure without the probe
    meta: dict = field(default_factory=dict)


def _available_memory() -> int:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):  # pragma: no cover
        return 8 * 1024**3


def _check_memory(shape: Sequence[int], n_maps: int, spacing: float | None) -> None:
    N = int(np.prod(shape))
    need = N * BYTES_PER_NODE + n_maps * N * 8
    avail = _available_memory()
    if N > 2**31 - 1 or need > 0.8 * avail:
        hint = f"increase `spacing` (got {spacing} Å)" if spacing is not None else "pass a smaller `shape`"
        raise ResourceError(
            f"a {shape[0]}x{shape[1]}x{shape[2]} grid ({N:,} nodes, {n_maps} map(s)) needs about "
            f"{need / 1e9:.1f} GB of memory but {avail / 1e9:.1f} GB is available; {hint}"
        )


def _evaluate_job(
    j: int, job: _Job, pot: Any, ion: str, shape: tuple[int, int, int], int_ops, excluded: NDArray[np.bool_],
    *, refine: bool, ceiling: float | None, auto_max: float | None, batch_size: int | None, progress: bool,
    ckpt: _Checkpoint,
) -> tuple[NDArray[np.float64], dict]:
    from tqdm.auto import tqdm

    n = np.asarray(shape, dtype=np.int64)
    N = int(np.prod(n))
    t0 = time.perf_counter()
    rep = _orbit_representatives(shape, int_ops)
    reps, inv = np.unique(rep, return_inverse=True)
    del rep
    inv = inv.reshape(-1)
    R = len(reps)
    excluded = excluded.reshape(-1)
    excl_rep = excluded[reps]
    known = np.zeros(R, dtype=bool)
    e_rep = np.full(R, np.nan)
    n_resumed = 0
    if j in ckpt.maps:
        idx, e = ckpt.maps[j]
        if idx.size and idx.max() >= R:
            raise ScanError(f"checkpoint {ckpt.path} does not match this grid; delete it to start afresh")
        known[idx] = True
        e_rep[idx] = e
        n_resumed = int(idx.size)
    t_setup = time.perf_counter() - t0
    frac_scale = 1.0 / n
    bar = tqdm(total=0, disable=not progress, desc=f"scan {ion} map {j + 1}", unit="pt", leave=False)
    n_new = 0
    t_eval = 0.0

    def evaluate(rep_ids: NDArray[np.int64]) -> None:
        nonlocal n_new, t_eval
        rep_ids = np.unique(rep_ids)
        rep_ids = rep_ids[~known[rep_ids]]
        if rep_ids.size == 0:
            return
        bar.total += int(rep_ids.size)
        bar.refresh()
        try:
            for start in range(0, rep_ids.size, CHUNK_POINTS):
                chunk = rep_ids[start:start + CHUNK_POINTS]
                ijk = np.stack(np.unravel_index(reps[chunk], shape), axis=-1)
                frac = ijk * frac_scale
                t1 = time.perf_counter()
                e = np.asarray(
                    pot.energies(job.framework, ion, frac, batch_size=batch_size, progress=False), dtype=np.float64
                ).reshape(-1)
                t_eval += time.perf_counter() - t1
                if e.shape != (chunk.size,):
                    raise ModelError(
                        f"potential {_potential_name(pot)!r} returned {e.shape} energies for {chunk.size} points"
                    )
                e_rep[chunk] = e
                known[chunk] = True
                n_new += int(chunk.size)
                bar.update(int(chunk.size))
                ckpt.update(j, known, e_rep)
        except BaseException:
            ckpt.update(j, known, e_rep, force=True)  # keep every finished point
            raise

    try:
        # 1. initial set: all allowed representatives, or the coarse sub-grid
        if refine:
            coarse = np.ones(tuple(shape), dtype=bool)
            for ax in range(3):
                sl = [slice(None)] * 3
                sl[ax] = slice(1, None, 2)
                coarse[tuple(sl)] = False
            cand = np.unique(inv[coarse.reshape(-1)])
        else:
            cand = np.arange(R)
        evaluate(cand[~excl_rep[cand]])
        n_interp = 0
        if refine:
            # 2. full resolution inside coarse cells with a corner below ceiling + margin
            e_full = np.where(known[inv], e_rep[inv], np.nan).reshape(shape)
            e_full[~np.isfinite(e_full)] = np.inf
            if np.isfinite(e_full).any():
                cut = float(e_full.min()) + (DEFAULT_CEILING_EV if ceiling is None else ceiling) + REFINE_MARGIN_EV
                want = np.unique(inv[(_coarse_corner_reduce(e_full, np.minimum) <= cut).reshape(-1)])
                evaluate(want[~excl_rep[want]])
        # 3. frontier check: nodes within `c` of the minimum have all neighbours evaluated;
        #    with ceiling='auto', `c` rises to the map's own MPE (capped) so the MPE is exact
        rounds = 0
        c = ceiling
        while c is not None:
            while True:
                kn = known[inv].reshape(shape)
                e_full = np.where(kn, e_rep[inv].reshape(shape), np.nan)
                fin = np.isfinite(e_full)
                if not fin.any():
                    break
                need = _dilate26(_reachable_below(np.where(fin, e_full, np.inf), c)) & ~kn
                if not need.any():
                    break
                rounds += 1
                evaluate(np.unique(inv[need.reshape(-1)]))
            if auto_max is None or c >= auto_max:
                break
            t1 = _mpe(np.where(known[inv], e_rep[inv], np.inf).reshape(shape))
            if t1 <= c:
                break
            # t1 (unknown nodes at +inf) is an upper bound: one more pass at t1 makes it exact
            c = min(t1, c + AUTO_CEILING_STEP_EV, auto_max)
        # 4. assemble: excluded or never-needed nodes are +inf, refine-skipped ones interpolated
        kn = known[inv]
        energies = np.where(kn, e_rep[inv], np.inf).reshape(shape)
        if refine:
            skipped = (~kn & ~excluded).reshape(shape)
            if skipped.any():
                interp = _coarse_interpolate(np.where(kn.reshape(shape), energies, np.nan), shape)
                energies[skipped] = interp[skipped]
                n_interp = int(skipped.sum())
    finally:
        bar.close()
    ckpt.update(j, known, e_rep, force=True)
    stats = {
        "n_nodes": N,
        "n_orbits": int(R),
        "n_symmetry_ops": len(int_ops),
        "n_evaluated": int(known.sum()),
        "n_evaluated_this_run": n_new,
        "n_resumed": n_resumed,
        "n_excluded": int(excluded.sum()),
        "n_excluded_evaluated": int((excl_rep & known).sum()),
        "n_forbidden": int(np.isinf(energies).sum()),
        "frontier_rounds": rounds,
        "ceiling_ev": c,
        "n_interpolated": n_interp,
        "setup_s": round(t_setup, 4),
        "potential_s": round(t_eval, 4),
    }
    return energies, stats


def _reachable_below(energies: NDArray[np.float64], c: float) -> NDArray[np.bool_]:
    """Nodes reachable from the minimum (or any node within ``FRONTIER_SOURCE_TOL_EV`` of it)
    through 26-connected nodes no higher than ``min + c``.

    A superset of what any source-based analysis (connectivity 6, 18 or 26,
    ``source_tol`` up to ``FRONTIER_SOURCE_TOL_EV``) sees below ``c``.
    """
    from .core.sweep import sweep

    e0 = float(np.min(energies))
    level = sweep(energies, connectivity=26, source=energies <= e0 + FRONTIER_SOURCE_TOL_EV)[0]
    return level <= e0 + c


def _mpe(energies: NDArray[np.float64]) -> float:
    """Minimal (1D) percolation energy (eV above the minimum, connectivity 6) of a grid; +inf if none."""
    from .core.sweep import sweep

    if not np.isfinite(energies).any():
        return float("inf")
    e0 = float(np.min(energies))
    thr = sweep(energies, connectivity=6, source=energies <= e0 + 1e-6)[1]
    return float(thr[0] - e0)


def _coarse_corner_reduce(e: NDArray[np.float64], fn) -> NDArray[np.float64]:
    """For each node, ``fn`` over the 8 corners of its coarse (every-2nd-node) cell."""
    na, nb, nc = e.shape
    lo = [(np.arange(m) // 2) * 2 for m in (na, nb, nc)]
    hi = [np.where(l + 2 < m, l + 2, 0) for l, m in zip(lo, (na, nb, nc))]
    out = None
    for a in (lo[0], hi[0]):
        for b in (lo[1], hi[1]):
            for c in (lo[2], hi[2]):
                v = e[np.ix_(a, b, c)]
                out = v if out is None else fn(out, v)
    return out


def _coarse_interpolate(e: NDArray[np.float64], shape) -> NDArray[np.float64]:
    """Trilinear interpolation from the coarse corners (NaN/inf corners ignored)."""
    na, nb, nc = shape
    dims = (na, nb, nc)
    lo = [(np.arange(m) // 2) * 2 for m in dims]
    hi = [np.where(l + 2 < m, l + 2, 0) for l, m in zip(lo, dims)]
    w = [np.where(np.arange(m) % 2 == 1, 0.5, 0.0) for m in dims]
    num = np.zeros(shape)
    den = np.zeros(shape)
    for ia, (a, wa) in enumerate(((lo[0], 1 - w[0]), (hi[0], w[0]))):
        for ib, (b, wb) in enumerate(((lo[1], 1 - w[1]), (hi[1], w[1]))):
            for ic, (c, wc) in enumerate(((lo[2], 1 - w[2]), (hi[2], w[2]))):
                v = e[np.ix_(a, b, c)]
                wt = wa[:, None, None] * wb[None, :, None] * wc[None, None, :]
                ok = np.isfinite(v) & (wt > 0)
                num += np.where(ok, v * wt, 0.0)
                den += np.where(ok, wt, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.inf)


# ----------------------------------------------------------------------------- the scan
def _check_options(spacing, shape, framework, min_distance, batch_size, ceiling):
    if framework not in ("vacancy", "empty"):
        raise ScanError(f"`framework` must be 'vacancy' or 'empty' (got {framework!r})")
    if shape is None:
        try:
            sp = float(spacing)
        except (TypeError, ValueError):
            raise GridError(f"`spacing` must be a positive number of Å (got {spacing!r})") from None
        if not math.isfinite(sp) or sp <= 0:
            raise GridError(f"`spacing` must be > 0 Å and finite (got {spacing!r}); try 0.2")
    else:
        try:
            shp = tuple(int(x) for x in shape)
            ok = len(shp) == 3 and all(x == y for x, y in zip(shp, shape)) and all(x >= 2 for x in shp)
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise GridError(f"`shape` must be three integers >= 2 (na, nb, nc) (got {shape!r})")
    if min_distance is not None:
        vals = min_distance.values() if isinstance(min_distance, dict) else [min_distance]
        for v in vals:
            try:
                fv = float(v)
            except (TypeError, ValueError):
                fv = float("nan")
            if not math.isfinite(fv) or fv < 0:
                raise GridError(f"`min_distance` must be >= 0 Å (a number or a dict element -> Å; got {min_distance!r})")
    if batch_size is not None and (not isinstance(batch_size, (int, np.integer)) or batch_size < 1):
        raise ScanError(f"`batch_size` must be a positive integer or None (got {batch_size!r})")
    if ceiling is not None and not (isinstance(ceiling, str) and ceiling == "auto"):
        try:
            c = float(ceiling)
        except (TypeError, ValueError):
            c = float("nan")
        if not math.isfinite(c) or c <= 0:
            raise GridError(f"`ceiling` must be 'auto', a number > 0 (eV) or None (got {ceiling!r})")


def _prepare(structure, ion: str, framework: str, order: bool):
    """Ordered structure (oxidation states removed) and the ordering record."""
    s = _clean_occupancies(structure)
    present = {el for site in s for el in _site_elements(site)}
    if ion not in present:
        raise StructureError(
            f"the structure ({_formula(s)}) contains no {ion}; pass the mobile ion with `ion=` "
            f"(elements present: {', '.join(sorted(present))})"
        )
    if present == {ion}:
        raise StructureError(f"the structure contains only {ion}: there is no framework to scan")
    mobile_dis, fw_dis = _disorder(s, ion)
    order_info: Any = False
    if fw_dis and not order:
        site = s[fw_dis[0]]
        raise StructureError(
            f"{_formula(s)} is disordered on {len(fw_dis)} framework site(s) (e.g. site {fw_dis[0]}: "
            f"{site.species}); pass order=True to build an ordered approximant"
        )
    if mobile_dis and not fw_dis and framework == "empty":
        pass  # the partially occupied mobile-ion sites are removed anyway
    elif (mobile_dis or fw_dis) and order:
        s, order_info = order_structure(s)
    elif mobile_dis and framework == "vacancy":
        raise StructureError(
            f"{_formula(s)} has partially occupied {ion} sites ({len(mobile_dis)}); framework='vacancy' needs "
            f"an ordered {ion} arrangement: use framework='empty' (removes every {ion}) or order=True"
        )
    return _strip_oxidation(s), order_info


def _make_jobs(s, ion: str, framework: str, symprec: float) -> list[_Job]:
    mobile = [i for i, site in enumerate(s) if ion in _site_elements(site)]
    if framework == "empty":
        fw = s.copy()
        fw.remove_sites(mobile)
        return [_Job(fw, {"framework": "empty", "n_removed": len(mobile)})]
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            groups = SpacegroupAnalyzer(s, symprec=symprec).get_symmetrized_structure().equivalent_indices
    except Exception:  # pragma: no cover - spglib failure: every site distinct
        groups = [[i] for i in range(len(s))]
    jobs = []
    for g in groups:
        if g[0] not in mobile:
            continue
        k = int(g[0])
        fw = s.copy()
        fw.remove_sites([k])
        jobs.append(_Job(fw, {
            "framework": "vacancy",
            "site_index": k,
            "start_frac": [float(x) for x in s[k].frac_coords],
            "multiplicity": len(g),
            "equivalent_sites": [int(i) for i in g],
        }))
    return jobs


def scan(
    structure: Any,
    ion: str = "Li",
    model: Any = "m3gnet",
    *,
    spacing: float = 0.2,
    shape: Sequence[int] | None = None,
    framework: str = "vacancy",
    order: bool = False,
    relax: bool = False,
    symmetry: bool = True,
    min_distance: float | dict | None = None,
    refine: bool = False,
    ceiling: float | str | None = "auto",
    device: str = "cpu",
    batch_size: int | None = None,
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
) -> EnergyGrid | list[EnergyGrid]:
    """Energy of one mobile ion on a grid spanning the cell of a frozen framework.

    Parameters
    ----------
    structure : path, pymatgen Structure, ase.Atoms or dict
        Anything :func:`ionnet.io.read_structure` reads (CIF, POSCAR/CONTCAR, JSON).
    ion : str
        The mobile ion (element symbol), e.g. ``'Li'``, ``'Na'``.
    model : str, path, ASE calculator, callable or potential object
        Passed to ``ionnet.potentials.get_potential`` (``'m3gnet'``,
        ``'chgnet'``, ``'bvse'``, a matgl model directory...).  Any object with
        ``energies(framework, ion, frac_coords, *, batch_size, progress)`` is
        used as is.
    spacing : float, Å
        Target node spacing; ``ceil(|a_i| / spacing)`` nodes along each vector
        (rounded up to fit the symmetry when ``symmetry=True``).
    shape : (3,) ints, optional
        Exact grid shape ``(na, nb, nc)``; overrides ``spacing`` and is never
        rounded (only the symmetry operations compatible with it are used).
    framework : {'vacancy', 'empty'}
        ``'vacancy'``: one map per symmetry-distinct mobile ion, that ion is the
        probe and every other atom stays.  ``'empty'``: every mobile ion removed,
        one map.
    order : bool
        Build an ordered approximant of a partially occupied structure
        (:func:`order_structure`); otherwise framework disorder is an error.
    relax : bool
        Relax positions and cell with the same potential (needs its ASE
        calculator) before freezing.
    symmetry : bool
        Evaluate one node per orbit of the framework's space group.
    min_distance : float, dict element -> Å, or None
        Nodes closer than this to a framework atom are not evaluated (+inf).
        None: ``EXCLUSION_FACTOR * (r_ion + r_atom)`` (:func:`default_min_distance`).
        0 disables exclusion.
    refine : bool
        Evaluate every second node first, then full resolution only where a
        coarse corner is below ``ceiling + REFINE_MARGIN_EV``; other nodes are
        interpolated (they are above the ceiling).
    ceiling : 'auto', float (eV) or None
        Frontier check: every evaluated node within ``ceiling`` of the map's
        minimum gets all 26 neighbours evaluated (excluded or not), so every
        threshold and free volume at or below the ceiling equals a dense
        scan's (thresholds above it are upper bounds).  ``'auto'``: 3 eV,
        raised to the map's MPE when that is higher, up to 6 eV
        (``AUTO_CEILING_MAX_EV``); the value reached is
        ``metadata['ceiling_ev']``.  None turns the check off (plain exclusion).
    device : str
        Passed to the potential back end (``'cpu'``, ``'cuda'``).
    batch_size : int, optional
        Structures per model call, passed to the back end.
    progress : bool
        Show a tqdm bar.
    checkpoint : path, optional
        ``.npz`` file where evaluated nodes are saved periodically (atomically)
        and on interruption; rerunning with the same arguments resumes.

    Returns
    -------
    EnergyGrid or list of EnergyGrid
        ``framework='empty'``: one grid; ``'vacancy'``: a list, one per distinct
        mobile ion (``metadata['multiplicity']`` of them in the cell).
        ``energies`` are total energies (eV) of framework + probe; the frozen
        framework is ``grid.structure``.

    Raises
    ------
    StructureError
        Unreadable structure, no mobile ion, disorder not allowed.
    ModelError
        An element the model does not know, or a potential without a calculator for ``relax``.
    GridError
        Bad ``spacing``, ``shape``, ``min_distance`` or ``ceiling``.
    ResourceError
        The grid would not fit in memory.
    ScanError
        Bad ``framework``/``batch_size``, or a checkpoint of another scan.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> from ionnet.io import example_structure
    >>> class Harmonic:  # toy potential: distance to the nearest Fe, squared
    ...     name = "toy"
    ...     def energies(self, fw, ion, frac, *, batch_size=None, progress=False):
    ...         fe = fw.frac_coords[[s.specie.symbol == "Fe" for s in fw]]
    ...         d = (frac[:, None, :] - fe[None]) % 1.0
    ...         d = np.minimum(d, 1 - d) @ fw.lattice.matrix
    ...         return -np.min(np.linalg.norm(d, axis=-1), axis=1) ** 2
    >>> g = ionnet.scan(example_structure(), "Li", Harmonic(), spacing=1.0,
    ...                 framework="empty", progress=False)
    >>> g.shape, g.metadata["framework"], g.metadata["model"]
    ((6, 7, 12), 'empty', 'toy')
    """
    t_start = time.perf_counter()
    _check_options(spacing, shape, framework, min_distance, batch_size, ceiling)
    ion = _element(ion)
    auto_max = AUTO_CEILING_MAX_EV if ceiling == "auto" else None
    ceiling_arg = ceiling
    ceiling = None if ceiling is None else DEFAULT_CEILING_EV if ceiling == "auto" else float(ceiling)
    s_in = _read(structure)
    if shape is None:  # fail early, before loading a model or relaxing
        _check_memory(grid_shape(s_in.lattice.matrix, float(spacing)), 1, float(spacing))
    pot = _resolve_potential(model, device)
    name = _potential_name(pot)
    elements = sorted({el for site in s_in for el in _site_elements(site)})
    if ion in elements and hasattr(pot, "supports"):
        pot.supports(elements)  # raises ModelError naming the unknown element
    symprec = SYMPREC

    key_src = json.dumps({
        "structure": _structure_fingerprint(s_in), "ion": ion, "model": name,
        "model_arg": model if isinstance(model, (str, os.PathLike)) else type(model).__name__,
        "framework": framework, "order": bool(order), "relax": bool(relax), "symmetry": bool(symmetry),
        "spacing": None if shape is not None else float(spacing),
        "shape": None if shape is None else [int(x) for x in shape],
        "min_distance": min_distance, "refine": bool(refine), "ceiling": ceiling_arg,
        "symprec": symprec, "factor": EXCLUSION_FACTOR, "format": _CHECKPOINT_FORMAT,
    }, sort_keys=True, default=str)
    key = hashlib.sha256(key_src.encode()).hexdigest()
    ckpt = _Checkpoint(checkpoint, key)

    # ---- structure: order, relax (or reuse the checkpoint's prepared structure)
    t0 = time.perf_counter()
    if ckpt.structure_json:
        from pymatgen.core import Structure

        s = Structure.from_dict(json.loads(ckpt.structure_json))
        prep = json.loads(ckpt.prepare_info)
        order_info, relax_info = prep["order"], prep["relax"]
    else:
        s, order_info = _prepare(s_in, ion, framework, order)
        relax_info: Any = False
        if relax:
            s, relax_info = _relax(s, pot)
    t_prepare = time.perf_counter() - t0

    # ---- frameworks, symmetry and the grid shape
    jobs = _make_jobs(s, ion, framework, symprec)
    origin_shift = [0.0, 0.0, 0.0]
    if symmetry:
        ref = jobs[0].framework if framework == "empty" else s
        _, shift = _symmetry_ops(ref, symprec)
        if shift is not None and np.any(np.abs((shift + 0.5) % 1.0 - 0.5) > 1e-9):
            s = s.copy()
            s.translate_sites(list(range(len(s))), shift, frac_coords=True, to_unit_cell=True)
            origin_shift = [float(x) for x in shift]
            jobs = _make_jobs(s, ion, framework, symprec)
        op_sets = [_symmetry_ops(job.framework, symprec)[0] for job in jobs]
    else:
        op_sets = [_Ops(np.eye(3, dtype=np.int64)[None], [[Fraction(0)] * 3], spacegroup="(not used)") for _ in jobs]
    lattice = np.asarray(s.lattice.matrix, dtype=np.float64)
    if shape is not None:
        shp = tuple(int(x) for x in shape)
        requested = shp
    else:
        requested = grid_shape(lattice, float(spacing))
        shp = requested
        if symmetry:
            cand = _compatible_shape(requested, op_sets)
            if np.prod(cand) <= MAX_SHAPE_GROWTH * np.prod(requested):
                shp = cand
            else:
                logger.info("symmetry would grow the grid %s -> %s; keeping %s with fewer operations",
                            requested, cand, requested)
        if refine:
            shp = _compatible_shape(tuple(x + (x % 2) for x in shp), op_sets) if symmetry else tuple(
                x + (x % 2) for x in shp)
            if any(x % 2 for x in shp):  # pragma: no cover - odd symmetry constraint
                shp = tuple(x + (x % 2) for x in shp)
    op_sets = [_compatible_ops(shp, ops) for ops in op_sets]
    _check_memory(shp, len(jobs), None if shape is not None else float(spacing))

    # ---- exclusion radii
    fw_elements = sorted({site.specie.symbol for job in jobs for site in job.framework})
    if min_distance is None:
        radii = default_min_distance(ion, fw_elements)
    elif isinstance(min_distance, dict):
        radii = {e: float(min_distance.get(e, 0.0)) for e in fw_elements}
    else:
        radii = {e: float(min_distance) for e in fw_elements}
    radii = {e: r for e, r in radii.items() if r > 0}

    excluded = []
    for j, job in enumerate(jobs):
        mask = _excluded_mask(job.framework, shp, radii) if radii else np.zeros(shp, dtype=bool)
        if mask.all():
            raise GridError(
                f"every node of map {j + 1} is closer than `min_distance` to a framework atom "
                f"(radii {', '.join(f'{k} {v:.2f} Å' for k, v in sorted(radii.items()))}); pass a smaller min_distance"
            )
        excluded.append(mask)

    # ---- evaluate
    if ckpt.enabled and not ckpt.structure_json:
        ckpt.structure_json = json.dumps(s.as_dict())
        ckpt.prepare_info = json.dumps({"order": order_info, "relax": relax_info})
        ckpt.write()
    grids = []
    t_prep_total = time.perf_counter() - t_start
    for j, (job, ops) in enumerate(zip(jobs, op_sets)):
        t1 = time.perf_counter()
        int_ops = _integer_ops(shp, ops) if symmetry else []
        energies, stats = _evaluate_job(
            j, job, pot, ion, shp, int_ops, excluded[j], refine=refine, ceiling=ceiling, auto_max=auto_max,
            batch_size=batch_size, progress=progress, ckpt=ckpt,
        )
        meta = {
            "ion": ion,
            "model": name,
            **job.meta,
            "energy": "total energy of framework + probe (eV)",
            "spacing": None if shape is not None else float(spacing),
            "spacing_ang": [float(x) for x in np.linalg.norm(lattice, axis=1) / np.asarray(shp)],
            "shape": list(shp),
            "requested_shape": list(requested),
            "relax": relax_info,
            "order": order_info,
            "symmetry": bool(symmetry),
            "spacegroup": ops.spacegroup if symmetry else None,
            "symmetry_deviation_ang": ops.deviation_ang if symmetry else None,
            "symprec": symprec,
            "origin_shift_frac": origin_shift,
            "min_distance": radii,
            "ceiling": ceiling_arg,
            "refine": bool(refine),
            "device": device,
            "batch_size": batch_size,
            **{k: v for k, v in stats.items() if not k.endswith("_s")},
            "timings": {
                "prepare_s": round(t_prepare, 4),
                "setup_total_s": round(t_prep_total, 4),
                "map_s": round(time.perf_counter() - t1, 4),
                "map_setup_s": stats["setup_s"],
                "potential_s": stats["potential_s"],
            },
            "ionnet_version": __version__,
        }
        if not np.isfinite(energies).any():
            raise ModelError(f"potential {name!r} returned no finite energy for map {j + 1}")
        grids.append(EnergyGrid(energies, lattice, structure=job.framework, metadata=meta))
    total = time.perf_counter() - t_start
    for g in grids:
        g.metadata["timings"]["total_s"] = round(total, 4)
    return grids[0] if framework == "empty" else grids


def _read(structure: Any):
    from .io import read_structure

    return read_structure(structure)
