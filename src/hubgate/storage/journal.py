"""The usage journal: every finished answer's usage row, appended to a local file before
the answer's last byte leaves, so a killed process loses no billing.

Layout: one directory (`usage_journal_dir`), shared by every worker and replica on the
host. Each process writes its own segments, `<host>-<pid>-<token>-<seq>.journal`, and
holds an exclusive `flock` on each while it is open. A record is one JSON array a line
(in the column order the segment's first line names), written with one `write()` on an
O_APPEND descriptor: once the call returns the line is in the page cache, which outlives
the process (`usage_journal_fsync` covers power loss: `off`, `batch` = fdatasync at most
every 50 ms in a thread, `always` = before the answer ends). A journal that cannot write
(a full disk) logs and steps aside: the row is still queued for the database.

The usage writer keeps the rows in memory and inserts them as before; the journal only
counts, per segment, the records not yet in the database. The current segment is
rotated at each flush, and a closed segment whose records all landed is deleted (in a
thread, at the end of the flush: an unlink on the event loop blocked it 4-17 ms). On
start, a segment whose lock can be taken belongs to a dead process: its records are
replayed (the last record per request id wins; ids already in the database are skipped)
and the file is deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Literal

import orjson
from sqlalchemy.engine import make_url

from hubgate.storage.usage import COLUMNS, PROVISIONAL, UsageRow, row_values

log = logging.getLogger("hubgate.journal")

FsyncMode = Literal["off", "batch", "always"]
SUFFIX = ".journal"
_LINE = orjson.OPT_APPEND_NEWLINE
FINAL = "f"
_ROW_FIELDS = {f.name for f in fields(UsageRow)}


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    fd: int
    outstanding: int = 0  # records appended here and not yet in the database
    dirty: bool = False  # written since the last fdatasync


def header() -> bytes:
    """A segment's first line: the format and the column order of the records after it."""
    return orjson.dumps({"hubgate_journal": 1, "columns": ["_k", *COLUMNS]}, option=_LINE)


def encode(row: UsageRow, kind: str = FINAL) -> bytes:
    """One record: its kind and the row's columns, in the header's order, one JSON line."""
    return orjson.dumps((kind, *row_values(row)), option=_LINE)


def decode(line: bytes, columns: list[str]) -> tuple[str, UsageRow] | None:
    """A record read back; None for a torn or foreign line (a power cut mid-write)."""
    try:
        values = orjson.loads(line)
        if not isinstance(values, list) or len(values) != len(columns):
            return None
        obj = dict(zip(columns, values, strict=True))
        kind = str(obj.pop("_k"))
        created = obj.get("created_at")
        if isinstance(created, str):
            obj["created_at"] = datetime.fromisoformat(created)
        return kind, UsageRow(**{k: v for k, v in obj.items() if k in _ROW_FIELDS})
    except (orjson.JSONDecodeError, TypeError, ValueError, KeyError):
        return None


def records(data: bytes) -> list[tuple[str, UsageRow]]:
    """The readable records of a segment's bytes (none without its header line)."""
    lines = data.splitlines()
    try:
        head = orjson.loads(lines[0]) if lines else None
    except orjson.JSONDecodeError:
        return []
    if not isinstance(head, dict) or head.get("hubgate_journal") != 1:
        return []
    columns = [str(c) for c in head["columns"]]
    return [r for r in (decode(line, columns) for line in lines[1:]) if r is not None]


class Journal:
    """This process's segments: append, count what landed, rotate, delete, fsync."""

    def __init__(
        self, directory: str | Path, *, fsync: FsyncMode = "batch", interval_s: float = 0.05
    ) -> None:
        self.directory = Path(directory)
        self.fsync: FsyncMode = fsync
        self._interval_s = interval_s
        self._prefix = f"{socket.gethostname()}-{os.getpid()}-{os.urandom(4).hex()}"
        self._segments: dict[int, _Segment] = {}
        self._current: _Segment | None = None
        self._seq = 0
        self._provisional: dict[str, int] = {}  # request id -> segment of its provisional record
        self._landed: list[_Segment] = []  # closed segments whose records all landed: `sweep` deletes them
        self._syncer: asyncio.Task[None] | None = None
        self.appended = 0
        self.failed = 0

    # -- files ------------------------------------------------------------------------

    def open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self._rotate()

    def _rotate(self) -> None:
        seq = self._seq + 1
        final = self.directory / f"{self._prefix}-{seq:06d}{SUFFIX}"
        temp = final.with_suffix(".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours before its name says it is a journal
            os.write(fd, header())
            os.rename(temp, final)
        except OSError:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self._seq = seq
        self._current = self._segments[seq] = _Segment(seq, final, fd)

    def owns(self, path: Path) -> bool:
        return path.name.startswith(self._prefix)

    @property
    def segments(self) -> list[Path]:
        return [s.path for s in self._segments.values()]

    # -- records ----------------------------------------------------------------------

    def append(self, row: UsageRow, kind: str = FINAL) -> int:
        """Write the row's record (one write call); returns the segment it is counted in."""
        seg = self._current
        if seg is None:
            return 0
        try:
            os.write(seg.fd, encode(row, kind))
        except (OSError, TypeError) as exc:  # a full disk must not fail the answer: the row is still queued
            self.failed += 1
            if self.failed == 1 or self.failed % 1000 == 0:
                log.error("usage journal: could not append (%d records so far): %s", self.failed, exc)
            return 0
        seg.dirty = True
        seg.outstanding += 1
        self.appended += 1
        if kind == PROVISIONAL:
            self._provisional[row.request_id] = seg.seq
        elif self._provisional:
            earlier = self._provisional.pop(row.request_id, None)
            if earlier is not None:  # the final record supersedes it
                self.landed({earlier: 1})
        return seg.seq

    def landed(self, counts: dict[int, int]) -> None:
        """Records of these segments reached the database (or the quarantine)."""
        for seq, n in counts.items():
            seg = self._segments.get(seq)
            if seg is None:
                continue
            seg.outstanding -= n
            if seg.outstanding <= 0 and seg is not self._current:
                self._segments.pop(seg.seq, None)
                self._landed.append(seg)

    async def sweep(self) -> None:
        """Delete the segments whose records all landed, in a thread: unlink and close wait
        on the file system (4-17 ms measured at JSON c=32, an fdatasync running alongside),
        and on the event loop every request in flight waited with them."""
        if self._landed:
            done, self._landed = self._landed, []
            await asyncio.to_thread(_delete, done)

    def rotate(self) -> None:
        """Start a new segment if the current one holds records (at each flush)."""
        if self._current is not None and self._current.outstanding > 0:
            try:
                self._rotate()
            except OSError as exc:  # keep appending to the current one; the flush goes on
                log.error("usage journal: could not start a new segment in %s: %s", self.directory, exc)

    def _drop(self, seg: _Segment) -> None:
        self._segments.pop(seg.seq, None)
        _delete([seg])

    # -- durability -------------------------------------------------------------------

    async def durable(self) -> None:
        """With fsync `always`: the records written so far survive a power cut on return."""
        if self.fsync == "always":
            await self._sync()

    async def _sync(self) -> None:
        dirty = [s for s in self._segments.values() if s.dirty]
        for seg in dirty:
            seg.dirty = False
        if dirty:
            await asyncio.to_thread(_fdatasync_all, [s.fd for s in dirty])

    def start(self) -> None:
        if self.fsync == "batch":
            self._syncer = asyncio.create_task(self._sync_forever(), name="usage-journal-fsync")

    async def _sync_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self._sync()
            except OSError:
                log.exception("usage journal: fdatasync failed")

    async def close(self) -> None:
        """Stop syncing; sync; delete what landed and unlock the rest (a later start replays it)."""
        if self._syncer is not None:
            self._syncer.cancel()
            await asyncio.gather(self._syncer, return_exceptions=True)
        if self.fsync != "off":
            await self._sync()
        await self.sweep()
        for seg in list(self._segments.values()):
            if seg.outstanding <= 0:
                self._drop(seg)
            else:
                log.warning("usage journal: %d records of %s kept for replay", seg.outstanding, seg.path)
                os.close(seg.fd)
        self._segments.clear()
        self._current = None


def _delete(segments: Iterable[_Segment]) -> None:
    for seg in segments:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(seg.path)
        os.close(seg.fd)


def _fdatasync_all(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):  # closed meanwhile: deleted, nothing to keep
            os.fdatasync(fd)


# -- replay ---------------------------------------------------------------------------


def _claim(path: Path) -> tuple[int, bytes] | None:
    """Lock and read a segment left by a dead process; None if its owner still runs."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        # Another process may have replayed and deleted it while we waited for the lock.
        if os.stat(path).st_ino != os.fstat(fd).st_ino:
            raise FileNotFoundError(path)
        with os.fdopen(os.dup(fd), "rb") as f:
            return fd, f.read()
    except (BlockingIOError, FileNotFoundError):
        os.close(fd)
        return None


def claim_orphans(journal: Journal) -> tuple[list[UsageRow], list[tuple[Path, int]]]:
    """The rows of every segment in the directory whose owner is dead (blocking file I/O,
    run it in a thread): the last record per request id, and the claimed files (locked)."""
    latest: dict[str, UsageRow] = {}
    claimed: list[tuple[Path, int]] = []
    for path in sorted(journal.directory.glob(f"*{SUFFIX}")):
        if journal.owns(path):
            continue
        got = _claim(path)
        if got is None:
            continue
        fd, data = got
        claimed.append((path, fd))
        for _, row in records(data):
            latest[row.request_id] = row
    return list(latest.values()), claimed


async def replay(
    journal: Journal,
    known: Callable[[list[str]], Awaitable[set[str]]],
    record: Callable[[UsageRow], None],
    flush: Callable[[], Awaitable[None]],
) -> int:
    """Move the rows of dead processes' segments into the database, once each: rows whose
    request id is `known` (already stored) are skipped. Returns how many were recorded."""
    rows, claimed = await asyncio.to_thread(claim_orphans, journal)
    if not claimed:
        return 0
    try:
        present = await known([r.request_id for r in rows]) if rows else set()
        fresh = [r for r in rows if r.request_id not in present]
        for row in fresh:
            record(row)  # journaled again in our own segment before the old file goes
        await flush()
        if journal.fsync != "off":
            await journal._sync()
        for path, _ in claimed:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if fresh or claimed:
            log.warning(
                "usage journal: replayed %d rows from %d segments of stopped processes (%d already stored)",
                len(fresh),
                len(claimed),
                len(rows) - len(fresh),
            )
        return len(fresh)
    finally:
        for _, fd in claimed:
            os.close(fd)


def default_dir(database_url: str) -> str:
    """Next to the SQLite database file; for a server database `./data/journal/<id>`, one
    folder per database (a journal must only ever be replayed into its own database)."""
    if database_url.startswith("sqlite"):
        path = database_url.split("///", 1)[-1]
        if path and path != ":memory:" and not path.startswith("file:"):
            return str(Path(path).resolve().parent / "journal")
    server = make_url(database_url)
    ident = f"{server.host}:{server.port}/{server.database}"
    return f"data/journal/{hashlib.sha256(ident.encode()).hexdigest()[:12]}"
