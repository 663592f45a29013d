"""The scan options, declared once: :class:`ScanSettings` (and :class:`ScreenSettings`).

Every option of :func:`ionnet.scan` is a field here, with its default, its
check and its one-line help.  The same object is hashed into the checkpoint
key of a scan and the ``settings_hash`` of a screening database, and the
command line builds its ``--spacing``, ``--framework``... options from the
fields (``ionnet.commands._common.add_settings_arguments``), so the library,
the keys and the CLI cannot disagree.  The default grid connectivity of the
analysis lives here too (:data:`DEFAULT_CONNECTIVITY`).
"""
from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from .errors import GridError, ScanError, StructureError

__all__ = [
    "ScanSettings",
    "ScreenSettings",
    "FRAMEWORKS",
    "framework_name",
    "CONNECTIVITIES",
    "DEFAULT_CONNECTIVITY",
    "DEFAULT_THRESHOLDS",
    "check_connectivity",
    "check_thresholds",
]

#: ``framework=`` choices of a scan (``'vacancy'``, the old name of ``'occupied'``, is still accepted).
FRAMEWORKS = ("empty", "occupied")
#: Old framework names -> current ones (accepted with a one-time DeprecationWarning).
FRAMEWORK_ALIASES = {"vacancy": "occupied"}
#: Grid connectivities: face, face + edge, full-cube neighbours.
CONNECTIVITIES = (6, 18, 26)
#: Connectivity of :func:`ionnet.analyze`, of screening and of the command line.
DEFAULT_CONNECTIVITY = 26
#: Version of the ``order=True`` algorithm, part of the keys of ordered scans (2: ionnet.scanning.ordering).
ORDERING_VERSION = 2
#: Free-volume thresholds (eV) reported by summaries, screening rows and the command line.
DEFAULT_THRESHOLDS = (0.5, 0.9, 1.5)


_WARNED: set[str] = set()


def framework_name(framework: Any) -> str:
    """The current name of a framework mode: ``'vacancy'`` -> ``'occupied'`` (warned once), else as given.

    Raises
    ------
    ScanError
        Not ``'empty'``, ``'occupied'`` or ``'vacancy'``.

    Examples
    --------
    >>> framework_name("empty")
    'empty'
    """
    if framework in FRAMEWORK_ALIASES:
        new = FRAMEWORK_ALIASES[framework]
        if framework not in _WARNED:
            _WARNED.add(framework)
            warnings.warn(f"framework={framework!r} is now called {new!r} (one mobile ion moves, every other "
                          f"atom, the other mobile ions included, stays frozen); use framework={new!r}",
                          DeprecationWarning, stacklevel=3)
        return new
    if framework not in FRAMEWORKS:
        raise ScanError(f"`framework` must be 'empty' or 'occupied' (got {framework!r}); 'empty' removes every "
                        "mobile ion (migration barriers), 'occupied' keeps the others frozen (the method's ranking setting)")
    return str(framework)


def check_connectivity(connectivity: Any) -> int:
    """``connectivity`` as an int, or :class:`~ionnet.GridError` unless it is 6, 18 or 26."""
    if connectivity not in CONNECTIVITIES or isinstance(connectivity, bool):
        raise GridError(f"`connectivity` must be 6, 18 or 26 (got {connectivity!r})")
    return int(connectivity)


def check_thresholds(thresholds: Any) -> list[float]:
    """Thresholds as a list of floats (eV), or :class:`~ionnet.GridError` unless all are finite."""
    try:
        ts = [float(t) for t in thresholds]
    except (TypeError, ValueError):
        ts = [float("nan")]
    if not all(math.isfinite(t) for t in ts):
        raise GridError(f"`thresholds` must be finite energies in eV (got {thresholds!r})")
    return ts


def _option(default: Any, help: str, *, key: bool = True, new_key: bool = False, none: str = "none",
            **cli: Any) -> Any:
    """A settings field: ``key`` if it changes the energies; ``new_key`` if it joined the keys later
    (it then enters a key only when it differs from its default, so stored keys stay valid); ``none``
    says what a None default means; ``cli`` holds extra argparse keywords."""
    return field(default=default, metadata={"help": help, "key": key, "new_key": new_key, "none": none, "cli": cli})


def _spacing(value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise GridError(f"`spacing` must be a positive number of Å (got {value!r})") from None
    if not math.isfinite(v) or v <= 0:
        raise GridError(f"`spacing` must be > 0 Å and finite (got {value!r}); try 0.2")
    return v


def _shape(shape: Any) -> tuple[int, int, int] | None:
    if shape is None:
        return None
    try:
        shp = tuple(int(x) for x in shape)
        ok = len(shp) == 3 and all(x == y for x, y in zip(shp, shape)) and min(shp) >= 2
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise GridError(f"`shape` must be three integers >= 2 (na, nb, nc) (got {shape!r})")
    return shp  # type: ignore[return-value]


def _min_distance(value: Any) -> float | tuple[tuple[str, float], ...] | None:
    """None, a radius in Å, or a dict element -> Å stored as sorted pairs (hashable)."""
    if value is None:
        return None
    if isinstance(value, tuple) and value and all(isinstance(p, tuple) and len(p) == 2 for p in value):
        value = dict(value)  # the stored form, e.g. from replace()
    items = sorted(value.items()) if isinstance(value, Mapping) else [(None, value)]
    out = []
    for el, v in items:
        try:
            r = float(v)
        except (TypeError, ValueError):
            r = float("nan")
        if not math.isfinite(r) or r < 0:
            raise GridError(f"`min_distance` must be >= 0 Å (a number or a dict element -> Å; got {value!r})")
        out.append((str(el), r))
    return out[0][1] if not isinstance(value, Mapping) else tuple(out)


def ceiling_from_text(text: str) -> float | str | None:
    """``'auto'``, ``'none'`` or a number of eV, as typed on a command line."""
    t = text.strip().lower()
    return None if t == "none" else "auto" if t == "auto" else float(t)


def _ceiling(value: Any) -> float | str | None:
    if value is None or (isinstance(value, str) and value == "auto"):
        return value
    try:
        c = float(value)
    except (TypeError, ValueError):
        c = float("nan")
    if not math.isfinite(c) or c <= 0:
        raise GridError(f"`ceiling` must be 'auto', a number > 0 (eV) or None (got {value!r})")
    return c


@dataclass(frozen=True)
class ScanSettings:
    """Every option of :func:`ionnet.scan`, validated once; frozen and hashable.

    Build one with keywords (``ScanSettings(spacing=0.3, framework="empty")``),
    derive others with :meth:`replace`, and pass it as ``ionnet.scan(...,
    settings=...)``; keywords given to ``scan`` override its fields.

    Attributes
    ----------
    ion : str, default 'Li'
        The mobile ion (element symbol; ``'Li+'`` is accepted by ``scan``).
    model : str, path or potential object, default 'm3gnet'
        ``'m3gnet'``, ``'chgnet'``, ``'bvse'``, a matgl model folder, an ASE
        calculator, a callable or a potential (``ionnet.potentials.get_potential``).
    spacing : float, Å, default 0.2
        ``ceil(|a_i| / spacing)`` nodes along each lattice vector, rounded up to
        fit the symmetry when ``symmetry=True``.
    shape : (3,) ints or None
        An exact ``(na, nb, nc)`` instead of ``spacing``, never rounded (only the
        symmetry operations compatible with it are used).
    framework : {'empty', 'occupied'}, default 'empty'
        ``'empty'``: every mobile ion removed, one map: the dilute-carrier
        landscape, whose thresholds are migration barriers.  ``'occupied'``:
        the method's own ranking setting, one map per symmetry-distinct mobile
        ion, that ion is the probe and every other atom (the other mobile ions
        included) stays frozen; its thresholds are overestimated on purpose and
        only order materials.  ``'vacancy'`` (its old name) is accepted with a
        DeprecationWarning and stored as ``'occupied'``.
    order : bool, default False
        Order a partially occupied structure (``ionnet.scanning.ordering.order_structure``):
        occupancies rounded to what a supercell of at most ``max_sites`` sites
        holds, sites filled for the lowest Ewald energy (the mobile ion removed
        first with ``framework='empty'``); otherwise framework disorder is an error.
    max_sites : int, default 200
        Largest ordered supercell of ``order=True``, in sites.
    n_configurations : int, default 1
        Ordered configurations of ``order=True`` to scan (lowest Ewald energies
        first); each configuration's maps carry ``metadata['configuration']``.
    missing_ion : {'error', 'framework'}, default 'error'
        A structure holding no ``ion``: an error (a mistyped ion fails loudly), or,
        with ``framework='empty'`` only, the structure as given is the empty
        framework (e.g. a refinement that did not locate Li); its map has no
        mobile-ion sites, so the sources are the map's minimum and no carrier
        density (no σ) is known.
    relax : bool, default False
        Relax positions and cell with the potential's ``ase_calculator()`` before freezing.
    symmetry : bool, default True
        Evaluate one node per orbit of the framework's space group.
    min_distance : float, dict element -> Å, or None
        Nodes closer than this (Å) to a framework atom are not evaluated; None:
        ``EXCLUSION_FACTOR * (r_ion + r_atom)`` from ionic radii; 0: off.  A
        dict is stored as sorted ``(element, Å)`` pairs (:attr:`radii` gives the dict).
    refine : bool, default False
        Evaluate every second node first, then full resolution only where a
        coarse corner is below ``ceiling + REFINE_MARGIN_EV``; the other nodes
        are interpolated (they lie above the ceiling).
    ceiling : 'auto', float (eV) or None, default 'auto'
        The frontier check: every evaluated node within ``ceiling`` of the map's
        minimum gets all 26 neighbours evaluated, so every threshold and free
        volume at or below the ceiling equals a dense scan's.  ``'auto'``: 3 eV,
        raised to the map's MPE up to 6 eV (the value reached is
        ``metadata['ceiling_ev']``).  None: plain exclusion.
    device : str, default 'cpu'
        Torch device of the back end (not part of the keys).
    batch_size : int or None
        Structures per model call, passed to the back end (not part of the keys).

    Raises
    ------
    GridError
        Bad ``spacing``, ``shape``, ``min_distance`` or ``ceiling``.
    ScanError
        Bad ``framework`` or ``batch_size``.
    StructureError
        An ``ion`` that is not a string.

    Examples
    --------
    >>> from ionnet import ScanSettings
    >>> s = ScanSettings(spacing=0.3, framework="empty")
    >>> s.replace(spacing=0.5).spacing, s == ScanSettings(framework="empty", spacing=0.3)
    (0.5, True)
    >>> ScanSettings(min_distance={"O": 1.2}).min_distance
    (('O', 1.2),)
    >>> ScanSettings(spacing=-1)
    Traceback (most recent call last):
    ...
    ionnet.errors.GridError: `spacing` must be > 0 Å and finite (got -1); try 0.2
    """

    ion: str = _option("Li", "mobile ion element")
    model: Any = _option("m3gnet", "m3gnet | chgnet | bvse | PATH to a matgl model folder")
    spacing: float = _option(0.2, "grid spacing in Å", type=float)
    shape: tuple[int, int, int] | None = _option(
        None, "grid shape (na, nb, nc) instead of a spacing", none="from the spacing", type=int, nargs=3, metavar=("NA", "NB", "NC"))
    framework: str = _option(
        "empty", "empty: every mobile ion removed (migration barriers); occupied: one map per distinct mobile ion, "
        "the other mobile ions frozen (the method's ranking setting; old name: vacancy)",
        choices=FRAMEWORKS + tuple(FRAMEWORK_ALIASES))
    order: bool = _option(False, "order a disordered structure into supercells (rounded occupancies, lowest Ewald energy)")
    max_sites: int = _option(200, "largest ordered supercell of --order, in sites", new_key=True, type=int)
    n_configurations: int = _option(
        1, "ordered configurations of --order to scan (screening: descriptors as mean and spread)", new_key=True,
        type=int)
    missing_ion: str = _option(
        "error", "a structure without the mobile ion: error, or (framework='empty' only) scan it as given as "
        "the empty framework", new_key=True, choices=("error", "framework"))
    relax: bool = _option(False, "relax the structure with the same potential first")
    symmetry: bool = _option(True, "evaluate one node per orbit of the space group")
    min_distance: float | tuple[tuple[str, float], ...] | None = _option(
        None, "skip nodes closer than this (Å) to a framework atom", none="from ionic radii", type=float)
    refine: bool = _option(False, "coarse grid first, full resolution only near low energies (exact below the ceiling)")
    ceiling: float | str | None = _option(
        "auto", "frontier check: 'auto', eV above the minimum, or 'none' (plain exclusion)", new_key=True,
        type=ceiling_from_text)
    device: str = _option("cpu", "torch device of the model: cpu or cuda", key=False)
    batch_size: int | None = _option(None, "structures per model call", none="the back end's", key=False, type=int)

    def __post_init__(self) -> None:
        if not isinstance(self.ion, str) or not self.ion.strip():
            raise StructureError(f"`ion` must be an element symbol such as 'Li' (got {self.ion!r})")
        object.__setattr__(self, "framework", framework_name(self.framework))
        shape = _shape(self.shape)
        spacing = _spacing(self.spacing) if shape is None else self.spacing
        if self.missing_ion not in ("error", "framework"):
            raise ScanError(f"`missing_ion` must be 'error' or 'framework' (got {self.missing_ion!r})")
        for name in ("max_sites", "n_configurations"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ScanError(f"`{name}` must be a positive integer (got {v!r})")
            object.__setattr__(self, name, int(v))
        if self.batch_size is not None and (
            isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1
        ):
            raise ScanError(f"`batch_size` must be a positive integer or None (got {self.batch_size!r})")
        values = dict(
            shape=shape, spacing=spacing, min_distance=_min_distance(self.min_distance), ceiling=_ceiling(self.ceiling),
            order=bool(self.order), relax=bool(self.relax), symmetry=bool(self.symmetry), refine=bool(self.refine),
            model=os.fspath(self.model) if isinstance(self.model, os.PathLike) else self.model,
            device=str(self.device),
        )
        for name, v in values.items():
            object.__setattr__(self, name, v)

    # ----------------------------------------------------------------- building
    def replace(self, **changes: Any) -> "ScanSettings":
        """A copy with some fields changed (validated again).

        Raises
        ------
        ScanError
            A name that is not a field.
        """
        unknown = sorted(set(changes) - {f.name for f in fields(self)})
        if unknown:
            raise ScanError(
                f"unknown option(s) {', '.join(map(repr, unknown))}; "
                f"options: {', '.join(f.name for f in fields(self))}"
            )
        return replace(self, **changes)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ScanSettings":
        """Settings from a mapping, ignoring keys that are not fields (e.g. a screening row's)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def scan_settings(self) -> "ScanSettings":
        """Only the scan options (drops the fields a subclass adds)."""
        return ScanSettings(**{f.name: getattr(self, f.name) for f in fields(ScanSettings)})

    # ------------------------------------------------------------------ reading
    @property
    def radii(self) -> float | dict[str, float] | None:
        """``min_distance`` as given: None, one radius (Å) or a dict element -> Å."""
        return dict(self.min_distance) if isinstance(self.min_distance, tuple) else self.min_distance

    def _json(self, name: str) -> Any:
        v = getattr(self, name)
        if name == "min_distance":
            return self.radii
        if name == "shape":
            return None if v is None else list(v)
        if name == "spacing":
            return None if self.shape is not None else round(float(v), 6)
        if name == "model" and not isinstance(v, str):
            return getattr(v, "name", type(v).__name__)
        return v

    def to_dict(self) -> dict[str, Any]:
        """Every field as a JSON-ready value (a model object becomes its name)."""
        return {f.name: self._json(f.name) for f in fields(self)}

    def key(self) -> dict[str, Any]:
        """The fields that change the energies (``ion`` and ``model`` excluded), JSON-ready.

        A field that joined the keys later enters only when it differs from its
        default, so keys stored before it existed still match; ``framework='occupied'``
        enters under its old name ``'vacancy'`` for the same reason (one value, one key).
        """
        out = {}
        for f in fields(self):
            if not f.metadata.get("key") or f.name in ("ion", "model"):
                continue
            v = self._json(f.name)
            if f.metadata.get("new_key") and v == f.default:
                continue
            out[f.name] = v
        if out.get("framework") == "occupied":  # its old name, so checkpoints and databases made before stay valid
            out["framework"] = "vacancy"
        if self.order:  # keys of order=True scans made before the current ordering algorithm do not match
            out["ordering"] = ORDERING_VERSION
        return out


@dataclass(frozen=True)
class ScreenSettings(ScanSettings):
    """The scan options plus what a screening row also depends on (hashed into ``settings_hash``).

    ``model`` is stored as given (a model folder as its absolute path) and
    ``task`` names the function that turns a structure into grids.
    """

    connectivity: int = _option(DEFAULT_CONNECTIVITY, "grid connectivity of the analysis", choices=CONNECTIVITIES)
    task: str = _option("ionnet.scan", "the task run per structure")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "connectivity", check_connectivity(self.connectivity))

    def hash(self) -> str:
        """16 hex digits of SHA-256 over the canonical JSON of :meth:`key` (model and ion are columns)."""
        return hashlib.sha256(json.dumps(self.key(), sort_keys=True).encode()).hexdigest()[:16]
