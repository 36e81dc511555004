"""The series survive a planned restart: a clean stop writes them beside the store,
the next start reads them back once, so `rate(x[10m])` and the evidence charts go on
instead of starting from nothing."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from triaged.model import STALE_NAN, Labels
from triaged.tsdb import Storage, StorageLimits, snapshot

from .conftest import TOKEN, DaemonProcess, Setup, free_port, wait_until

UP = Labels.of({"__name__": "up", "job": "shop", "instance": "a:1"})
ERRORS = Labels.of({"__name__": "errors_total", "job": "shop", "instance": "a:1"})


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def _stored(st: Storage) -> dict[Labels, list[tuple[int, bytes]]]:
    return {s.labels: [(t, _bits(v)) for t, v in zip(s.timestamps, s.values, strict=True)] for s in st}


def test_every_point_comes_back_bit_for_bit_and_the_file_is_used_once(tmp_path: Path) -> None:
    before = Storage(StorageLimits(retention_ms=3_600_000))
    before.append_batch("scrape/shop", [(UP, 1.0), (ERRORS, 7.0)], 1_000_000)
    before.append_batch("scrape/shop", [(UP, 1.0), (ERRORS, 7.25)], 1_015_000)
    before.append_batch("scrape/shop", [(UP, 1.0)], 1_030_000)  # errors_total vanished: a stale marker
    path = tmp_path / "triaged.db.series"
    written = snapshot.save(before, path)
    assert (written.series, written.points) == (2, 6)
    assert oct(path.stat().st_mode & 0o777) == oct(0o600)

    after = Storage(StorageLimits(retention_ms=3_600_000))
    read = snapshot.load(after, path, now_ms=1_040_000)
    assert (read.series, read.points) == (2, 6)
    assert _stored(after) == _stored(before)
    errors = next(s for s in after if s.labels == ERRORS)
    assert _bits(errors.values[-1]) == _bits(STALE_NAN)
    assert not path.exists(), "a snapshot is read once: a later crash must not bring it back"
    assert snapshot.load(Storage(), path, now_ms=1_040_000).skipped == "no snapshot"


def test_points_past_the_retention_or_ahead_of_the_clock_are_left_out(tmp_path: Path) -> None:
    before = Storage(StorageLimits(retention_ms=None))
    for t in (0, 600_000, 1_200_000, 1_800_000):
        before.append(UP, t, 1.0)
    path = tmp_path / "s"
    snapshot.save(before, path)
    after = Storage(StorageLimits(retention_ms=900_000))
    snapshot.load(after, path, now_ms=1_500_000)  # keeps 600_000..1_500_000
    assert [s.timestamps for s in after] == [[600_000, 1_200_000]]


def test_a_store_too_large_to_keep_is_skipped_with_the_reason(tmp_path: Path) -> None:
    st = Storage()
    for t in range(10):
        st.append(UP, t, 1.0)
    done = snapshot.save(st, tmp_path / "s", max_points=5)
    assert done.skipped == "10 points is over the 5 kept across a restart"
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not ours at all",
        snapshot.MAGIC + b"[]\n\x05\x00\x00\x00\xff\xff\xff\x7f{}",
        snapshot.MAGIC + b"[]\n\x01",
        snapshot.MAGIC + b'{"a": 1}\n',
        snapshot.MAGIC + b"[]",
        snapshot.MAGIC + b'["scrape/a"]\n\x14\x00\x00\x00\x00\x00\x00\x00[3,[["job","shop"]]]',
    ],
    ids=["foreign", "cut-short", "truncated-header", "bad-sources", "no-sources-line", "unknown-source"],
)
def test_a_file_that_is_not_a_snapshot_is_moved_aside_and_said(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "triaged.db.series"
    path.write_bytes(content)
    st = Storage()
    with pytest.raises(snapshot.SnapshotError, match="not a series snapshot"):
        snapshot.load(st, path, now_ms=1)
    assert len(st) == 0 and not path.exists()
    assert (tmp_path / "triaged.db.series.bad").read_bytes() == content


def _restarted(before: Storage, tmp_path: Path, now_ms: int) -> Storage:
    path = tmp_path / "triaged.db.series"
    snapshot.save(before, path)
    after = Storage(StorageLimits(retention_ms=3_600_000, max_series=2))
    snapshot.load(after, path, now_ms=now_ms)
    return after


def _visible(st: Storage, labels: Labels, t_ms: int) -> bool:
    from triaged.promql import Engine, Vector

    result = Engine(st).instant(f"{labels.name}", t_ms)
    assert isinstance(result, Vector)
    return any(s.labels == labels for s in result)


def test_a_series_that_vanished_during_the_restart_goes_stale_at_the_first_scrape(tmp_path: Path) -> None:
    """As without the restart: its source's next scrape no longer reports it, so it is
    marked stale at once (not seen for the 5 min lookback) and can be evicted."""
    before = Storage(StorageLimits(retention_ms=3_600_000))
    before.append_batch("scrape/shop", [(UP, 1.0), (ERRORS, 7.0)], 1_000_000)
    after = _restarted(before, tmp_path, now_ms=1_010_000)
    assert _visible(after, ERRORS, 1_020_000)
    after.append_batch("scrape/shop", [(UP, 1.0)], 1_030_000)  # errors_total is gone now
    assert not _visible(after, ERRORS, 1_030_000)
    assert _visible(after, UP, 1_030_000)
    # The series limit (2) is reached: the vanished series makes room for a new one.
    fresh = Labels.of({"__name__": "orders_total", "job": "shop", "instance": "a:1"})
    after.append_batch("scrape/shop", [(UP, 1.0), (fresh, 1.0)], 1_045_000)
    assert _visible(after, fresh, 1_045_000) and after.evicted_series == 1


def test_a_version_1_snapshot_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "triaged.db.series"
    labels = b'[["__name__","up"],["job","shop"]]'
    body = struct.pack("<II", len(labels), 1) + labels + struct.pack("=q", 1_000) + struct.pack("=d", 1.0)
    path.write_bytes(snapshot.MAGIC_V1 + body)
    st = Storage()
    assert snapshot.load(st, path, now_ms=2_000).series == 1
    assert [(s.labels.name, s.values[0]) for s in st] == [("up", 1.0)]


def test_a_target_gone_from_the_config_has_its_restored_series_stale_at_start(tmp_path: Path) -> None:
    from triaged.app import build
    from triaged.config import parse_config
    from triaged.testing.clock import FakeClock
    from triaged.yamlfile import load_yaml_text

    (tmp_path / "r.rules.yml").write_text(
        "groups:\n  - name: g\n    rules:\n      - record: KeptRule\n        expr: vector(1)\n"
    )
    text = f"storage: {{db: '{tmp_path / 't.db'}'}}\nrule_files: [r.rules.yml]\n"
    daemon = build(
        parse_config(load_yaml_text(text, "<t>"), str(tmp_path / "t.yaml")), clock=FakeClock(1_010.0)
    )
    try:
        ((rule_key,),) = [g.rule_keys() for g in daemon.rules.groups]
        before = Storage(StorageLimits(retention_ms=3_600_000))
        before.append_batch("scrape/old/10.0.0.9:9100", [(UP, 0.0)], 1_000_000)
        before.append_batch(f"record/{rule_key}", [(ERRORS, 1.0)], 1_000_000)
        snapshot.save(before, tmp_path / "s")
        snapshot.load(daemon.storage, tmp_path / "s", now_ms=1_010_000)
        gone = daemon.forget_unknown_sources(1_010.0)
        # The removed target's `up 0` would have kept ServiceDown firing for 5 minutes.
        assert gone == ["scrape/old/10.0.0.9:9100"]
        assert not _visible(daemon.storage, UP, 1_011_000)
        assert _visible(daemon.storage, ERRORS, 1_011_000), "a rule still loaded keeps its series"
    finally:
        daemon.close()
        daemon.store.close()


def test_a_restarted_daemon_still_has_the_series_of_before_the_restart(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """Through `triaged run` twice: the second run's range query sees the first run's
    scrapes, and the log says what was kept and restored."""
    setup.write(port=free_port())
    first = start_daemon(setup.config)
    wait_until(lambda: _scrapes(first) >= 3, what="three scrapes")
    assert first.stop() == 0
    written = first.named("tsdb_snapshot_written")
    assert len(written) == 1 and written[0]["series"] >= 1

    second = start_daemon(setup.config)
    restored = second.wait_event("tsdb_snapshot_restored")
    assert restored["points"] == written[0]["points"]
    assert _scrapes(second) >= 3, "the first run's scrapes are gone"
    assert second.stop() == 0


def _scrapes(d: DaemonProcess) -> float:
    """How many `shop_up` points the daemon holds, by its query API."""
    answer = requests.get(
        f"http://127.0.0.1:{d.port}/api/v1/query",
        params={"query": "count_over_time(shop_up[1h])"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()
    results = answer["data"]["result"]
    return float(results[0]["value"][1]) if results else 0.0


@pytest.mark.usefixtures("default_logging")
def test_a_snapshot_that_cannot_be_written_costs_one_line_not_the_clean_stop(tmp_path: Path) -> None:
    from structlog.testing import capture_logs

    from triaged.app import build
    from triaged.config import load_config
    from triaged.runner import Runner
    from triaged.service.host import ServiceHost

    (tmp_path / "t.yaml").write_text("storage: {db: t.db}\n")
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    daemon.storage.append(UP, 1_000, 1.0)
    (tmp_path / "t.db.series.tmp").mkdir()  # in the way, as a full disk would be
    host = ServiceHost(Runner(daemon), str(tmp_path / "t.yaml"), environ={})
    host.start()
    with capture_logs() as logs:
        host.stop(flush_s=0.1)
    failed = [e for e in logs if e["event"] == "tsdb_snapshot_failed"]
    assert len(failed) == 1 and "t.db.series" in failed[0]["path"]
    assert "daemon_stopped" in [e["event"] for e in logs]


@pytest.mark.usefixtures("default_logging")
def test_a_snapshot_bad_halfway_starts_with_no_series_as_it_says(tmp_path: Path) -> None:
    """Good series first, then a record that does not read: the start says it begins
    with no series, and none of the good ones are kept half way."""
    from structlog.testing import capture_logs

    from triaged.app import build
    from triaged.config import load_config
    from triaged.runner import Runner
    from triaged.service.host import ServiceHost

    before = Storage(StorageLimits(retention_ms=None))
    before.append_batch("scrape/shop", [(UP, 1.0), (ERRORS, 2.0)], 1_000)
    snapshot.save(before, tmp_path / "t.db.series")
    with (tmp_path / "t.db.series").open("ab") as f:
        f.write(struct.pack("<II", 5, 1) + b"[9,[]" + b"\0" * 16)  # an unknown source index
    (tmp_path / "t.yaml").write_text("storage: {db: t.db}\n")
    daemon = build(load_config(tmp_path / "t.yaml"), sources=[])
    runner = Runner(daemon)
    host = ServiceHost(runner, str(tmp_path / "t.yaml"), environ={})
    with capture_logs() as logs:
        host.start()
    wait_until(lambda: runner.progress.cycles >= 1, what="a first cycle")  # then stop cleanly
    try:
        assert [e["action"] for e in logs if e["event"] == "tsdb_snapshot_unreadable"] == [
            "starting with no series"
        ]
        assert len(daemon.storage) == 0
    finally:
        host.stop(flush_s=0.1)
