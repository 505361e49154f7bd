"""The store's catalogue: an SQLite database of its settings, segments and images (path, id, label, metadata).

SQLite (the standard library's ``sqlite3``) looks a path up through its unique index without a scan, commits a
batch of rows atomically, and lets readers go on while one writer holds ``BEGIN IMMEDIATE`` (write-ahead log).
The catalogue is the store's truth: a segment file it does not list is a leftover of a crash, never data.

Paths are kept as the bytes of their file names (``os.fsencode``), so a name that is not UTF-8 is stored exactly.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

FILE = "catalogue.sqlite"
#: Paths looked up per SQL statement (SQLite allows 32,766 parameters).
LOOKUP_CHUNK = 900
#: How long a writer waits for another one, in seconds.
BUSY_TIMEOUT = 600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    number INTEGER PRIMARY KEY, rows INTEGER NOT NULL, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, path BLOB UNIQUE, label INTEGER, size INTEGER, sha256 TEXT,
    added_at REAL NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS deleted_images ON images (deleted) WHERE deleted = 1;
"""


class Segment(NamedTuple):
    """One segment file's rows: ``rows`` codes whose ids run, ascending, from ``first_id`` to ``last_id``."""

    number: int
    rows: int
    first_id: int
    last_id: int


class Catalogue:
    """The SQLite catalogue of a store folder (created if absent).

    Parameters
    ----------
    folder : path
        The store's folder; the database is ``folder/catalogue.sqlite``.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / FILE
        # isolation_level=None: transactions are begun explicitly, so that a writer's lock covers its files too
        self.connection = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
        try:
            self.connection.execute("PRAGMA journal_mode=WAL")
            self.connection.execute("PRAGMA synchronous=FULL")  # a commit that returned survives a power cut
            self.connection.executescript(_SCHEMA)
        except sqlite3.DatabaseError as error:
            self.connection.close()
            raise ValueError(f"{str(self.path)!r} is not a store's catalogue ({error})") from error

    def close(self) -> None:
        """Close the database connection."""
        self.connection.close()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """A write transaction: one writer at a time; committed at the end of the block, rolled back on an error."""
        self.connection.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.connection.execute("ROLLBACK")
            raise
        self.connection.execute("COMMIT")

    def version(self) -> int:
        """A number that changes when another connection commits (``PRAGMA data_version``)."""
        return self.connection.execute("PRAGMA data_version").fetchone()[0]

    # ------------------------------------------------------------------ settings

    def settings(self) -> dict[str, str]:
        """Every setting, by key."""
        return dict(self.connection.execute("SELECT key, value FROM settings"))

    def set(self, **values) -> None:
        """Write settings (inside ``writing``)."""
        self.connection.executemany("INSERT OR REPLACE INTO settings VALUES (?, ?)", [(k, str(v)) for k, v in values.items()])

    # ------------------------------------------------------------------ segments

    def segments(self) -> list[Segment]:
        """The segments, in order (their ids ascend across them)."""
        return [Segment(*row) for row in self.connection.execute("SELECT * FROM segments ORDER BY number")]

    def replace_segments(self, old: Sequence[int], new: Sequence[Segment]) -> None:
        """Drop segments ``old`` and list ``new`` (inside ``writing``)."""
        self.connection.executemany("DELETE FROM segments WHERE number = ?", [(number,) for number in old])
        self.connection.executemany("INSERT INTO segments VALUES (?, ?, ?, ?)", new)

    # ------------------------------------------------------------------ images

    def known(self, paths: Sequence[str]) -> set[str]:
        """The paths of ``paths`` that the catalogue holds (removed images included until ``compact``)."""
        found = set()
        encoded = [os.fsencode(path) for path in paths]
        for start in range(0, len(encoded), LOOKUP_CHUNK):
            chunk = encoded[start:start + LOOKUP_CHUNK]
            query = f"SELECT path FROM images WHERE path IN ({','.join('?' * len(chunk))})"
            found.update(os.fsdecode(row[0]) for row in self.connection.execute(query, chunk))
        return found

    def insert(self, ids: np.ndarray, paths: Sequence[str], labels: np.ndarray | None, metadata: dict) -> None:
        """Add images (inside ``writing``): their ids, paths, labels (None: not clustered) and metadata."""
        now = time.time()
        sizes, hashes = metadata.get("size", [None] * len(ids)), metadata.get("sha256", [None] * len(ids))
        labels = [None] * len(ids) if labels is None else labels.tolist()
        rows = zip(ids.tolist(), map(os.fsencode, paths), labels, sizes, hashes, [now] * len(ids))
        self.connection.executemany("INSERT INTO images (id, path, label, size, sha256, added_at) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def ids_of(self, paths: Sequence[str]) -> dict[str, int]:
        """The id of each path of ``paths`` the catalogue holds and has not removed."""
        found = {}
        encoded = [os.fsencode(path) for path in paths]
        for start in range(0, len(encoded), LOOKUP_CHUNK):
            chunk = encoded[start:start + LOOKUP_CHUNK]
            query = f"SELECT path, id FROM images WHERE deleted = 0 AND path IN ({','.join('?' * len(chunk))})"
            found.update((os.fsdecode(path), image) for path, image in self.connection.execute(query, chunk))
        return found

    def live(self, ids: Sequence[int]) -> set[int]:
        """The ids of ``ids`` that name images in the catalogue, not removed."""
        found = set()
        values = [int(i) for i in ids]
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start:start + LOOKUP_CHUNK]
            query = f"SELECT id FROM images WHERE deleted = 0 AND id IN ({','.join('?' * len(chunk))})"
            found.update(row[0] for row in self.connection.execute(query, chunk))
        return found

    def mark_deleted(self, ids: np.ndarray) -> None:
        """Tombstone images (inside ``writing``); their paths are freed, so that a file can be added again."""
        self.connection.executemany("UPDATE images SET deleted = 1, path = NULL WHERE id = ?", [(int(i),) for i in ids])

    def deleted_ids(self) -> np.ndarray:
        """The ids of removed images, ascending (int64)."""
        rows = self.connection.execute("SELECT id FROM images WHERE deleted = 1 ORDER BY id").fetchall()
        return np.array([row[0] for row in rows], np.int64)

    def purge_deleted(self) -> int:
        """Forget removed images for good (inside ``writing``); return how many."""
        return self.connection.execute("DELETE FROM images WHERE deleted = 1").rowcount

    def count(self) -> int:
        """Images in the catalogue, removed ones left out."""
        return self.connection.execute("SELECT count(*) FROM images WHERE deleted = 0").fetchone()[0]

    def set_labels(self, ids: np.ndarray, labels: np.ndarray) -> None:
        """Set the cluster of images (inside ``writing``)."""
        self.connection.executemany("UPDATE images SET label = ? WHERE id = ?", zip(labels.tolist(), ids.tolist()))

    def rows(self, ids: Sequence[int]) -> dict[int, tuple]:
        """(path, label, size, sha256, added_at) of each id the catalogue holds, by id."""
        found = {}
        values = [int(i) for i in ids]
        for start in range(0, len(values), LOOKUP_CHUNK):
            chunk = values[start:start + LOOKUP_CHUNK]
            query = f"SELECT id, path, label, size, sha256, added_at FROM images WHERE id IN ({','.join('?' * len(chunk))})"
            found.update((row[0], (None if row[1] is None else os.fsdecode(row[1]), *row[2:]))
                         for row in self.connection.execute(query, chunk))
        return found

    def labels(self) -> Iterator[tuple[int, int | None]]:
        """(id, label) of every image not removed, by ascending id."""
        return iter(self.connection.execute("SELECT id, label FROM images WHERE deleted = 0 ORDER BY id"))
