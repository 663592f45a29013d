"""The screening database: one SQLite table of results, written by one process, read by many.

The database is in WAL mode and each result is one transaction.  A row is
keyed by ``(structure_key, model, ion, settings_hash)`` with a UNIQUE
constraint, so after a crash or SIGKILL at any moment a rerun skips every
structure that already has a row: nothing is lost and nothing is stored twice.
A failed row is replaced only by a later success.

A structure ordered into several configurations (``order=True``,
``n_configurations``) has one row in ``results`` holding the mean over the
configurations (``spread`` holds their standard deviations) and one row per
configuration in ``configurations``, written in the same transaction.

Schema versions: 1 (no transport columns, no ``configurations`` table) is
upgraded in place to 2 when a database is opened for writing (columns added,
stored rows kept, their new columns NULL); a reader of a version-1 database
sees NULL there.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import datetime, timezone

from .._version import __version__
from ..errors import ScreenError
from ..io.files import ensure_folder
from ..settings import ScreenSettings

__all__ = ["SCHEMA_VERSION", "FV_CURVE_STEP_EV", "FV_CURVE_MAX_EV", "connect", "record", "existing_status", "read_results",
           "read_configurations", "model_key", "schema_version"]

SCHEMA_VERSION = 2
#: Free-volume curve stored per row: FV(t) for t = 0, 0.01, ..., 3 eV.
FV_CURVE_STEP_EV = 0.01
FV_CURVE_MAX_EV = 3.0

def model_key(model: str | os.PathLike) -> str:
    """Built-in names stay as they are; a path becomes its absolute path.

    Raises
    ------
    ScreenError
        ``model`` is an object: screening stores models by name or folder.
    """
    if not isinstance(model, (str, os.PathLike)):
        raise ScreenError(f"`model` must be a model name or folder for screening (got a {type(model).__name__})")
    m = os.fspath(model)
    if os.path.exists(m):
        return os.path.abspath(m)
    return m


_COLUMNS = [
    "structure_key", "structure_id", "path", "formula", "model", "ion", "settings_hash", "settings",
    "status", "error_type", "error",
    "mpe", "e2d", "e3d", "fvc", "fvd", "xi", "xi_cell", "e_min", "n_sites", "n_maps", "grid_shape",
    "descriptors", "fv_curve", "grid_file", "t_scan_s", "t_analysis_s", "t_total_s", "worker",
    "ionnet_version", "created_at", "updated_at",
    "ea", "log10_sigma_300", "n_configurations", "spread", "ordering",
]
#: Columns added by schema 2 (name, SQL type): ALTER TABLE adds them to a version-1 database.
_V2_COLUMNS = [("ea", "REAL"), ("log10_sigma_300", "REAL"), ("n_configurations", "INTEGER"), ("spread", "TEXT"),
               ("ordering", "TEXT")]
#: Scalar descriptors kept per configuration (beside the JSON of the whole row).
CONFIG_COLUMNS = ["mpe", "e2d", "e3d", "fvc", "fvd", "xi", "xi_cell", "ea", "log10_sigma_300"]
_JSON_COLUMNS = ("descriptors", "fv_curve", "settings", "grid_shape", "spread", "ordering")

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    structure_key TEXT NOT NULL,
    structure_id TEXT, path TEXT, formula TEXT,
    model TEXT NOT NULL, ion TEXT NOT NULL,
    settings_hash TEXT NOT NULL, settings TEXT,
    status TEXT NOT NULL CHECK (status IN ('ok', 'failed')),
    error_type TEXT, error TEXT,
    mpe REAL, e2d REAL, e3d REAL, fvc REAL, fvd REAL, xi REAL, xi_cell REAL, e_min REAL,
    n_sites INTEGER, n_maps INTEGER, grid_shape TEXT,
    descriptors TEXT, fv_curve TEXT, grid_file TEXT,
    t_scan_s REAL, t_analysis_s REAL, t_total_s REAL, worker TEXT,
    ionnet_version TEXT, attempts INTEGER NOT NULL DEFAULT 1,
    created_at TEXT, updated_at TEXT,
    ea REAL, log10_sigma_300 REAL, n_configurations INTEGER, spread TEXT, ordering TEXT,
    UNIQUE (structure_key, model, ion, settings_hash)
);
CREATE INDEX IF NOT EXISTS results_model_status ON results (model, ion, status);
CREATE TABLE IF NOT EXISTS ionnet_meta (key TEXT PRIMARY KEY, value TEXT);
INSERT OR IGNORE INTO ionnet_meta VALUES ('schema_version', '{SCHEMA_VERSION}');
"""

_CONFIG_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS configurations (
    structure_key TEXT NOT NULL, model TEXT NOT NULL, ion TEXT NOT NULL, settings_hash TEXT NOT NULL,
    configuration INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in CONFIG_COLUMNS)},
    descriptors TEXT,
    PRIMARY KEY (structure_key, model, ion, settings_hash, configuration)
);
"""

_UPSERT = (
    f"INSERT INTO results ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (structure_key, model, ion, settings_hash) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c not in ("structure_key", "model", "ion",
                                                                     "settings_hash", "created_at"))
    + ", attempts = results.attempts + 1 "
    "WHERE results.status != 'ok' OR excluded.status = 'ok'"
)


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _check_db_file(path: str, shown: str, *, create: bool) -> None:
    """Refuse, before SQLite touches it, a path that is not (or cannot become) a results database."""
    if os.path.isdir(path):
        raise ScreenError(f"results database {shown} is a folder; give a file such as results.sqlite")
    if not os.path.exists(path):
        if not create:
            raise ScreenError(f"results database not found: {shown}; screen structures into it first")
        ensure_folder(os.path.dirname(os.path.abspath(path)), f"the folder of results database {shown}", ScreenError)
        return
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(_SQLITE_MAGIC))
    except OSError as e:
        raise ScreenError(f"cannot read results database {shown} ({e.strerror})") from None
    if not head and not create:
        raise ScreenError(f"results database {shown} is an empty file, not a database; screen structures into "
                          "another file (or delete this one)")
    if head and head != _SQLITE_MAGIC:
        raise ScreenError(f"{shown} is not an SQLite database (an ionnet screening database); "
                          "give another --db file, nothing was written")


def connect(db: str | os.PathLike, *, create: bool = True) -> sqlite3.Connection:
    """Open (``create=True``: create or upgrade) a results database.

    Reading (``create=False``) opens it read-only and changes nothing, so a
    database on read-only media can be ranked; a missing, empty, foreign or
    damaged file is refused with a one-line :class:`~ionnet.errors.ScreenError`
    and left as it was.
    """
    from ..io.files import one_line

    path = os.fspath(db)
    shown = one_line(path)
    _check_db_file(path, shown, create=create)
    con = None
    try:
        if create:
            con = sqlite3.connect(path, timeout=60.0, isolation_level=None)  # autocommit; explicit BEGIN below
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: committed rows survive a process kill
            con.execute("PRAGMA busy_timeout=60000")
            con.executescript(_SCHEMA)
            _upgrade(con)
        else:
            from urllib.parse import quote

            uri = f"file:{quote(os.path.abspath(path))}"
            try:
                con = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
                ok = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='results'").fetchone()
            except sqlite3.OperationalError:  # read-only media: a WAL database cannot make its -shm file
                if con is not None:
                    con.close()
                con = sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
                ok = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='results'").fetchone()
            if not ok:
                raise ScreenError(f"{shown} is not an ionnet screening database (no 'results' table)")
        ver = schema_version(con)
        if ver > SCHEMA_VERSION:
            raise ScreenError(f"{shown} was written by a newer ionnet (schema {ver} > {SCHEMA_VERSION}); "
                              "upgrade ionnet")
    except ScreenError:
        if con is not None:
            con.close()
        raise
    except (sqlite3.Error, ValueError) as e:
        if con is not None:
            con.close()
        raise ScreenError(f"cannot open results database {shown}: {one_line(e, 150)}") from None
    return con


def schema_version(con: sqlite3.Connection) -> int:
    """The schema version stored in the database (1 when the meta table has none)."""
    try:
        ver = con.execute("SELECT value FROM ionnet_meta WHERE key='schema_version'").fetchone()
    except sqlite3.OperationalError:
        return 1
    return int(ver[0]) if ver else 1


def _upgrade(con: sqlite3.Connection) -> None:
    """Bring a database written by an older ionnet to :data:`SCHEMA_VERSION` (new columns NULL, rows kept)."""
    have = {r[1] for r in con.execute("PRAGMA table_info(results)")}
    missing = [(c, t) for c, t in _V2_COLUMNS if c not in have]
    con.execute("BEGIN IMMEDIATE")
    try:
        for c, t in missing:
            con.execute(f"ALTER TABLE results ADD COLUMN {c} {t}")
        con.execute(_CONFIG_SCHEMA)
        if schema_version(con) < SCHEMA_VERSION:
            con.execute("UPDATE ionnet_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _storable(v: object) -> object:
    """``v`` with text SQLite can store: a file name that is not UTF-8 (surrogate escapes) gets ``\\xNN``."""
    if isinstance(v, str):
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            return v.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return v


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def record(con: sqlite3.Connection, row: dict, settings: ScreenSettings, settings_hash: str) -> None:
    """Store one result in its own transaction (the only writer is the parent process)."""
    d = row.get("descriptors") or {}
    now = _now()
    values = {
        "structure_key": row["key"],
        "structure_id": row["structure_id"],
        "path": row["path"],
        "formula": row.get("formula"),
        "model": settings.model,
        "ion": settings.ion,
        "settings_hash": settings_hash,
        "settings": json.dumps(settings.to_dict(), sort_keys=True),
        "status": row["status"],
        "error_type": row.get("error_type"),
        "error": row.get("error"),
        "mpe": d.get("mpe"),
        "e2d": d.get("e2d"),
        "e3d": d.get("e3d"),
        "fvc": d.get("fvc"),
        "fvd": d.get("fvd"),
        "xi": d.get("xi"),
        "xi_cell": d.get("xi_cell"),
        "e_min": d.get("e_min"),
        "n_sites": d.get("n_sites"),
        "n_maps": d.get("n_maps"),
        "grid_shape": json.dumps(d["grid_shape"]) if d.get("grid_shape") else None,
        "descriptors": json.dumps(d) if d else None,
        "fv_curve": json.dumps(row["fv_curve"]) if row.get("fv_curve") else None,
        "grid_file": row.get("grid_file"),
        "t_scan_s": row.get("t_scan_s"),
        "t_analysis_s": row.get("t_analysis_s"),
        "t_total_s": row.get("t_total_s"),
        "worker": row.get("worker"),
        "ionnet_version": __version__,
        "created_at": now,
        "updated_at": now,
        "ea": d.get("ea"),
        "log10_sigma_300": d.get("log10_sigma_300"),
        "n_configurations": d.get("n_configurations"),
        "spread": json.dumps(d["spread"]) if d.get("spread") else None,
        "ordering": json.dumps(row["ordering"]) if row.get("ordering") else None,
    }
    values = {c: _storable(v) for c, v in values.items()}
    key = (values["structure_key"], settings.model, settings.ion, settings_hash)
    for attempt in range(20):
        try:
            con.execute("BEGIN IMMEDIATE")
            con.execute(_UPSERT, [values[c] for c in _COLUMNS])
            if row["status"] == "ok":
                _record_configurations(con, key, row.get("configurations") or [])
            con.execute("COMMIT")
            return
        except sqlite3.OperationalError as e:  # database locked by another writer: wait and retry
            try:
                con.execute("ROLLBACK")
            except sqlite3.OperationalError:
                pass
            if "locked" not in str(e) and "busy" not in str(e):
                raise
            time.sleep(0.1 * (attempt + 1))
    raise ScreenError(f"results database stayed locked; could not store {row['structure_id']}")


def _record_configurations(con: sqlite3.Connection, key: tuple, configs: list[dict]) -> None:
    """Replace the per-configuration rows of one result (inside the caller's transaction)."""
    con.execute("DELETE FROM configurations WHERE structure_key = ? AND model = ? AND ion = ? AND settings_hash = ?",
                key)
    cols = ["structure_key", "model", "ion", "settings_hash", "configuration", *CONFIG_COLUMNS, "descriptors"]
    sql = f"INSERT INTO configurations ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    for k, d in enumerate(configs):
        con.execute(sql, [*key, k, *[d.get(c) for c in CONFIG_COLUMNS], json.dumps(d)])


def existing_status(con: sqlite3.Connection, settings: ScreenSettings, settings_hash: str) -> dict[str, str]:
    cur = con.execute(
        "SELECT structure_key, status FROM results WHERE model = ? AND ion = ? AND settings_hash = ?",
        (settings.model, settings.ion, settings_hash),
    )
    return dict(cur.fetchall())


def read_results(
    db: str | os.PathLike,
    *,
    model: str | None = None,
    ion: str | None = None,
    settings_hash: str | None = None,
    status: str | None = "ok",
) -> list[dict]:
    """All stored rows (dicts, JSON columns decoded), optionally filtered.

    ``status=None`` returns ok and failed rows.  ``model`` matches the stored
    model name, or the absolute path of a model folder.
    """
    con = connect(db, create=False)
    try:
        con.row_factory = sqlite3.Row
        where, args = [], []
        if model is not None:
            where.append("model = ?")
            args.append(model_key(model))
        if ion is not None:
            where.append("ion = ?")
            args.append(ion)
        if settings_hash is not None:
            where.append("settings_hash LIKE ?")
            args.append(settings_hash + "%")
        if status is not None:
            where.append("status = ?")
            args.append(status)
        sql = "SELECT * FROM results" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        rows = [dict(r) for r in con.execute(sql, args).fetchall()]
    finally:
        con.close()
    for r in rows:
        for k in _JSON_COLUMNS:
            if r.get(k):
                r[k] = json.loads(r[k])
    return rows


def read_configurations(db: str | os.PathLike, structure_key: str, *, model: str, ion: str,
                        settings_hash: str) -> list[dict]:
    """The per-configuration descriptor rows of one result, by configuration index (empty for schema 1).

    Each dict is the configuration's ``descriptor_row`` (the JSON), with ``configuration``.
    """
    con = connect(db, create=False)
    try:
        has = con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name='configurations'").fetchone()
        if not has:
            return []
        cur = con.execute(
            "SELECT configuration, descriptors FROM configurations WHERE structure_key = ? AND model = ? AND ion = ? "
            "AND settings_hash = ? ORDER BY configuration", (structure_key, model_key(model), ion, settings_hash))
        return [{**json.loads(d), "configuration": int(k)} for k, d in cur.fetchall()]
    finally:
        con.close()
