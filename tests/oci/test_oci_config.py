"""Parsing the ``oci:`` section into typed config, with key paths in errors."""

from __future__ import annotations

import random

import pytest

from triaged.cloud.config import MonitoringQuery
from triaged.cloud.parse_config import parse_oci_config
from triaged.cloud.ratelimit import Backoff, RollingLimit, TokenBucket
from triaged.errors import ConfigError
from triaged.model import Severity

QUERY = {
    "name": "api_cpu",
    "namespace": "oci_computeagent",
    "query": 'CpuUtilization[1m]{resourceId = "ocid1.instance.oc1..a"}.mean()',
    "compartment_id": "ocid1.compartment.oc1..c",
}


def test_full_section_parses_into_typed_values() -> None:
    cfg = parse_oci_config(
        {
            "auth": "instance_principal",
            "region": "ap-mumbai-1",
            "timeouts": {"connect": "3s", "read": "10s"},
            "monitoring": {"max_tps": 5, "queries": [{**QUERY, "interval": "2m"}]},
            "alarms": {"compartment_id": "ocid1.compartment.oc1..c"},
            "notifiers": {"ons": {"topics": {"critical": "ocid1.onstopic.a", "default": "d"}}},
            "heartbeat": {"compartment_id": "ocid1.compartment.oc1..c"},
        }
    )
    assert cfg.auth == "instance_principal"
    assert cfg.timeouts.connect == 3.0 and cfg.timeouts.read == 10.0
    q = cfg.monitoring.queries[0]
    assert (q.interval, q.resolution, q.mql_metric) == (120.0, "1m", "CpuUtilization")
    assert cfg.monitoring.max_tps == 5
    assert cfg.alarms.enabled and cfg.heartbeat.enabled
    assert cfg.ons is not None
    assert cfg.ons.topics == {Severity.P0: "ocid1.onstopic.a", "default": "d"}


def test_defaults_are_config_file_auth_and_nothing_enabled() -> None:
    cfg = parse_oci_config({})
    assert (cfg.auth, cfg.profile, cfg.config_file) == ("config_file", "DEFAULT", "~/.oci/config")
    assert cfg.ons is None and not cfg.alarms.enabled and not cfg.heartbeat.enabled


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"auth": "magic"}, "oci.auth"),
        ({"bogus": 1}, "oci.bogus"),
        ({"monitoring": {"queries": [QUERY, {**QUERY, "resolution": "90s"}]}},
         "oci.monitoring.queries[1].resolution"),
        ({"monitoring": {"queries": [{**QUERY, "query": "not mql"}]}},
         "oci.monitoring.queries[0].query"),
        # OCI would answer 400 on every poll: refused at `triaged check` instead.
        ({"monitoring": {"queries": [{**QUERY, "resolution": "5m"}]}},
         "oci.monitoring.queries[0].resolution"),
        ({"monitoring": {"queries": [{**QUERY, "resolution": "90m"}]}},
         "oci.monitoring.queries[0].resolution"),
        ({"monitoring": {"queries": [{**QUERY, "query": "CpuUtilization[2d].mean()"}]}},
         "oci.monitoring.queries[0].query"),
        ({"monitoring": {"queries": [QUERY, QUERY]}}, "oci.monitoring.queries[1].name"),
        ({"monitoring": {"queries": [{k: v for k, v in QUERY.items() if k != "compartment_id"}]}},
         "oci.monitoring.queries[0].compartment_id"),
        ({"monitoring": {"queries": [{**QUERY, "window": "30d"}]}},
         "oci.monitoring.queries[0].window"),
        ({"notifiers": {"ons": {"topics": {"P9": "x"}}}}, "oci.notifiers.ons.topics.P9"),
        ({"notifiers": {"ons": {"topics": {}}}}, "oci.notifiers.ons.topics"),
        ({"heartbeat": {"compartment_id": "c", "namespace": "oci_x"}}, "oci.heartbeat.namespace"),
        ({"timeouts": {"read": -1}}, "oci.timeouts.read"),
    ],
)  # fmt: skip
def test_errors_name_the_key_path(raw: dict[str, object], where: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_oci_config(raw, file="triaged.yaml")
    assert str(info.value).startswith(f"triaged.yaml: {where}: ")


def test_default_lookback_overlaps_the_previous_poll() -> None:
    q = MonitoringQuery("q", "ns", "M[1m].mean()", "c", interval=60, resolution="1m")
    assert q.lookback == 180  # 3 x resolution
    slow = MonitoringQuery("q", "ns", "M[5m].mean()", "c", interval=600, resolution="5m")
    assert slow.lookback == 600 + 2 * 300  # never a gap between polls
    assert MonitoringQuery("q", "ns", "M[1m].max()", "c", window=900).lookback == 900


def test_token_bucket_allows_a_burst_then_one_per_refill() -> None:
    bucket = TokenBucket.per_minute(60, now=1000.0)
    assert all(bucket.try_take(1000.0) for _ in range(60))
    assert not bucket.try_take(1000.0)
    assert bucket.wait_time(1000.0) == pytest.approx(1.0)
    assert bucket.try_take(1001.0)
    assert not bucket.try_take(999.0)  # a clock step back adds nothing


def test_token_bucket_drain_empties_it() -> None:
    bucket = TokenBucket(10, 10, now=0.0)
    bucket.drain(0.0)
    assert not bucket.try_take(0.0)
    assert bucket.wait_time(0.0) == pytest.approx(0.1)


def test_rolling_limit_holds_the_call_over_the_limit_until_the_oldest_expires() -> None:
    limit = RollingLimit(3, 60.0)
    assert limit.try_take(0.0) and limit.try_take(10.0) and limit.try_take(20.0)
    assert not limit.try_take(30.0) and limit.wait_time(30.0) == pytest.approx(30.0)
    assert limit.try_take(60.0), "the call at 0 has left the window"
    assert not limit.try_take(69.0) and limit.try_take(70.0)


def test_rolling_limit_drain_counts_the_window_as_full() -> None:
    limit = RollingLimit(6, 60.0)
    limit.drain(100.0)
    assert not limit.try_take(100.0) and limit.wait_time(100.0) == pytest.approx(10.0)
    assert limit.try_take(110.0)


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    backoff = Backoff(10, 100, rng=random.Random(7))
    delays = [backoff.failure(0.0) for _ in range(6)]
    for n, delay in enumerate(delays):
        base = min(100, 10 * 2**n)
        assert base * 0.5 <= delay <= base
    assert backoff.blocked(delays[-1] - 0.01) and not backoff.blocked(delays[-1])
    assert backoff.failure(0.0, retry_after=99) >= 99  # Retry-After wins when longer
    backoff.success()
    assert not backoff.blocked(0.0) and backoff.failures == 0
