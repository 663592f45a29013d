"""``ionnet.scan``: the energy landscape of a mobile ion in a frozen framework.

Put one probe ion on a regular grid spanning the cell, evaluate a potential at
every node and return a :class:`~ionnet.ScanResult` of
:class:`~ionnet.EnergyGrid` maps ready for :func:`ionnet.analyze`.  Three exact
levers keep the number of evaluations down:

* **symmetry** - nodes related by a space-group operation of the framework are
  evaluated once (orbits found with integer arithmetic on the grid);
* **exclusion** - nodes closer than ``min_distance`` to a framework atom are not
  evaluated (+inf), with a *frontier check*: every evaluated node within the
  ceiling (eV above the map's minimum) has all its 26 neighbours evaluated, so
  every percolation threshold and free volume below the ceiling is exactly that
  of a dense scan (``ceiling='auto'``: 3 eV, raised to the map's MPE up to 6 eV);
* **refine** (optional) - coarse grid first, full resolution only near the
  low-energy region (same frontier guarantee).

The steps live in one module each: :mod:`.structure` (disorder, ordering,
relaxation), :mod:`.plan` (frameworks, grid shape), :mod:`.symmetry`,
:mod:`.exclusion`, :mod:`.evaluation` (the frontier loop) and
:mod:`.checkpoint`; the options are :class:`ionnet.ScanSettings`.  Batching and
devices belong to the potential back end.  See ``docs/scan.md``.
"""
from __future__ import annotations

import inspect
import json
import os
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..errors import ModelError, ScanError
from ..grid import EnergyGrid, ScanResult
from ..io import read_structure
from ..io.structures import site_elements
from ..memory import check_grid_memory
from ..potentials import get_potential, potential_name
from ..settings import ScanSettings
from .checkpoint import CHECKPOINT_EVERY_S, Checkpoint, checkpoint_key
from .evaluation import (
    AUTO_CEILING_MAX_EV,
    AUTO_CEILING_STEP_EV,
    CHUNK_POINTS,
    DEFAULT_CEILING_EV,
    FRONTIER_SOURCE_TOL_EV,
    REFINE_MARGIN_EV,
    MapEvaluation,
)
from .exclusion import EXCLUSION_FACTOR, default_min_distance
from .plan import GridPlan, plan_grid
from .ordering import order_structure
from .structure import MAX_ORDER_SITES, ORDER_SEED, ORDER_TIME_LIMIT_S, element, prepare, relax
from .symmetry import MAX_DENOMINATOR, MAX_SHAPE_GROWTH, SYMPREC, grid_shape, orbit_node_ops

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from ..io.structures import StructureLike
    from ..potentials import Potential

__all__ = [
    "scan",
    "ScanError",
    "ScanSettings",
    "default_min_distance",
    "grid_shape",
    "order_structure",
    "SYMPREC",
    "EXCLUSION_FACTOR",
    "DEFAULT_CEILING_EV",
    "AUTO_CEILING_MAX_EV",
    "AUTO_CEILING_STEP_EV",
    "FRONTIER_SOURCE_TOL_EV",
    "REFINE_MARGIN_EV",
    "MAX_ORDER_SITES",
    "ORDER_TIME_LIMIT_S",
    "ORDER_SEED",
    "split_configurations",
    "MAX_DENOMINATOR",
    "MAX_SHAPE_GROWTH",
    "CHUNK_POINTS",
    "CHECKPOINT_EVERY_S",
]


def scan(
    structure: StructureLike,
    ion: str | None = None,
    model: Any = None,
    *,
    settings: ScanSettings | None = None,
    progress: bool | str = "auto",
    checkpoint: str | os.PathLike | None = None,
    **options: Any,
) -> ScanResult:
    """Energy of one mobile ion on a grid spanning the cell of a frozen framework.

    Parameters
    ----------
    structure : path, pymatgen Structure, ase.Atoms or dict
        Anything :func:`ionnet.io.read_structure` reads (CIF, POSCAR/CONTCAR, JSON).
    ion : str, optional
        The mobile ion (element symbol), e.g. ``'Li'``, ``'Na'``; default ``settings.ion`` (``'Li'``).
    model : str, path, ASE calculator, callable or potential object, optional
        Passed to ``ionnet.potentials.get_potential``; default ``settings.model``
        (``'m3gnet'``).  An object with ``energies(framework, ion, frac_coords,
        *, batch_size, progress)`` is used as is.
    settings : ScanSettings, optional
        Every scan option at once; ``ion``, ``model`` and ``options`` override its fields.
    progress, checkpoint : bool or {'auto', 'bar', 'lines'}, path or None
        Progress (:func:`ionnet.progress.progress_bar`; ``'auto'``: a bar on a
        terminal only, ``True``: a bar, or a plain line every 10 s in a log); an ``.npz`` file where evaluated nodes are saved
        (atomically, periodically and on interruption) so a rerun resumes.
    **options
        Any field of :class:`~ionnet.ScanSettings` (``spacing``, ``shape``,
        ``framework``, ``order``, ``max_sites``, ``n_configurations``,
        ``relax``, ``symmetry``, ``min_distance``, ``refine``, ``ceiling``,
        ``device``, ``batch_size``); their meanings and defaults are listed there.

    Returns
    -------
    ScanResult
        One :class:`~ionnet.EnergyGrid` per distinct mobile ion (``'vacancy'``,
        ``metadata['multiplicity']`` each) or one (``'empty'``): total energies
        (eV) of framework + probe; the frozen framework is each grid's ``structure``.
        With ``order=True`` a disordered input is ordered first
        (:func:`ionnet.scanning.ordering.order_structure`; its record, with the
        rounding of every site, is ``metadata['order']``) and the maps of each
        of the ``n_configurations`` configurations follow one another
        (``metadata['configuration']``; group them with
        :func:`split_configurations`).  ``metadata['n_mobile']`` is the number
        of mobile ions the input puts in the scanned cell (Σ occupancy).

    Raises
    ------
    StructureError, ModelError
        Unreadable structure, no mobile ion, disorder not allowed; an element unknown to the model.
    GridError, ScanError, ResourceError
        A bad option, a checkpoint of another scan, a grid that would not fit in memory.

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
    >>> len(g), g.shape, g.metadata["framework"], g.metadata["model"]
    (1, (6, 7, 12), 'empty', 'toy')
    """
    t_start = time.perf_counter()
    changes = {k: v for k, v in (("ion", ion), ("model", model)) if v is not None}
    settings = (settings or ScanSettings()).replace(**changes, **options)
    ion = element(settings.ion)
    s_in, pot = _inputs(structure, ion, settings)
    name = potential_name(pot)
    ckpt = Checkpoint(checkpoint, checkpoint_key(s_in, settings, name, symprec=SYMPREC, factor=EXCLUSION_FACTOR))
    t0 = time.perf_counter()
    configs, prepared = _prepared(s_in, ion, settings, pot, ckpt)
    pot = _adapted(pot, s_in, ion, settings, prepared)
    plans = [plan_grid(c, ion, settings) for c in configs]
    structure_json = json.dumps([c.as_dict() for c in configs] if len(configs) > 1 else configs[0].as_dict())
    ckpt.begin(structure_json, json.dumps(prepared))
    timings = {"prepare_s": round(time.perf_counter() - t0, 4), "setup_total_s": round(time.perf_counter() - t_start, 4)}
    grids, j = [], 0
    for k, plan in enumerate(plans):
        for m in range(len(plan.frameworks)):
            g = _map(j, m, plan, pot, ion, settings, ckpt, progress, name, prepared, timings)
            g.metadata.update(configuration=k, n_configurations=len(plans))
            grids.append(g)
            j += 1
    for g in grids:
        g.metadata["timings"]["total_s"] = round(time.perf_counter() - t_start, 4)
    return ScanResult(grids)


def split_configurations(grids: ScanResult) -> list[ScanResult]:
    """The maps of a scan grouped by ordered configuration (``metadata['configuration']``), in order.

    ``scan(order=True, n_configurations=3)`` returns the maps of every
    configuration in one :class:`~ionnet.ScanResult`; analyse each group on
    its own (``[ionnet.analyze(c) for c in split_configurations(grids)]``):
    the maps of different configurations are different structures, not the
    per-ion maps of one.  Maps without the key form one group.

    Examples
    --------
    >>> import numpy as np, ionnet
    >>> maps = [ionnet.EnergyGrid(np.zeros((2, 2, 2)), np.eye(3), metadata={"configuration": k}) for k in (0, 0, 1)]
    >>> [len(c) for c in split_configurations(ionnet.ScanResult(maps))]
    [2, 1]
    """
    groups: dict[int, list[EnergyGrid]] = {}
    for g in grids:
        groups.setdefault(int((g.metadata or {}).get("configuration", 0)), []).append(g)
    return [ScanResult(groups[k]) for k in sorted(groups)]


def _inputs(structure: StructureLike, ion: str, settings: ScanSettings) -> tuple[Structure, Potential]:
    """The structure and the potential, checked before any expensive step (memory, elements)."""
    s_in = read_structure(structure)
    if settings.shape is None:  # fail early, before loading a model or relaxing
        check_grid_memory(grid_shape(s_in.lattice.matrix, settings.spacing), 1, settings.spacing)
    else:
        check_grid_memory(settings.shape, 1)
    pot = get_potential(settings.model, device=settings.device)
    elements = sorted({el for site in s_in for el in site_elements(site)})
    if ion in elements and hasattr(pot, "supports"):
        pot.supports(elements)  # raises ModelError naming the unknown element
    return s_in, pot


def _prepared(s_in: Structure, ion: str, settings: ScanSettings, pot: Potential,
              ckpt: Checkpoint) -> tuple[list[Structure], dict]:
    """The ordered (and relaxed) configurations with their records, or the checkpoint's."""
    from pymatgen.core import Structure

    if ckpt.structure_json:
        d = json.loads(ckpt.structure_json)
        return [Structure.from_dict(x) for x in (d if isinstance(d, list) else [d])], json.loads(ckpt.prepare_info)
    configs, order_info = prepare(s_in, ion, settings.framework, settings.order, max_sites=settings.max_sites,
                                  n_configurations=settings.n_configurations, missing_ion=settings.missing_ion)
    relax_info: dict | bool | list = False
    if settings.relax:
        relaxed = [relax(c, pot) for c in configs]
        configs = [c for c, _ in relaxed]
        relax_info = relaxed[0][1] if len(relaxed) == 1 else [info for _, info in relaxed]
    n_mobile = order_info["n_mobile"] if order_info else sum(site_elements(x).get(ion, 0.0) for x in s_in)
    return configs, {"order": order_info, "relax": relax_info, "n_mobile": n_mobile}


def _adapted(pot: Potential, s_in: Structure, ion: str, settings: ScanSettings, prepared: dict) -> Potential:
    """The potential adapted to the input (its optional ``for_structure`` hook), once the ordering is known.

    A back end whose hook takes ``oxidation_states`` gets the ordering's
    (the states the configurations were charge-balanced and Ewald-ranked with).
    """
    hook = getattr(pot, "for_structure", None)
    if not callable(hook):
        return pot
    order_info = prepared.get("order") or {}
    states = order_info.get("oxidation_states") if isinstance(order_info, dict) else None
    if states and "oxidation_states" in inspect.signature(hook).parameters:
        return hook(s_in, ion=ion, framework=settings.framework, oxidation_states=states)
    return hook(s_in, ion=ion, framework=settings.framework)


def _map(j: int, m: int, plan: GridPlan, pot: Potential, ion: str, settings: ScanSettings, ckpt: Checkpoint,
         progress: bool, name: str, prepared: dict, timings: dict) -> EnergyGrid:
    """Evaluate map ``m`` of the plan (``j`` of the whole scan) and wrap it in an EnergyGrid with its metadata."""
    t1 = time.perf_counter()
    ops = plan.operations[m]
    int_ops = ops.integer_ops(plan.shape) if settings.symmetry else None
    ceiling = None if settings.ceiling is None else DEFAULT_CEILING_EV if settings.ceiling == "auto" else settings.ceiling
    evaluation = MapEvaluation(j, plan.frameworks[m].structure, pot, ion, plan.shape, int_ops, plan.excluded[m], ckpt,
                               batch_size=settings.batch_size, sites_frac=_site_fracs(plan, m, ion))
    energies, stats = evaluation.run(refine=settings.refine, ceiling_ev=ceiling, progress=progress,
                                     auto_max_ev=AUTO_CEILING_MAX_EV if settings.ceiling == "auto" else None)
    if not np.isfinite(energies).any():
        raise ModelError(f"potential {name!r} returned no finite energy for map {j + 1}")
    lattice = np.asarray(plan.structure.lattice.matrix, dtype=np.float64)
    meta = {
        "ion": ion, "model": name, **plan.frameworks[m].meta, "n_mobile": prepared.get("n_mobile"),
        "energy": "total energy of framework + probe (eV)",
        "spacing": None if settings.shape is not None else settings.spacing,
        "spacing_ang": [float(x) for x in np.linalg.norm(lattice, axis=1) / np.asarray(plan.shape)],
        "shape": list(plan.shape), "requested_shape": list(plan.requested_shape),
        "relax": prepared["relax"], "order": prepared["order"],
        "symmetry": settings.symmetry,
        "spacegroup": ops.spacegroup if settings.symmetry else None,
        "symmetry_deviation_ang": ops.deviation_ang if settings.symmetry else None,
        "symprec": SYMPREC, "origin_shift_frac": plan.origin_shift, "min_distance": plan.radii,
        "ceiling": settings.ceiling, "refine": settings.refine, "device": settings.device,
        "batch_size": settings.batch_size,
        **{k: v for k, v in stats.items() if not k.endswith("_s")},
        "timings": {**timings, "map_s": round(time.perf_counter() - t1, 4), "map_setup_s": stats["setup_s"],
                    "potential_s": stats["potential_s"]},
        "ionnet_version": __version__,
    }
    meta.update(_mobile_sites(plan, m, ion, settings.symmetry))
    return EnergyGrid(energies, lattice, structure=plan.frameworks[m].structure, metadata=meta)


def _site_fracs(plan: GridPlan, m: int, ion: str) -> list[list[float]]:
    """Fractional positions of map ``m``'s mobile-ion sites: the scanned ion's site, or every mobile
    site of the empty framework."""
    fw = plan.frameworks[m].meta
    if "site_index" not in fw:
        return [[float(x) for x in site.frac_coords] for site in plan.structure if ion in site_elements(site)]
    return [[float(x) for x in plan.structure[fw["site_index"]].frac_coords]]


def _mobile_sites(plan: GridPlan, m: int, ion: str, symmetry: bool) -> dict:
    """Metadata of map ``m``'s sources: ``mobile_sites_frac`` (:func:`_site_fracs`) and
    ``orbit_node_ops`` (the node operations onto its orbit's maps)."""
    fw = plan.frameworks[m].meta
    out: dict = {"mobile_sites_frac": _site_fracs(plan, m, ion)}
    if "site_index" not in fw:
        return out
    if symmetry and len(fw.get("equivalent_sites", ())) > 1:
        out["orbit_node_ops"] = orbit_node_ops(plan.structure, fw["site_index"], fw["equivalent_sites"], plan.shape)
    return out
