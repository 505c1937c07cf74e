"""The private journal: spoken reflections, their audio and transcripts, in SQLite on disk.

Private by construction: the folders selfkind makes for it are 0700 (one that exists is
never changed, only said if others can read it) and every file in them 0600, nothing here
opens a network connection, and deleting an entry removes its row, its search-index entry
and its audio file, and leaves no copy of its words in any of the database's files (see
:meth:`Journal.delete`). The database runs in WAL mode with a busy timeout, so a second
process waits briefly instead of corrupting anything, and then gets a clear error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .. import paths
from ..errors import JournalError, UsageError

STATUS_DONE, STATUS_PENDING = "done", "pending"
BUSY_TIMEOUT_S = 5.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id TEXT NOT NULL DEFAULT '',
    practice TEXT NOT NULL DEFAULT '',
    prompt TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    duration_s REAL NOT NULL DEFAULT 0,
    audio TEXT NOT NULL DEFAULT '',
    transcript TEXT NOT NULL DEFAULT '',
    words TEXT NOT NULL DEFAULT '[]',
    engine TEXT NOT NULL DEFAULT '',
    model TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('done', 'pending'))
);
CREATE VIRTUAL TABLE IF NOT EXISTS entries_fts USING fts5(
    transcript, prompt, practice, content='entries', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS entries_ai AFTER INSERT ON entries BEGIN
    INSERT INTO entries_fts(rowid, transcript, prompt, practice)
    VALUES (new.id, new.transcript, new.prompt, new.practice);
END;
CREATE TRIGGER IF NOT EXISTS entries_ad AFTER DELETE ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, transcript, prompt, practice)
    VALUES ('delete', old.id, old.transcript, old.prompt, old.practice);
END;
CREATE TRIGGER IF NOT EXISTS entries_au AFTER UPDATE ON entries BEGIN
    INSERT INTO entries_fts(entries_fts, rowid, transcript, prompt, practice)
    VALUES ('delete', old.id, old.transcript, old.prompt, old.practice);
    INSERT INTO entries_fts(rowid, transcript, prompt, practice)
    VALUES (new.id, new.transcript, new.prompt, new.practice);
END;
CREATE TABLE IF NOT EXISTS originals (
    entry_id INTEGER PRIMARY KEY,
    transcript TEXT NOT NULL,
    corrected_at TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS originals_ad AFTER DELETE ON entries BEGIN
    DELETE FROM originals WHERE entry_id = old.id;
END;
"""


@dataclass
class Entry:
    started_at: str
    """When the reflection began, ISO 8601 with the local offset."""
    practice: str = ""
    prompt: str = ""
    session_id: str = ""
    duration_s: float = 0.0
    audio: str = ""
    """Audio file name, relative to the journal's audio folder."""
    transcript: str = ""
    words: list[dict[str, object]] = field(default_factory=list)
    """Each word with ``word``, ``start_s``, ``end_s`` and ``confidence``."""
    engine: str = ""
    model: str = ""
    status: str = STATUS_PENDING
    id: int = 0


def default_path() -> Path:
    return paths.user_data_dir() / "journal" / "journal.sqlite3"


def make_private_folder(folder: Path) -> bool:
    """Create ``folder`` and any missing parents, each 0700; True if it was already there.

    A folder that exists is never changed: it may be shared (a sticky /tmp) or the user's
    own choice, and tightening it would break what else uses it.
    """
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for created in reversed(missing):
        try:
            created.mkdir(mode=0o700)
        except FileExistsError:
            continue  # made by someone else a moment ago: theirs, left as it is
        os.chmod(created, 0o700)  # the umask may have taken away more than group and others
    return not missing


class Journal:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_path()
        self.audio_dir = self.path.parent / "audio"
        self.shared_folder: Path | None = None
        """The journal's folder, if it existed and others may read or write it (it is left
        as it is; the journal's own files and its audio folder are private all the same)."""
        if make_private_folder(self.path.parent):
            mode = self.path.parent.stat().st_mode
            if mode & (stat.S_IRGRP | stat.S_IWGRP | stat.S_IROTH | stat.S_IWOTH):
                self.shared_folder = self.path.parent
        make_private_folder(self.audio_dir)
        old_umask = os.umask(0o077)  # the database and its WAL files are born 0600
        try:
            self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S)
            self._db.row_factory = sqlite3.Row
            with self._guard():
                self._db.execute("PRAGMA journal_mode=WAL")
                # Deleted rows and freed pages are overwritten with zeros, not left readable.
                self._db.execute("PRAGMA secure_delete=ON")
                self._migrate()
                self._db.executescript(_SCHEMA)
        finally:
            os.umask(old_umask)
        os.chmod(self.path, 0o600)

    def close(self) -> None:
        self._db.close()

    def _migrate(self) -> None:
        """Journals made before entry numbers were AUTOINCREMENT get the new table, so a
        deleted entry's number is never given to the next one (a number someone noted down
        must never come to mean another reflection). Rows keep their numbers; the search
        index is rebuilt from them."""
        row = self._db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'entries'"
        ).fetchone()
        if row is None or "AUTOINCREMENT" in row[0].upper():
            return
        table = _SCHEMA.split(";")[0].replace(" IF NOT EXISTS", "")
        columns = "id, " + ", ".join(f for f in Entry.__dataclass_fields__ if f != "id")
        self._db.executescript(
            "BEGIN;"
            " DROP TRIGGER IF EXISTS entries_ai; DROP TRIGGER IF EXISTS entries_ad;"
            " DROP TRIGGER IF EXISTS entries_au;"
            " ALTER TABLE entries RENAME TO entries_before_autoincrement;"
            f" {table};"
            f" INSERT INTO entries ({columns})"
            f"  SELECT {columns} FROM entries_before_autoincrement;"
            " DROP TABLE entries_before_autoincrement;"
            " COMMIT;"
        )
        self._db.executescript(_SCHEMA)
        self._db.execute("INSERT INTO entries_fts(entries_fts) VALUES ('rebuild')")

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            with self._db:
                yield
        except sqlite3.OperationalError as err:
            if err.sqlite_errorcode == sqlite3.SQLITE_FULL or (
                err.sqlite_errorcode & 0xFF == sqlite3.SQLITE_IOERR and _nearly_full(self.path)
            ):  # a WAL or shared-memory file that cannot grow is an I/O error to SQLite
                raise JournalError(
                    f"the disk holding the journal {self.path} is full (nothing in the"
                    " journal was lost; free some space)"
                ) from None
            if "locked" in str(err) or "busy" in str(err):
                raise JournalError(
                    f"the journal {self.path} is in use by another selfkind process; try again"
                    " when it has finished"
                ) from None
            raise JournalError(f"the journal {self.path} cannot be used: {err}") from None
        except sqlite3.DatabaseError as err:
            raise JournalError(f"the journal {self.path} is unreadable: {err}") from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The database within one transaction, its errors said as JournalError: for the
        journal's other tables (history.py keeps sessions here)."""
        with self._guard():
            yield self._db

    def add(self, entry: Entry) -> int:
        row = asdict(entry)
        row.pop("id")
        row["words"] = json.dumps(entry.words)
        columns = ", ".join(row)
        marks = ", ".join(f":{name}" for name in row)
        with self._guard():
            cursor = self._db.execute(f"INSERT INTO entries ({columns}) VALUES ({marks})", row)
        return int(cursor.lastrowid or 0)

    def update_transcript(
        self,
        entry_id: int,
        transcript: str,
        words: list[dict[str, object]],
        engine: str,
        model: str,
    ) -> None:
        with self._guard():
            self._db.execute(
                "UPDATE entries SET transcript = ?, words = ?, engine = ?, model = ?,"
                " status = ? WHERE id = ?",
                (transcript, json.dumps(words), engine, model, STATUS_DONE, entry_id),
            )

    def get(self, entry_id: int) -> Entry | None:
        with self._guard():
            row = self._db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)).fetchone()
        return _entry(row) if row else None

    def with_audio(self, audio: str) -> Entry | None:
        """The entry that keeps this audio file, if any."""
        with self._guard():
            row = self._db.execute("SELECT * FROM entries WHERE audio = ?", (audio,)).fetchone()
        return _entry(row) if row else None

    def entries(self, status: str | None = None) -> list[Entry]:
        """Every entry, oldest first (optionally only those with a status)."""
        query = "SELECT * FROM entries"
        arguments: tuple[object, ...] = ()
        if status:
            query, arguments = query + " WHERE status = ?", (status,)
        with self._guard():
            rows = self._db.execute(query + " ORDER BY started_at, id", arguments).fetchall()
        return [_entry(row) for row in rows]

    def search(self, text: str) -> list[Entry]:
        """Full-text search over transcripts, prompts and practice titles, best match first.

        Each word of ``text`` must appear (as a word or a word's beginning). Words are
        searched literally: each becomes an FTS5 string (a ``"`` inside doubled), so
        nothing typed is read as FTS5 syntax (AND, NEAR, ``col:``, ``^``).
        """
        terms = [t for t in (w.replace("\0", "").strip("\"'*") for w in text.split()) if t]
        if not terms:
            return []
        query = " ".join('"' + term.replace('"', '""') + '"*' for term in terms)
        try:
            with self._guard():
                rows = self._db.execute(
                    "SELECT entries.* FROM entries_fts JOIN entries"
                    " ON entries.id = entries_fts.rowid WHERE entries_fts MATCH ? ORDER BY rank",
                    (query,),
                ).fetchall()
        except JournalError as err:
            if "fts5" in str(err) or "unterminated string" in str(err):  # never expected
                raise UsageError("journal search", f"'{text}' cannot be searched") from None
            raise
        return [_entry(row) for row in rows]

    def audio_path(self, entry: Entry) -> Path | None:
        return self.audio_dir / entry.audio if entry.audio else None

    def delete(self, entry_id: int) -> bool:
        """Remove an entry everywhere, leaving no word of it in any file of the journal: its
        row, its search-index entry, its audio, and the old copies SQLite keeps.

        FTS5 deletes by adding a "deleted" marker; the words stay in the older index
        segment until the segments are merged, so the index is merged ('optimize') at once.
        ``secure_delete`` zeroes the freed space and pages, and a TRUNCATE checkpoint
        empties the WAL, which still holds the pages as they were when the entry was added.
        Raises JournalError if a reader in another process keeps the WAL from being emptied
        (the entry is deleted; SQLite empties the WAL when the last connection closes).
        """
        entry = self.get(entry_id)
        if entry is None:
            return False
        with self._guard():
            self._db.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
            self._db.execute("INSERT INTO entries_fts(entries_fts) VALUES ('optimize')")
        audio = self.audio_path(entry)
        if audio is not None:
            audio.unlink(missing_ok=True)
        with self._guard():
            busy, _, _ = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            raise JournalError(
                f"entry {entry_id} is deleted, but another selfkind process is reading the"
                f" journal, so earlier copies of its pages stay in {self.path.name}-wal until"
                " that process ends"
            )
        return True

    def correct(self, entry_id: int, transcript: str, corrected_at: str) -> bool:
        """Replace an entry's text with the person's own words; the text it had before the
        first correction (the recognizer's) is kept in ``originals`` and goes with the entry
        when it is deleted. False if there is no such entry."""
        with self._guard():
            self._db.execute(
                "INSERT OR IGNORE INTO originals (entry_id, transcript, corrected_at)"
                " SELECT id, transcript, ? FROM entries WHERE id = ?",
                (corrected_at, entry_id),
            )
            changed = self._db.execute(
                "UPDATE entries SET transcript = ?, status = ? WHERE id = ?",
                (transcript, STATUS_DONE, entry_id),
            ).rowcount
        return bool(changed)

    def original(self, entry_id: int) -> str | None:
        """The text an entry had before it was first corrected, or None if it never was."""
        with self._guard():
            row = self._db.execute(
                "SELECT transcript FROM originals WHERE entry_id = ?", (entry_id,)
            ).fetchone()
        return str(row[0]) if row else None


FULL_BELOW_BYTES = 1 << 20
"""Less free space than this, and an I/O error from SQLite is taken for a full disk."""


def _nearly_full(path: Path) -> bool:
    """Whether the disk holding ``path`` has (next to) no room left."""
    try:
        usage = os.statvfs(path.parent)
    except OSError:
        return False
    return usage.f_bavail * usage.f_frsize < FULL_BELOW_BYTES


def _entry(row: sqlite3.Row) -> Entry:
    values = dict(row)
    values["words"] = json.loads(values["words"] or "[]")
    return Entry(**values)
