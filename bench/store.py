"""The results store: one SQLite file holding every cell's status, metrics, provenance and figures.

One transaction per finished cell, so a run killed at any moment (Ctrl-C or ``kill -9``) keeps every
cell it finished and nothing half-written. WAL mode with a busy timeout lets several ``bench run``
processes and a ``bench report`` use one file at once; a run claims a cell before computing it
(:meth:`Store.claim`) so that runs sharing a store split the work, and a claim of a process that died
expires. The schema is versioned with SQLite's
``user_version``; :data:`MIGRATIONS` takes any older file to the current version on open.

A cell's result is kept in up to three records, one per scope of its families (:mod:`bench.keys`: the CNN
protocol is in the key of the families that read it only), written together in its transaction.
Reports read :meth:`Store.results`, one :class:`~bench.result.CellResult` per record (the latest result
of a key wins; :meth:`Store.records` gives them in their stored form), and
:meth:`Store.items`, the per-test-item values behind the paired tests of the leaderboards (per-item
correctness as bits, other values as float32: about 0.15 MB for a Fashion-MNIST cell).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import socket
import sqlite3
import time
import uuid
import zlib
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from registry import BenchError

from .keys import scopes_of, split
from .result import PRIOR_SAMPLES, SAMPLES, STATUSES, CellResult, FamilyRun

STORE_NAME = "results.db"

#: ``MIGRATIONS[v]`` takes a store at schema version ``v - 1`` to version ``v``: SQL statements, or functions of
#: the connection where SQL alone cannot (re-keying cells).
MIGRATIONS: dict[int, list[Any]] = {
    1: [
        """CREATE TABLE runs (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               started TEXT NOT NULL, ended TEXT, argv TEXT NOT NULL, provenance TEXT NOT NULL,
               computed INTEGER, reused INTEGER, failed INTEGER)""",
        f"""CREATE TABLE cells (
               key TEXT PRIMARY KEY,
               run_id INTEGER REFERENCES runs(id),
               dataset TEXT NOT NULL, model TEXT NOT NULL, noise TEXT NOT NULL,
               severity INTEGER NOT NULL, seed INTEGER NOT NULL, profile TEXT NOT NULL,
               status TEXT NOT NULL CHECK (status IN {STATUSES}), reason TEXT,
               params TEXT NOT NULL, provenance TEXT NOT NULL, extra TEXT NOT NULL,
               started TEXT, ended TEXT, wall_s REAL)""",
        """CREATE TABLE metrics (
               cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
               metric TEXT NOT NULL, family TEXT NOT NULL, value REAL, ci95 REAL, n INTEGER,
               higher_is_better INTEGER NOT NULL, unit TEXT, detail INTEGER NOT NULL, note TEXT,
               PRIMARY KEY (cell_key, metric))""",
        """CREATE TABLE artifacts (
               cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
               name TEXT NOT NULL, data BLOB NOT NULL,
               PRIMARY KEY (cell_key, name))""",
        "CREATE INDEX cells_by_grid ON cells (dataset, noise, severity, model)",
    ],
    2: [
        """CREATE TABLE timings (
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               run_id INTEGER REFERENCES runs(id),
               dataset TEXT NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL, checkpoint TEXT NOT NULL,
               backend TEXT NOT NULL, batch_size INTEGER NOT NULL, threads INTEGER NOT NULL,
               repeats INTEGER NOT NULL, median_ms REAL NOT NULL, p95_ms REAL NOT NULL, iqr_ms REAL NOT NULL,
               min_ms REAL NOT NULL, images_per_s REAL NOT NULL, machine TEXT NOT NULL,
               provenance TEXT NOT NULL, measured TEXT NOT NULL)""",
    ],
    3: [
        # how a metric is compared between models on the same test items, and on which per-item values
        "ALTER TABLE metrics ADD COLUMN test TEXT",
        "ALTER TABLE metrics ADD COLUMN items TEXT",
        """CREATE TABLE items (
               cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
               name TEXT NOT NULL, kind TEXT NOT NULL CHECK (kind IN ('bits', 'f4')),
               items_id TEXT NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL,
               PRIMARY KEY (cell_key, name))""",
    ],
    4: [
        # a cell a run is computing: other runs on the store leave it to that run while the run lives
        """CREATE TABLE claims (
               key TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
               since TEXT NOT NULL, seen REAL NOT NULL)""",
    ],
    5: [
        # results per cell and metric family: a family is computed (again) alone, at its own version
        f"""CREATE TABLE families (
               cell_key TEXT NOT NULL REFERENCES cells(key) ON DELETE CASCADE,
               family TEXT NOT NULL, version TEXT NOT NULL,
               status TEXT NOT NULL CHECK (status IN {STATUSES}), reason TEXT, traceback TEXT, wall_s REAL,
               figures TEXT NOT NULL, artifacts TEXT NOT NULL, run_id INTEGER REFERENCES runs(id),
               PRIMARY KEY (cell_key, family))""",
        # what each family declares (FamilySpec.describe): the reports' catalogue, installed or not
        "CREATE TABLE catalogue (family TEXT PRIMARY KEY, version TEXT NOT NULL, entry TEXT NOT NULL)",
        lambda con: _per_family(con),
    ],
    6: [
        # the augmentation protocol's family was named "downstream" before that name went to denoise-then-classify
        "UPDATE families SET family = 'augmentation' WHERE family = 'downstream'",
        "UPDATE metrics SET family = 'augmentation' WHERE family = 'downstream'",
        lambda con: _renamed_catalogue(con),
    ],
    7: [
        # the quick profile's CNNs converge in 10 epochs of their own set (20 before): cells whose results do not
        # depend on it are re-keyed under today's quick profile, so that they are not computed again
        lambda con: _requalified_quick(con),
    ],
    8: [
        # a cell's train_size is the number of images it trained on, not the profile's ask (digits: 1,347 of 5,000)
        lambda con: record_used_sizes(con),
    ],
    9: [
        # a cell's results kept per scope of its families (bench.keys): a family that trains no CNN no longer
        # has the CNN protocol in its key, so another --cnn-budget or --precision reads it back
        lambda con: _split_records(con),
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)
_METRIC_FIELDS = ("metric", "family", "value", "ci95", "n", "higher_is_better", "unit", "detail", "note", "test",
                  "items")
#: One inference timing: a model variant on a backend at a batch size (see :mod:`bench.timing`).
TIMING_FIELDS = ("dataset", "model", "variant", "checkpoint", "backend", "batch_size", "threads", "repeats",
                 "median_ms", "p95_ms", "iqr_ms", "min_ms", "images_per_s", "machine", "measured")


#: A claim whose owner is on another machine (its process cannot be looked up) and that has not been renewed
#: for this many seconds is taken to be dead; a driver renews its claims after every cell it stores.
CLAIM_TTL_S = 3600.0


@dataclass(frozen=True)
class Owner:
    """The process that claims cells: a driver of ``bench run`` (or of ``bench.run``)."""

    host: str
    pid: int
    token: str  # tells apart two owners with one pid (a pid reused after its process died)

    @classmethod
    def this_process(cls) -> Owner:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12])

    @property
    def name(self) -> str:
        return f"{self.host}/{self.pid}/{self.token}"


def _alive(host: str, pid: int, seen: float, clock: float) -> bool:
    """Whether a claim's owner may still be computing: its process exists (on this machine), or it renewed
    the claim within :data:`CLAIM_TTL_S` (on another)."""
    if host != socket.gethostname():
        return clock - seen < CLAIM_TTL_S
    import psutil

    try:  # a process that ended but was not yet reaped by its parent (a zombie) still has a pid
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.Error:
        return True  # exists, but cannot be inspected (another user's)


class StoreError(BenchError):
    """The store cannot be opened or is from a newer version of bench."""


def needs_computing(run: FamilyRun | None, version: str, rerun: str | None) -> bool:
    """Whether a family of a cell stored as ``run`` (None: not stored) is computed at ``version`` under
    ``--rerun``: not stored, stored at another version, or chosen by ``--rerun``."""
    return (run is None or run.version != version or rerun == "all"
            or (rerun == "failed" and run.status == "failed"))


def pending(store: Store, cells: list[Any], versions: dict[str, str], rerun: str | None) -> list[Any]:
    """The cells of ``cells`` (:class:`bench.grid.Cell`) that have families to compute, each naming only
    those (``versions``: each family's current version). A family is looked up in the record of its scope
    (:mod:`bench.keys`), and computed by the first cell that needs it: cells that differ only in what the family
    does not read (another CNN budget, for a family that trains no CNN) share its record."""
    wanted = {(cell.key, f): cell.key_of_family(f) for cell in cells for f in cell.families}
    stored = store.families(sorted(set(wanted.values())))
    out, taken = [], set()
    for cell in cells:
        todo = []
        for f in cell.families:
            record = wanted[(cell.key, f)]
            if (record, f) in taken or not needs_computing(stored.get(record, {}).get(f), versions[f], rerun):
                continue
            taken.add((record, f))
            todo.append(f)
        if todo:
            out.append(cell if tuple(todo) == cell.families else dataclasses.replace(cell, families=tuple(todo)))
    return out


def _finite(value: Any) -> Any:
    """NaN has no SQL value (SQLite would store NULL anyway); infinities are kept."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def pack_items(test: str, values: Any) -> tuple[str, int, bytes]:
    """Per-item values as stored (kind, count, data): correctness as bits (McNemar needs nothing more), the rest float32."""
    values = np.asarray(values, dtype=np.float32).ravel()
    if test == "mcnemar":
        return "bits", len(values), zlib.compress(np.packbits(values > 0.5).tobytes())
    return "f4", len(values), zlib.compress(values.astype("<f4").tobytes(), 1)


def unpack_items(kind: str, n: int, data: bytes) -> np.ndarray:
    raw = zlib.decompress(data)
    if kind == "bits":
        return np.unpackbits(np.frombuffer(raw, dtype=np.uint8), count=n).astype(bool)
    return np.frombuffer(raw, dtype="<f4").astype(np.float64)


@dataclass(frozen=True)
class Items:
    """One cell's per-test-item values of one vector (e.g. ``mse`` or ``acc_clean``). ``items_id`` names
    the test items: two vectors are paired only when their ids are equal."""

    items_id: str
    values: np.ndarray  # bool for per-item correctness, float64 otherwise


class Store:
    """A results store at ``path`` (created on first use). Cheap to open; one connection per call."""

    def __init__(self, path: Path | str, *, timeout: float = 120.0):
        self.path = Path(path)
        self.timeout = timeout
        self._ready = False

    # -- connection and schema --------------------------------------------------------------------
    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the results store {str(self.path)!r}: {exc}; "
                             "give --store a writable file path") from None
        with closing(con):
            try:
                con.execute("PRAGMA foreign_keys = ON")
                con.execute("PRAGMA synchronous = FULL")
                if not self._ready:
                    self._check(con)
                    self._migrate(con)
                    self._ready = True
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{str(self.path)!r} is not a bench results store ({exc}); "
                                 "give --store a new file or an existing results.db") from None
            try:
                yield con
            except sqlite3.DatabaseError as exc:
                if type(exc) is not sqlite3.DatabaseError:  # integrity, locking, ...: the caller's to handle
                    raise
                raise self._damaged(str(exc)) from None

    def _damaged(self, why: str) -> StoreError:
        return StoreError(f"the results store {str(self.path)!r} is damaged ({why}); nothing more was written to "
                          "it. Go on with a new --out (or --store), and 'bench import' the results.json of an "
                          "earlier report of this store if you have one")

    def _check(self, con: sqlite3.Connection) -> None:
        """SQLite's ``quick_check`` of the file when it opens, before anything is read or written: a damaged
        store is named before a run adds to it. Skipped when the file has not changed since it last passed
        (its size and modification time, kept beside it in ``results.db.checked``): a run with nothing to do
        changes nothing, and costs no check (about 10 ms per 20 MB when it runs)."""
        try:
            stat = self.path.stat()
        except OSError:
            return  # a new store
        stamp = f"{stat.st_size} {stat.st_mtime_ns}"
        mark = self.path.with_name(self.path.name + ".checked")
        try:
            if mark.read_text() == stamp:
                return
        except OSError:
            pass
        found = con.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":
            raise self._damaged(f"SQLite's quick_check: {' '.join(str(found).split())}")
        try:
            mark.write_text(stamp)
        except OSError:
            pass  # a read-only directory: checked again next time

    def _migrate(self, con: sqlite3.Connection) -> None:
        if con.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            con.execute("PRAGMA journal_mode = WAL")
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        con.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
        version = con.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            con.execute("ROLLBACK")
            raise StoreError(f"the results store {str(self.path)!r} has schema version {version}; this bench "
                             f"reads up to {SCHEMA_VERSION}. Upgrade bench, or use another --store")
        for v in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[v]:
                statement(con) if callable(statement) else con.execute(statement)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as con:
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    yield con
                except BaseException:
                    try:
                        con.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # SQLite already rolled back (it does on a full disk)
                    raise
                con.execute("COMMIT")
            except sqlite3.OperationalError as exc:  # disk full, read-only file system, lock timeout
                raise StoreError(f"cannot write to the results store {str(self.path)!r}: {exc}; everything "
                                 "stored before is kept. Free some space or use another --store") from None

    @property
    def schema_version(self) -> int:
        with self._connect() as con:
            return con.execute("PRAGMA user_version").fetchone()[0]

    # -- runs ---------------------------------------------------------------------------------------
    def begin_run(self, argv: list[str], provenance: dict[str, Any], started: str) -> int:
        with self._transaction() as con:
            cur = con.execute("INSERT INTO runs (started, argv, provenance) VALUES (?, ?, ?)",
                              (started, json.dumps(argv), json.dumps(provenance, sort_keys=True)))
            return int(cur.lastrowid)

    def end_run(self, run_id: int, ended: str, *, computed: int, reused: int, failed: int) -> None:
        with self._transaction() as con:
            con.execute("UPDATE runs SET ended = ?, computed = ?, reused = ?, failed = ? WHERE id = ?",
                        (ended, computed, reused, failed, run_id))

    def runs(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            rows = con.execute("SELECT * FROM runs ORDER BY id").fetchall()
        return [{**dict(r), "argv": json.loads(r["argv"]), "provenance": json.loads(r["provenance"])} for r in rows]

    # -- cells --------------------------------------------------------------------------------------
    def add(self, result: CellResult, *, run_id: int | None = None, owner: Owner | None = None,
            scopes: dict[str, str] | None = None) -> list[CellResult]:
        """Store one cell's result with its metrics, per-item values and artifacts, atomically, in the records
        of its families' scopes (:func:`bench.keys.split`; ``scopes``: each family's, default what the store's
        catalogue declares); the cell's claim goes with it, and ``owner``'s other claims are renewed. A result of
        some families of a record already stored replaces those families and keeps the others
        (:func:`_merged`). Returns the records as stored (each merged with what was kept)."""
        result = with_families(result)
        if scopes is None:
            scopes = scopes_of(self.catalogue())
        with self._transaction() as con:
            con.execute("DELETE FROM claims WHERE key = ?", (result.key,))
            if owner is not None:
                con.execute("UPDATE claims SET seen = ? WHERE owner = ?", (time.time(), owner.name))
            return [_write(con, _merged(con, part), run_id, set(part.families))
                    for part in split(result, scopes)]

    def statuses(self, keys: list[str] | None = None) -> dict[str, str]:
        with self._connect() as con:
            if keys is None:
                return dict(con.execute("SELECT key, status FROM cells"))
            return dict(_where_in(con, "SELECT key, status FROM cells WHERE key", keys))

    def ended(self, keys: list[str], records: dict[str, list[str]] | None = None) -> dict[str, str | None]:
        """When each stored cell of ``keys`` was stored (its end time): a change means another run stored it.
        ``records``: the keys of the records each cell is kept in (:attr:`bench.grid.Cell.record_keys`; default
        the key itself); a cell is stored when all of them are, at their end times together."""
        with self._connect() as con:
            return _ended(con, keys, records)

    # -- claims -------------------------------------------------------------------------------------
    def claim(self, expected: dict[str, str | None], owner: Owner,
              records: dict[str, list[str]] | None = None) -> tuple[set[str], list[str]]:
        """Claim for ``owner``, at once, the keys of ``expected`` that are unclaimed, already ``owner``'s, or
        claimed by an owner that has died, unless another run stored them since: ``expected`` holds each
        key's end time as the caller last saw it (None: not stored; ``records`` as :meth:`ended` takes them).
        The keys claimed, and those stored since; the rest another live run is computing."""
        keys = list(expected)
        clock, stamp = time.time(), datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._transaction() as con:
            held = {k: (o, h, p, s) for k, o, h, p, s in
                    _where_in(con, "SELECT key, owner, host, pid, seen FROM claims WHERE key", keys)}
            ended = _ended(con, keys, records)
            elsewhere = [k for k in keys if ended.get(k) is not None and ended.get(k) != expected[k]]
            mine = {k for k in keys if k not in elsewhere
                    and (k not in held or held[k][0] == owner.name or not _alive(*held[k][1:], clock))}
            con.executemany("INSERT OR REPLACE INTO claims (key, owner, host, pid, since, seen) VALUES (?,?,?,?,?,?)",
                            [(k, owner.name, owner.host, owner.pid, stamp, clock) for k in mine])
        return mine, elsewhere

    def release(self, owner: Owner) -> None:
        """Give up every claim of ``owner`` (its run ends, or stops)."""
        with self._transaction() as con:
            con.execute("DELETE FROM claims WHERE owner = ?", (owner.name,))

    def claims(self) -> list[dict[str, Any]]:
        with self._connect() as con:
            con.row_factory = sqlite3.Row
            return [dict(r) for r in con.execute("SELECT * FROM claims ORDER BY key")]

    def status(self, key: str) -> str | None:
        return self.statuses([key]).get(key)

    def records(self) -> list[dict[str, Any]]:
        """Every cell's record in the order they were stored: ``{"cell", "status", "reason",
        "metrics", "provenance", "wall_s", "run_id", "families", ...extra}``."""
        with self._connect() as con:
            con.execute("BEGIN")  # one consistent snapshot while other processes write
            records = _records(con)
            con.execute("COMMIT")
        return records

    def describe_families(self, entries: list[dict[str, Any]]) -> None:
        """Keep what each family declares (:meth:`registry.FamilySpec.describe`), the latest version's."""
        kept = {f: json.dumps(e, sort_keys=True) for f, e in self.catalogue().items()}
        changed = [(e["name"], e["version"], json.dumps(e, sort_keys=True)) for e in entries
                   if kept.get(e["name"]) != json.dumps(e, sort_keys=True)]
        if not changed:  # an unchanged catalogue is not written: a run with nothing to do writes nothing
            return
        with self._transaction() as con:
            con.executemany("INSERT INTO catalogue (family, version, entry) VALUES (?, ?, ?) ON CONFLICT (family) "
                            "DO UPDATE SET version = excluded.version, entry = excluded.entry", changed)

    def record_used_sizes(self) -> None:
        """Cells added from a document of an earlier bench: their ``train_size`` the images used
        (:func:`record_used_sizes`)."""
        with self._transaction() as con:
            record_used_sizes(con)

    def catalogue(self) -> dict[str, dict[str, Any]]:
        """What each family of the store's results declares, by name, in the order they were first kept."""
        with self._connect() as con:
            return {f: json.loads(e) for f, e in con.execute("SELECT family, entry FROM catalogue ORDER BY rowid")}

    def families(self, keys: list[str]) -> dict[str, dict[str, FamilyRun]]:
        """How each stored cell of ``keys`` computed its families, by key and family name."""
        with self._connect() as con:
            return _families(con, keys)

    def results(self) -> list[CellResult]:
        """:meth:`records` as typed results (without their artifacts: :meth:`artifact` reads one)."""
        return [CellResult.from_record(r) for r in self.records()]

    def items(self, keys: list[str] | None = None) -> dict[tuple[str, str], Items]:
        """Per-item values by (cell key, vector name), of ``keys`` (default: every cell)."""
        with self._connect() as con:
            return _items(con, keys)

    def artifact_names(self) -> list[tuple[str, str]]:
        with self._connect() as con:
            return con.execute("SELECT cell_key, name FROM artifacts ORDER BY rowid").fetchall()

    def artifact(self, key: str, name: str) -> bytes | None:
        with self._connect() as con:
            row = con.execute("SELECT data FROM artifacts WHERE cell_key = ? AND name = ?", (key, name)).fetchone()
        return None if row is None else bytes(row[0])

    # -- timings ------------------------------------------------------------------------------------
    def add_timings(self, rows: list[dict[str, Any]], provenance: dict[str, Any], *, run_id: int | None = None) -> None:
        """Store measurements (dicts with :data:`TIMING_FIELDS`) in one transaction."""
        with self._transaction() as con:
            con.executemany(
                f"INSERT INTO timings (run_id, provenance, {', '.join(TIMING_FIELDS)}) "
                f"VALUES (?, ?, {', '.join('?' * len(TIMING_FIELDS))})",
                [(run_id, json.dumps(provenance, sort_keys=True), *(row[f] for f in TIMING_FIELDS)) for row in rows])

    def timings(self) -> list[dict[str, Any]]:
        """Every stored timing, oldest first, with its ``run_id`` and ``provenance``."""
        with self._connect() as con:
            rows = con.execute(f"SELECT run_id, provenance, {', '.join(TIMING_FIELDS)} FROM timings ORDER BY id")
            return [{"run_id": r[0], "provenance": json.loads(r[1]), **dict(zip(TIMING_FIELDS, r[2:]))} for r in rows]

    def fingerprint(self) -> str:
        """Changes whenever a cell or a timing is stored: reports built from an unchanged store need not be
        redrawn."""
        with self._connect() as con:
            count, last = con.execute("SELECT count(*), max(rowid) FROM cells").fetchone()
            changes = con.execute("SELECT coalesce(max(ended), '') FROM cells").fetchone()[0]
            timings = con.execute("SELECT count(*) FROM timings").fetchone()[0]
        return f"{SCHEMA_VERSION}:{count}:{last}:{changes}:{timings}"


#: What the built-in families of bench 0.1 made, for stores written before results were kept per family: each
#: stored family's figures and artifacts, and the families a failed or skipped cell had (all five; the
#: baseline's cells, the downstream family alone).
_V4_FIGURES = {"tsne": "latent", "traversal": "latent", "accuracy": "downstream"}
_V4_ARTIFACTS = {SAMPLES: "reconstruction", PRIOR_SAMPLES: "generative"}
_V4_FAMILIES = ("reconstruction", "latent", "likelihood", "downstream", "generative")
#: The families of bench 0.1 under the names the installed families have now (see schema 6).
_V4_NAMES_NOW = {"downstream": "augmentation"}


def _per_family(con: sqlite3.Connection) -> None:
    """Schema 5: every stored cell re-keyed by :func:`bench.grid.key_of` (keys no longer hash a profile's
    prose), and its families recorded at version "1" (the built-in families' first version), so that what
    was computed counts as computed."""
    from .grid import key_of

    con.execute("PRAGMA defer_foreign_keys = ON")  # children and parents re-keyed in one transaction
    if con.execute("SELECT count(*) FROM cells").fetchone()[0]:  # the built-in families computed them
        from registry import load_registry  # (through the entry point: bench.families imports this module)

        installed = {e.name: e.spec for e in load_registry(autoload=False).list("families")}
        now = [_V4_NAMES_NOW.get(name, name) for name in _V4_FAMILIES]  # today's names: schema 6 renames the rows
        con.executemany("INSERT INTO catalogue (family, version, entry) VALUES (?, ?, ?)",
                        [(f.name, f.version, json.dumps(f.describe())) for f in
                         (installed[name] for name in now if name in installed)])
    rows = con.execute("SELECT key, params, status, reason, extra, wall_s, run_id FROM cells").fetchall()
    for old, params, status, reason, extra, wall_s, run_id in rows:
        cell = json.loads(params)
        try:
            new = key_of(cell)
        except KeyError:  # a cell of a version that did not describe itself fully: left as it is
            new = old
        if new != old:
            cell["key"] = new
            con.execute("DELETE FROM cells WHERE key = ?", (new,))  # the same cell stored under both keys
            con.execute("UPDATE cells SET key = ?, params = ? WHERE key = ?",
                        (new, json.dumps(cell, sort_keys=True, default=str), old))
            for table in ("metrics", "artifacts", "items"):
                con.execute(f"UPDATE {table} SET cell_key = ? WHERE cell_key = ?", (new, old))
            con.execute("DELETE FROM claims WHERE key = ?", (old,))
        extra = json.loads(extra)
        artifacts = [n for (n,) in con.execute("SELECT name FROM artifacts WHERE cell_key = ?", (new,))]
        found = [f for (f,) in con.execute("SELECT DISTINCT family FROM metrics WHERE cell_key = ?", (new,))]
        runs = _v4_families(status, reason, extra.get("traceback"), wall_s, found, dict(extra.get("figures") or {}),
                            artifacts, cell.get("model_name") == "baseline")
        _insert_families(con, new, {name: dataclasses.replace(r, run_id=run_id) for name, r in runs.items()})


#: What the family stored as "downstream" before schema 6 (the augmentation protocol) is named now, and the
#: metric names that tell its results apart in a document of that time.
LEGACY_DOWNSTREAM = "augmentation"
LEGACY_DOWNSTREAM_METRICS = ("acc_clean", "acc_noisy", "acc_corrupted", "rel_ce")


def legacy_downstream(entry: dict[str, Any]) -> bool:
    """Whether a catalogue entry named "downstream" is the augmentation protocol's of an earlier bench."""
    return entry.get("name") == "downstream" and entry.get("headline") in LEGACY_DOWNSTREAM_METRICS


def renamed_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """A catalogue entry of an earlier bench under today's name (the augmentation family's, see schema 6)."""
    if not legacy_downstream(entry):
        return entry
    metrics = [{**m, "family": LEGACY_DOWNSTREAM} if m.get("family") == "downstream" else m
               for m in entry.get("metrics", ())]
    return {**entry, "name": LEGACY_DOWNSTREAM, "metrics": metrics}


def _renamed_catalogue(con: sqlite3.Connection) -> None:
    """Schema 6: the stored declaration of the augmentation family, stored as "downstream", renamed."""
    row = con.execute("SELECT version, entry FROM catalogue WHERE family = 'downstream'").fetchone()
    if row is None:
        return
    con.execute("DELETE FROM catalogue WHERE family = 'downstream'")
    con.execute("INSERT OR REPLACE INTO catalogue (family, version, entry) VALUES (?, ?, ?)",
                (LEGACY_DOWNSTREAM, row[0], json.dumps(renamed_entry({**json.loads(row[1]), "name": "downstream"}))))


#: What the quick profile's converged CNN budget was before schema 7, and what it is now.
QUICK_CONVERGED_BEFORE, QUICK_CONVERGED_NOW = 20, 10
#: Families whose results depend on the converged budget when a cell runs under it (they train CNNs under the
#: cell's budget): their cells keep their old keys, and are computed again under today's quick profile.
_BUDGET_FAMILIES = ("augmentation", "generative", "downstream")


def requalified(cell: dict[str, Any], families: Any) -> dict[str, Any]:
    """A cell's described columns under today's quick profile when its stored ``families`` do not depend on the
    converged budget the quick profile changed (schema 7); else the cell as it is."""
    params = cell.get("profile_params") or {}
    if cell.get("profile") != "quick" or params.get("cnn_converged_epochs") != QUICK_CONVERGED_BEFORE:
        return cell
    if cell.get("cnn_budget", "epochs") == "converged" and any(f in _BUDGET_FAMILIES for f in families):
        return cell
    return {**cell, "profile_params": {**params, "cnn_converged_epochs": QUICK_CONVERGED_NOW}}


def _split_records(con: sqlite3.Connection) -> None:
    """Schema 9: every stored cell cut into the records of its families' scopes (:func:`bench.keys.split`, the
    scopes from the store's catalogue), each under its own key. Records that land on one key (the plain
    families of two CNN budgets' cells) are merged, the later stored winning for a family both hold; what each
    family computed keeps the run that computed it."""
    scopes = scopes_of({f: json.loads(e) for f, e in con.execute("SELECT family, entry FROM catalogue")})
    for (key,) in con.execute("SELECT key FROM cells ORDER BY rowid").fetchall():
        record = _records(con, [key])[0]
        items = {name: {"test": "mcnemar" if v.values.dtype == bool else "paired-t", "items_id": v.items_id,
                        "values": v.values} for (_, name), v in _items(con, [key]).items()}
        artifacts = {n: bytes(d) for n, d in con.execute("SELECT name, data FROM artifacts WHERE cell_key = ?", (key,))}
        result = CellResult.from_record({**record, "items": items}, artifacts)
        parts = split(result, scopes)
        if len(parts) == 1 and parts[0].cell == result.cell:
            continue
        con.execute("DELETE FROM cells WHERE key = ?", (key,))  # cascades to its metrics, items, artifacts, families
        for part in parts:
            _write(con, _merged(con, part), part.run_id, set())


def record_used_sizes(con: sqlite3.Connection) -> None:
    """Every stored cell's ``train_size`` set to the images its models trained on where a cell of its dataset and
    profile recorded them (``train.train_size``; a baseline cell gets its split's): digits asked for 5,000 under
    the quick profile and had 1,347. The key does not change (it hashes the profile's size, not this column)."""
    cells = [(key, json.loads(params), json.loads(extra or "{}")) for key, params, extra in
             con.execute("SELECT key, params, extra FROM cells")]
    group = lambda c: json.dumps([c.get("dataset"), c.get("dataset_fingerprint"),  # noqa: E731
                                  (c.get("profile_params") or {}).get("train_size")])
    used: dict[str, set[int]] = {}
    for _, cell, extra in cells:
        size = (extra.get("train") or {}).get("train_size")
        if size:
            used.setdefault(group(cell), set()).add(int(size))
    for key, cell, _ in cells:
        sizes = used.get(group(cell), set())
        if len(sizes) == 1 and cell.get("train_size") != next(iter(sizes)):
            cell["train_size"] = next(iter(sizes))
            con.execute("UPDATE cells SET params = ? WHERE key = ?", (json.dumps(cell, sort_keys=True, default=str), key))


def _requalified_quick(con: sqlite3.Connection) -> None:
    """Schema 7: cells of the quick profile stored when its CNNs converged in 20 epochs, re-keyed under the
    10 epochs of today's quick profile where none of their families depends on it (:func:`requalified`)."""
    from .grid import key_of

    con.execute("PRAGMA defer_foreign_keys = ON")
    for old, params in con.execute("SELECT key, params FROM cells").fetchall():
        cell = json.loads(params)
        families = [f for (f,) in con.execute("SELECT family FROM families WHERE cell_key = ?", (old,))]
        moved = requalified(cell, families)
        if moved is cell:
            continue
        try:
            new = key_of(moved)
        except KeyError:
            continue
        if new == old:
            continue
        moved = {**moved, "key": new}
        if con.execute("SELECT count(*) FROM cells WHERE key = ?", (new,)).fetchone()[0]:
            continue  # already computed under today's profile: the newer result stays, the old one as it was
        con.execute("UPDATE cells SET key = ?, params = ? WHERE key = ?",
                    (new, json.dumps(moved, sort_keys=True, default=str), old))
        for table in ("metrics", "artifacts", "items", "families"):
            con.execute(f"UPDATE {table} SET cell_key = ? WHERE cell_key = ?", (new, old))
        con.execute("DELETE FROM claims WHERE key = ?", (old,))


def _merged(con: sqlite3.Connection, result: CellResult) -> CellResult:
    """``result`` with the stored families of its cell that it does not recompute: their metrics, per-item
    values, figures, artifacts and facts (CNN steps) are kept. The cell is done while one of its
    families is."""
    stored = _families(con, [result.key]).get(result.key, {})
    kept = {name: run for name, run in stored.items() if name not in result.families}
    if not kept or result.status == "skipped":
        return result
    old = _records(con, [result.key])[0]
    metrics = [m for m in old["metrics"] if m["family"] in kept]
    vectors = {m["items"] for m in metrics if m.get("items")}
    items = {name: {"test": "mcnemar" if v.values.dtype == bool else "paired-t", "items_id": v.items_id,
                    "values": v.values}
             for (_, name), v in _items(con, [result.key]).items() if name in vectors}
    figures = {kind: path for kind, path in (old.get("figures") or {}).items()
               if any(kind in run.figures for run in kept.values())}
    names = {n for run in kept.values() for n in run.artifacts}
    artifacts = {n: bytes(d) for n, d in con.execute("SELECT name, data FROM artifacts WHERE cell_key = ?",
                                                    (result.key,)) if n in names}
    previous = CellResult.from_record(old)
    families = {**kept, **result.families}
    done = any(run.status == "done" for run in families.values())
    return dataclasses.replace(
        result, status="done" if done else result.status, reason=None if done else result.reason,
        metrics=[*metrics, *result.metrics], items={**items, **result.items},
        figures={**figures, **result.figures}, artifacts={**artifacts, **result.artifacts}, families=families,
        cnn=result.cnn or previous.cnn, training=result.training or previous.training,
        footprint=result.footprint or previous.footprint)

def _records(con: sqlite3.Connection, keys: list[str] | None = None) -> list[dict[str, Any]]:
    query = "SELECT key, status, reason, params, provenance, extra, wall_s, run_id FROM cells"
    cells = (con.execute(f"{query} ORDER BY rowid").fetchall() if keys is None
             else _where_in(con, f"{query} WHERE key", keys))
    query = f"SELECT rowid, cell_key, {', '.join(_METRIC_FIELDS)} FROM metrics"
    rows = (con.execute(f"{query} ORDER BY rowid").fetchall() if keys is None
            else sorted(_where_in(con, f"{query} WHERE cell_key", keys)))  # as stored, not by the index's order
    metrics: dict[str, list[dict[str, Any]]] = {}
    for _, *row in rows:
        m = dict(zip(_METRIC_FIELDS, row[1:]))
        m.update(value=_number(m["value"]), ci95=_number(m["ci95"]),
                 higher_is_better=bool(m["higher_is_better"]), detail=bool(m["detail"]))
        metrics.setdefault(row[0], []).append(m)
    families = _families(con, keys)
    return [{**json.loads(extra), "cell": json.loads(params), "status": status, "reason": reason,
             "metrics": metrics.get(key, []), "provenance": json.loads(prov), "wall_s": wall_s, "run_id": run_id,
             "families": {name: run.record() for name, run in families.get(key, {}).items()}}
            for key, status, reason, params, prov, extra, wall_s, run_id in cells]

def _families(con: sqlite3.Connection, keys: list[str] | None = None) -> dict[str, dict[str, FamilyRun]]:
    query = ("SELECT cell_key, family, version, status, reason, traceback, wall_s, figures, artifacts, run_id "
             "FROM families")
    rows = con.execute(query).fetchall() if keys is None else _where_in(con, f"{query} WHERE cell_key", keys)
    out: dict[str, dict[str, FamilyRun]] = {}
    for key, family, version, status, reason, trace, wall_s, figures, artifacts, run_id in rows:
        out.setdefault(key, {})[family] = FamilyRun(version, status, reason, trace, wall_s or 0.0,
                                                    tuple(json.loads(figures)), tuple(json.loads(artifacts)), run_id)
    return out

def _items(con: sqlite3.Connection, keys: list[str] | None = None) -> dict[tuple[str, str], Items]:
    query = "SELECT cell_key, name, kind, items_id, n, data FROM items"
    rows = con.execute(query).fetchall() if keys is None else _where_in(con, f"{query} WHERE cell_key", keys)
    return {(key, name): Items(items_id, unpack_items(kind, n, bytes(data))) for key, name, kind, items_id, n, data in rows}


def _write(con: sqlite3.Connection, result: CellResult, run_id: int | None, computed: set[str]) -> CellResult:
    """Write one record (replacing the one of its key), its metrics, artifacts, per-item values and families;
    the families of ``computed`` as computed by ``run_id``. Returns it as stored."""
    record = result.record()
    cell = record["cell"]
    provenance = record.get("provenance") or {}
    known = {"cell", "status", "reason", "metrics", "provenance", "wall_s", "items", "run_id", "families"}
    extra = {k: v for k, v in record.items() if k not in known}
    con.execute("DELETE FROM cells WHERE key = ?", (cell["key"],))  # cascades to metrics, artifacts
    con.execute(
        "INSERT INTO cells (key, run_id, dataset, model, noise, severity, seed, profile, status, reason,"
        " params, provenance, extra, started, ended, wall_s) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (cell["key"], run_id, cell["dataset"], cell["model"], cell["noise"], cell["severity"], cell["seed"],
         cell["profile"], record["status"], record.get("reason"), json.dumps(cell, sort_keys=True, default=str),
         json.dumps(provenance, sort_keys=True, default=str), json.dumps(extra, sort_keys=True, default=str),
         provenance.get("started"), provenance.get("ended"), record.get("wall_s")))
    con.executemany(
        f"INSERT INTO metrics (cell_key, {', '.join(_METRIC_FIELDS)}) VALUES (?{', ?' * len(_METRIC_FIELDS)})",
        [(cell["key"], *(_finite(m.get(f)) for f in _METRIC_FIELDS)) for m in record.get("metrics") or []])
    con.executemany("INSERT INTO artifacts (cell_key, name, data) VALUES (?, ?, ?)",
                    [(cell["key"], name, data) for name, data in (result.artifacts or {}).items()])
    con.executemany("INSERT INTO items (cell_key, name, kind, items_id, n, data) VALUES (?, ?, ?, ?, ?, ?)",
                    [(cell["key"], name, *_items_row(v)) for name, v in (record.get("items") or {}).items()])
    families = {name: dataclasses.replace(run, run_id=run_id) if name in computed else run
                for name, run in result.families.items()}
    _insert_families(con, cell["key"], families)
    return dataclasses.replace(result, families=families, run_id=run_id)


def _insert_families(con: sqlite3.Connection, key: str, runs: dict[str, FamilyRun]) -> None:
    con.executemany("INSERT INTO families (cell_key, family, version, status, reason, traceback, wall_s, figures, "
                    "artifacts, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(key, name, r.version, r.status, r.reason, r.traceback, r.wall_s, json.dumps(list(r.figures)),
                      json.dumps(list(r.artifacts)), r.run_id) for name, r in runs.items()])


def with_families(result: CellResult) -> CellResult:
    """A result of a bench that kept no families (a document of bench 0.1) with the families it computed
    (:func:`_v4_families`); any other result as it is."""
    if result.families or result.status == "skipped":
        return result
    return dataclasses.replace(result, families=_v4_families(
        result.status, result.reason, result.traceback, result.timings.wall_s,
        list(dict.fromkeys(m["family"] for m in result.metrics)), result.figures, list(result.artifacts),
        result.cell.get("model_name") == "baseline"))


def _v4_families(status: str, reason: str | None, trace: str | None, wall_s: float | None, found: list[str],
                 figures: dict[str, str], artifacts: list[str], baseline: bool) -> dict[str, FamilyRun]:
    """The families a cell stored before results were kept per family computed, at the built-in families'
    first version: a done cell's, from the families of its metric rows; a failed or skipped cell's, every
    family (the baseline's cells: the downstream family)."""
    if status != "done":
        found = ["downstream"] if baseline else list(_V4_FAMILIES)
    return {family: FamilyRun(
        "1", status, reason if status != "done" else None, trace if status == "failed" else None,
        (wall_s or 0.0) if status == "done" else 0.0, tuple(k for k in figures if _V4_FIGURES.get(k) == family),
        tuple(n for n in artifacts if _V4_ARTIFACTS.get(n, "latent" if n.startswith("figures/") else None) == family))
        for family in found}


def _ended(con: sqlite3.Connection, keys: list[str], records: dict[str, list[str]] | None) -> dict[str, str | None]:
    """:meth:`Store.ended`."""
    inside = {k: (records or {}).get(k, [k]) for k in keys}
    found = dict(_where_in(con, "SELECT key, ended FROM cells WHERE key", sorted({r for rs in inside.values() for r in rs})))
    out: dict[str, str | None] = {}
    for key, rs in inside.items():
        stamps = [found.get(r) for r in rs]
        if all(s is not None for s in stamps):
            out[key] = "|".join(str(s) for s in stamps)
    return out


def _where_in(con: sqlite3.Connection, query: str, keys: list[str]) -> list[tuple]:
    """The rows of ``query`` (ending in the column to match) whose column is one of ``keys``, 500 keys at a
    time (SQLite limits the parameters of one statement)."""
    rows: list[tuple] = []
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        rows += con.execute(f"{query} IN ({','.join('?' * len(chunk))})", chunk).fetchall()
    return rows


def _items_row(vector: dict[str, Any]) -> tuple[str, str, int, bytes]:
    kind, n, data = pack_items(vector["test"], vector["values"])
    return kind, vector["items_id"], n, data


def open_store(path: Path | str, *, must_exist: bool = False) -> Store:
    """The store at ``path``: a ``.db`` file, or a run directory holding ``results.db``."""
    path = Path(path)
    if path.is_dir() or (not path.suffix and not path.exists()):
        path = path / STORE_NAME
    if must_exist and not path.exists():
        raise StoreError(f"no results store at {str(path)!r}: run 'bench run --out DIR' (or --store FILE) first")
    return Store(path)

