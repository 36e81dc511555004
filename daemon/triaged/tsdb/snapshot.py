"""The tsdb's series across a planned restart (an upgrade, a setting only a restart
applies): written at a clean stop, read back once at the next start.

Without it every `rate(x[10m])` and every evidence chart starts from nothing after a
restart, and an incident opened in the first minutes has no lead-up in its
postmortem. Prometheus keeps its data across restarts; so do we, for the planned ones
(a `kill -9` or a watchdog abort writes nothing, and the daemon starts empty as before).

The file is bounded (:data:`MAX_POINTS`: larger stores start empty, said in one line),
written to a temporary file and renamed, so a crash mid-write leaves the previous
state, and consumed when read: a later crash never brings back points from before an
earlier restart. A file that does not read as one of ours is set aside, said in one
line; it never stops the daemon from starting.

Each series also keeps the scrape source (or rule) that last reported it, so the
source's first scrape after the restart marks the series it no longer reports stale,
as it would have without the restart, and a source gone from the config has its
series marked stale at start (:meth:`Daemon.forget_unknown_sources`): a series that
vanished while the daemon was down neither lingers for the lookback nor stays out of
reach of the series limit's eviction.

Format: the line ``triaged-series 2``, a line with the JSON list of source names,
then per series a little-endian header (JSON length, point count), the JSON
``[source index or -1, [[name, value], ...]]``, the timestamps (int64 ms) and the
values (float64, bit for bit: staleness markers included), these two in the
machine's byte order: the file is read back where it was written. Version 1 (no
source line, the labels' list alone) is still read.
"""

from __future__ import annotations

import json
import os
import struct
import time
from array import array
from dataclasses import dataclass
from pathlib import Path

from triaged.model import Labels
from triaged.tsdb.storage import Storage

MAGIC = b"triaged-series 2\n"
MAGIC_V1 = b"triaged-series 1\n"
# 5M points: ~80 MB on disk, a few seconds to read back. A store larger than that
# restarts empty rather than hold up a stop or a start for long.
MAX_POINTS = 5_000_000
_HEAD = struct.Struct("<II")
# Room for the labels on top of the points: ~300 bytes a series for a million series.
MAX_LABEL_BYTES = 300 * 1024 * 1024


@dataclass(frozen=True)
class Outcome:
    series: int = 0
    points: int = 0
    seconds: float = 0.0
    skipped: str = ""  # why nothing was written or read; empty when it was


def path_for(db_path: str) -> Path:
    """The snapshot beside the store: ``triaged.db`` → ``triaged.db.series``."""
    return Path(db_path).resolve().with_name(Path(db_path).name + ".series")


def save(storage: Storage, path: Path, *, max_points: int = MAX_POINTS) -> Outcome:
    """Write every series' points. Call with no cycle running (at stop)."""
    started = time.monotonic()
    points = storage.sample_count()
    if points > max_points:
        return Outcome(
            points=points, skipped=f"{points} points is over the {max_points} kept across a restart"
        )
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    written = 0
    reporters = storage.reporters()
    sources = sorted(set(reporters.values()))
    index = {source: i for i, source in enumerate(sources)}
    with os.fdopen(fd, "wb") as out:
        out.write(MAGIC)
        out.write(json.dumps(sources, separators=(",", ":")).encode() + b"\n")
        for series in storage:
            if not series.timestamps:
                continue
            source = reporters.get(id(series))
            record = [-1 if source is None else index[source], list(series.labels)]
            labels = json.dumps(record, separators=(",", ":")).encode()
            n = len(series.timestamps)
            out.write(_HEAD.pack(len(labels), n))
            out.write(labels)
            out.write(array("q", series.timestamps).tobytes())
            out.write(array("d", series.values.tolist()).tobytes())
            written += 1
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    return Outcome(series=written, points=points, seconds=time.monotonic() - started)


def load(storage: Storage, path: Path, now_ms: int, *, max_points: int = MAX_POINTS) -> Outcome:
    """Read the snapshot into ``storage`` (points older than its retention or newer than
    ``now_ms`` are left out), then remove it. Raises :class:`SnapshotError` for a file
    that is not one of ours, after moving it aside."""
    started = time.monotonic()
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return Outcome(skipped="no snapshot")
    if size > max_points * 16 + MAX_LABEL_BYTES:
        path.replace(path.with_name(path.name + ".bad"))
        raise SnapshotError(f"{path}: {size} bytes is larger than any snapshot we write; moved aside")
    data = path.read_bytes()
    path.unlink()
    try:
        series, points = _read(storage, data, now_ms, max_points)
    except (ValueError, struct.error, UnicodeDecodeError) as exc:
        aside = path.with_name(path.name + ".bad")
        aside.write_bytes(data)
        raise SnapshotError(f"{path}: not a series snapshot ({exc}); moved to {aside.name}") from exc
    return Outcome(series=series, points=points, seconds=time.monotonic() - started)


class SnapshotError(Exception):
    pass


def _read(storage: Storage, data: bytes, now_ms: int, max_points: int) -> tuple[int, int]:
    if data.startswith(MAGIC):
        line_end = data.find(b"\n", len(MAGIC))
        if line_end < 0:
            raise ValueError("it has no line of sources")
        sources = _sources(data[len(MAGIC) : line_end])
        at = line_end + 1
    elif data.startswith(MAGIC_V1):
        sources, at = None, len(MAGIC_V1)
    else:
        raise ValueError("it does not start with the triaged-series header")
    retention = storage.limits.retention_ms
    oldest = -(2**63) if retention is None else now_ms - retention
    end = len(data)
    series = points = 0
    view = memoryview(data)
    while at < end:
        size, n = _HEAD.unpack_from(data, at)
        at += _HEAD.size
        points += n
        if points > max_points or at + size + 16 * n > end:
            raise ValueError("it is cut short or larger than any snapshot we write")
        source, labels = _record(bytes(view[at : at + size]), sources)
        at += size
        times, values = array("q"), array("d")
        times.frombytes(view[at : at + 8 * n])
        values.frombytes(view[at + 8 * n : at + 16 * n])
        at += 16 * n
        stored = sum(
            storage.append(labels, t, v) for t, v in zip(times, values, strict=True) if oldest <= t <= now_ms
        )
        series += stored > 0
        if stored:
            storage.adopt(source, labels)
    return series, points


def _sources(raw: bytes) -> list[str]:
    sources = json.loads(raw.decode())
    if not isinstance(sources, list) or not all(isinstance(x, str) for x in sources):
        raise ValueError("its sources are not a list of names")
    return sources


def _record(raw: bytes, sources: list[str] | None) -> tuple[str | None, Labels]:
    """A series' source (None in a version 1 file, or for one no source reported) and labels."""
    if sources is None:
        return None, _labels(json.loads(raw.decode()))
    record = json.loads(raw.decode())
    if not (isinstance(record, list) and len(record) == 2 and type(record[0]) is int):
        raise ValueError("a series' record is not [source index, labels]")
    if not -1 <= record[0] < len(sources):
        raise ValueError(f"a series names source {record[0]} of {len(sources)}")
    return (None if record[0] < 0 else sources[record[0]]), _labels(record[1])


def _labels(pairs: object) -> Labels:
    if not isinstance(pairs, list) or not all(
        isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p) for p in pairs
    ):
        raise ValueError("a series' labels are not a list of name/value pairs")
    return Labels.from_pairs((k, v) for k, v in pairs)
