"""Targets that misbehave, each compared with what Prometheus 2.42 does with the same
bytes (checked by scraping them with the real Prometheus): what it refuses we refuse,
what it reads we read, and every failure is one short line."""

from __future__ import annotations

import datetime
import json
import random
import re
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from triaged.cloud.clients import ClientFactory, reset_circuit_breakers
from triaged.cloud.config import AlarmsConfig, HeartbeatConfig, MonitoringQuery
from triaged.cloud.heartbeat import Heartbeat
from triaged.cloud.parse_config import parse_oci_config
from triaged.cloud.ratelimit import Backoff, TokenBucket
from triaged.messages import Event, Message
from triaged.model import Severity
from triaged.notifiers.base import NotifyError
from triaged.notifiers.oci_ons import OnsNotifier
from triaged.sources.exposition import ExpositionError, ExpositionParser
from triaged.sources.oci_alarms import OciAlarmsSource
from triaged.sources.oci_monitoring import OciMonitoringSource
from triaged.sources.probe import Prober, ProbeTarget
from triaged.sources.scrape import Scraper, ScrapeTarget
from triaged.testing.oci_signing import write_credentials

OPENMETRICS = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def _scrape(httpserver: HTTPServer, body: bytes, content_type: str = "text/plain; version=0.0.4") -> Scraper:
    httpserver.expect_request("/metrics").respond_with_response(Response(body, content_type=content_type))
    return Scraper(ScrapeTarget(job="t", url=httpserver.url_for("/metrics"), timeout=2))


def _values(scraper: Scraper) -> tuple[str | None, dict[str, float]]:
    collected = scraper.collect(1_800_000_000.0)
    return collected.error, {str(lab.without("job", "instance")): v for lab, v in collected.samples}


# -- OpenMetrics answers --------------------------------------------------------------


def test_an_openmetrics_answer_is_read_as_openmetrics(httpserver: HTTPServer) -> None:
    """Float timestamps, exemplars and the OpenMetrics-only types made such a target
    `up 0` (a false ServiceDown); Prometheus reads it."""
    body = (
        b"# TYPE build info\n"
        b'build_info{version="1.2"} 1\n'
        b"# TYPE orders counter\n"
        b"# UNIT orders_seconds seconds\n"
        b'orders_total{route="/a # {b}"} 7 1700000000.5 # {trace_id="abc"} 1.0 1700000000.1\n'
        b"orders_created 1700000000\n"
        b"# TYPE feature stateset\n"
        b'feature{feature="a"} 1\n'
        b"# TYPE queue gaugehistogram\n"
        b'queue_bucket{le="+Inf"} 2\n'
        b"# TYPE legacy unknown\n"
        b"legacy 3 -1.5e3\n"
        b"# EOF\n"
    )
    error, got = _values(_scrape(httpserver, body, OPENMETRICS))
    assert error is None
    assert got['build_info{version="1.2"}'] == 1
    assert got['orders_total{route="/a # {b}"}'] == 7
    assert got["orders_created"] == 1_700_000_000
    assert got['feature{feature="a"}'] == 1
    assert got['queue_bucket{le="+Inf"}'] == 2
    assert got["legacy"] == 3
    assert got["up"] == 1
    assert got["scrape_samples_scraped"] == 6


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"# TYPE a gauge\na 1\n", "line 2: OpenMetrics text does not end with '# EOF'"),
        (b"# TYPE a gauge\na 1\n# EOF\nb 2\n", "line 4: text after '# EOF'"),
        (b"# TYPE a gauge\na 1 abc\n# EOF\n", "line 2: invalid timestamp 'abc'"),
        (b"# TYPE a gauge\na 1 NaN\n# EOF\n", "line 2: invalid timestamp 'NaN'"),
        (b"# TYPE a counter\na_total 7 # trace 1.0\n# EOF\n", "line 2: invalid exemplar 'trace 1.0'"),
        (b"# TYPE a histogramm\na 1\n# EOF\n", "line 1: invalid metric type 'histogramm' for a"),
    ],
)
def test_what_prometheus_refuses_in_openmetrics_is_refused(
    httpserver: HTTPServer, body: bytes, reason: str
) -> None:
    """A body without `# EOF` is what a cut-short answer looks like: not read as whole."""
    error, got = _values(_scrape(httpserver, body, OPENMETRICS))
    assert error == f"parse error: {reason}"
    assert got["up"] == 0


def test_a_text_format_answer_still_treats_eof_as_a_comment(httpserver: HTTPServer) -> None:
    error, got = _values(_scrape(httpserver, b"a 1\n# EOF\nb 2\n"))
    assert error is None
    assert (got["a"], got["b"]) == (1, 2)


@pytest.mark.parametrize("status", [204, 203, 206])
def test_a_scrape_answered_with_another_2xx_than_200_is_down(httpserver: HTTPServer, status: int) -> None:
    """As Prometheus: a 204 used to read as `up 1` with no samples (every series went
    stale while `up` said all was well), a 206 as a whole scrape."""
    httpserver.expect_request("/metrics").respond_with_response(Response("a 1\n", status))
    scraper = Scraper(ScrapeTarget(job="t", url=httpserver.url_for("/metrics"), timeout=2))
    collected = scraper.collect(1_800_000_000.0)
    assert collected.error == f"HTTP status {status}"
    assert {lab.name: v for lab, v in collected.samples} == {
        "up": 0.0,
        "scrape_duration_seconds": pytest.approx(0.0, abs=2),
        "scrape_samples_scraped": 0.0,
    }


@pytest.mark.parametrize(
    ("body", "content_type", "reason"),
    [
        (
            b"<html><body>Sign in</body></html>",
            "text/html; charset=utf-8",
            "invalid metric name '<html><body>Sign",
        ),
        (b'{"ok":true,"count":1}', "application/json", "missing metric name"),
    ],
)
def test_a_page_that_is_not_metrics_says_so(
    httpserver: HTTPServer, body: bytes, content_type: str, reason: str
) -> None:
    """A login page or the health JSON on the metrics URL read only as a parse error of
    its first line, which sends the on-call to the app instead of the config."""
    error, _ = _values(_scrape(httpserver, body, content_type))
    media = content_type.split(";", maxsplit=1)[0]
    assert error is not None
    assert error.startswith(f"parse error: line 1: {reason}")
    assert error.endswith(f" (the answer is {media}, not metrics: check the URL)")


def test_a_scraped_exported_label_is_not_overwritten_by_a_clash(httpserver: HTTPServer) -> None:
    """`exported_job="a"` next to `job="b"` lost "a" (and two such series became one);
    Prometheus keeps both, the second as exported_exported_job."""
    body = (
        b'm{exported_job="a",job="b",instance="i",exported_instance="j",exported_exported_instance="k"} 1\n'
    )
    httpserver.expect_request("/metrics").respond_with_response(Response(body))
    scraper = Scraper(ScrapeTarget(job="t", url=httpserver.url_for("/metrics"), timeout=2))
    collected = scraper.collect(1_800_000_000.0)
    (labels,) = [lab for lab, _ in collected.samples if lab.name == "m"]
    assert labels.as_dict() == {
        "__name__": "m",
        "job": "t",
        "instance": scraper.instance,
        "exported_job": "a",
        "exported_exported_job": "b",
        "exported_instance": "j",
        "exported_exported_instance": "k",
        "exported_exported_exported_instance": "i",
    }


# -- values and timestamps ------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("m 1e309", "value out of range '1e309'"),
        ("m -" + "9" * 400, "value out of range '-" + "9" * 39 + "'"),
        ("m \u0661", "invalid value '\u0661'"),  # Arabic-Indic one: float() reads it as 1.0
        ("m 1 \u0661\u0662", "invalid timestamp '\u0661\u0662'"),
        ("m 1\u00a0", "invalid value '1\\xa0'"),  # a no-break space is no separator
        ("m 1 +5", "invalid timestamp '+5'"),
        ("m 1 1_000", "invalid timestamp '1_000'"),
        ("m 1 -5", "invalid timestamp '-5'"),
        ("m 1 99999999999999999999", "invalid timestamp '99999999999999999999'"),
    ],
)
def test_numbers_prometheus_refuses_are_refused(line: str, reason: str) -> None:
    """Python's float() and int() are laxer than Go's: an overflow became +Inf (a rule
    `x > 100` fired on it) and other scripts' digits became numbers."""
    with pytest.raises(ExpositionError) as info:
        ExpositionParser().parse(f"ok 1\n{line}\n".encode())
    assert str(info.value) == f"line 2: {reason}"


def test_special_values_and_non_ascii_labels_still_read() -> None:
    text = 'a NaN\nb +Inf\nc -inf\nd Infinity\ne{city="Bengalur\u0075 \u0928\u0917\u0930"} 2 1700000000000\n'
    got = {str(lab): v for lab, v in ExpositionParser().parse(text.encode())}
    assert got["b"] == float("inf")
    assert got["c"] == float("-inf")
    assert got["d"] == float("inf")
    assert got['e{city="Bengaluru \u0928\u0917\u0930"}'] == 2


# -- a target whose series churn -----------------------------------------------------


def test_the_label_cache_of_a_churning_target_stays_near_what_it_exposes() -> None:
    """Bounded only by 4 x max_samples, a target whose `route` label churned (raw
    paths of a scanner) kept up to 500k dead entries, hundreds of MB, in one parser."""
    parser = ExpositionParser(cache_size=400_000)
    stable = "".join(f'http_requests_total{{route="/api/{i}"}} {i}\n' for i in range(500))
    first = parser.parse(stable)
    for scrape in range(20):
        churn = "".join(f'http_requests_total{{route="/x/{scrape}/{i}"}} 1\n' for i in range(2000))
        parser.parse(stable + churn)
        assert len(parser._cache) <= 3 * 2500 + 1024
    again = parser.parse(stable)
    assert len(parser._cache) <= 3 * 2500 + 1024
    assert [lab for lab, _ in again] == [lab for lab, _ in first]


def test_a_steady_target_keeps_its_cache() -> None:
    parser = ExpositionParser(cache_size=400_000)
    text = "".join(f'm{{i="{i}"}} {i}\n' for i in range(3000))
    first = parser.parse(text)
    for _ in range(5):
        again = parser.parse(text)
    assert all(a is b for (a, _), (b, _) in zip(first, again, strict=True))  # straight from the cache


# -- bytes that are not UTF-8 ---------------------------------------------------------


def test_invalid_utf8_in_an_ordinary_comment_does_not_take_the_target_down(httpserver: HTTPServer) -> None:
    """Prometheus reads such a body; the whole scrape used to fail (`up 0`)."""
    error, got = _values(_scrape(httpserver, b"# built by caf\xe9 exporter\na 1\nb 2\n"))
    assert error is None
    assert (got["a"], got["b"], got["up"]) == (1, 2, 1)


@pytest.mark.parametrize(
    "body",
    [b"a 1\n# HELP b caf\xe9\nb 2\n", b'a 1\nb{x="\xff"} 2\n', b"a 1\nb\xff 2\n"],
)
def test_invalid_utf8_anywhere_else_is_refused_naming_the_line(body: bytes) -> None:
    with pytest.raises(ExpositionError, match=r"^line 2: invalid UTF-8$"):
        ExpositionParser().parse(body)


# -- error lines stay short -----------------------------------------------------------


def test_a_megabyte_line_gives_a_short_error(httpserver: HTTPServer) -> None:
    """The reason quotes the payload; a minified blob used to put megabytes in one log line."""
    error, _ = _values(_scrape(httpserver, b"ok 1\nmetric." + b"x" * 2_000_000 + b" 1\n"))
    assert error is not None
    assert error.startswith("parse error: line 2: invalid metric name 'metric.xxx")
    assert len(error) < 250


# -- answers that are not quite HTTP ---------------------------------------------------

Start = Callable[[Callable[[socket.socket], None]], str]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n", "not an HTTP answer (bad status line)"),
        (b"a 1\n", "not an HTTP answer (bad status line)"),  # HTTP/0.9: a body alone
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\na 1\n",
            "the body does not decode as its Content-Encoding says",
        ),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"b" * 70_000 + b"\r\nContent-Length: 4\r\n\r\na 1\n",
            "a response header line longer than 64 KiB",
        ),
        (
            b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 120 + b"Content-Length: 4\r\n\r\na 1\n",
            "more than 100 response headers",
        ),
    ],
)
def test_a_peer_that_does_not_answer_proper_http_gets_a_plain_reason(
    raw_server: Start, read_request: Callable[[socket.socket], None], answer: bytes, reason: str
) -> None:
    """These read as urllib3's nested reprs, e.g. `ConnectionError: ('Connection
    aborted.', BadStatusLine('SSH-2.0-OpenSSH_9.6\\r\\n'))`."""

    def handler(sock: socket.socket) -> None:
        read_request(sock)
        sock.sendall(answer)
        sock.shutdown(socket.SHUT_WR)

    scraper = Scraper(ScrapeTarget(job="t", url=raw_server(handler) + "/metrics", timeout=2))
    collected = scraper.collect(1_800_000_000.0)
    assert collected.error == reason
    assert {lab.name: v for lab, v in collected.samples}["up"] == 0


def _redirect(location: str) -> Response:
    return Response("", 302, headers={"Location": location})


def test_a_redirect_without_a_location_does_not_blame_follow_redirects(httpserver: HTTPServer) -> None:
    """It said `not followed: follow_redirects is false` of a target that follows."""
    httpserver.expect_request("/metrics").respond_with_response(_redirect(""))
    httpserver.expect_request("/health").respond_with_response(_redirect(""))
    scrape = Scraper(ScrapeTarget(job="t", url=httpserver.url_for("/metrics"), timeout=2)).collect(0.0)
    probe = Prober(ProbeTarget(job="p", url=httpserver.url_for("/health"), timeout=2)).collect(0.0)
    assert scrape.error == "HTTP status 302 (a redirect without a Location)"
    assert probe.error == "HTTP status 302, expected 200-299 (a redirect without a Location)"


def test_a_redirect_to_an_unusable_url_never_logs_its_credentials(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/metrics").respond_with_response(
        _redirect("ftp://ops:hunter2@127.0.0.1/m?token=abc")
    )
    collected = Scraper(ScrapeTarget(job="t", url=httpserver.url_for("/metrics"), timeout=2)).collect(0.0)
    assert (
        collected.error
        == "InvalidSchema: No connection adapters were found for 'ftp://127.0.0.1/m?token=REDACTED'"
    )


def _self_signed(directory: Path) -> ssl.SSLContext:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def test_a_tls_failure_reads_as_its_reason_without_the_urls_token(
    raw_server: Start, read_request: Callable[[socket.socket], None], tmp_path: Path
) -> None:
    """It read `SSLError: WatchedHTTPSConnectionPool(host=…): Max retries exceeded with
    url: /metrics?token=s3cret (Caused by SSLError(…))`: the token went to the log."""
    context = _self_signed(tmp_path)

    def handler(sock: socket.socket) -> None:
        with context.wrap_socket(sock, server_side=True) as tls:
            read_request(tls)

    url = raw_server(handler).replace("http://", "https://") + "/metrics?token=s3cret"
    scrape = Scraper(ScrapeTarget(job="t", url=url, timeout=2)).collect(0.0)
    probe = Prober(ProbeTarget(job="p", url=url, timeout=2)).collect(0.0)
    assert scrape.error == probe.error == "TLS certificate not accepted: self-signed certificate"


# -- OCI answers that are not OCI's -----------------------------------------------------
# The real SDK against pytest-httpserver standing in for OCI (and for whatever sits in
# front of it): the SDK signs, this server does not check, and answers as told.

COMPARTMENT = "ocid1.compartment.oc1..aaaareview"
QUERY = MonitoringQuery(
    name="api_cpu",
    namespace="oci_computeagent",
    query="CpuUtilization[1m].mean()",
    compartment_id=COMPARTMENT,
)
STREAM = [
    {
        "namespace": "oci_computeagent",
        "name": "CpuUtilization",
        "dimensions": {"resourceId": "ocid1.instance.oc1..api"},
        "aggregatedDatapoints": [{"timestamp": "2026-11-29T05:00:00Z", "value": 42.5}],
    }
]
ALARMS = [{"id": "ocid1.alarm.oc1..db", "displayName": "DB down", "severity": "CRITICAL", "status": "FIRING"}]
PROXY_PAGE = Response(
    "<html><body>Service temporarily unavailable</body></html>", 200, content_type="text/html"
)


@pytest.fixture
def oci_factory(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ClientFactory]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    creds = write_credentials(tmp_path / "oci")
    raw = {
        "auth": "config_file",
        "config_file": str(creds.config_file),
        "profile": creds.profile,
        "timeouts": {"connect": "2s", "read": "2s"},
        "endpoints": {"monitoring": httpserver.url_for(""), "notification": httpserver.url_for("")},
    }
    reset_circuit_breakers("")
    yield ClientFactory(parse_oci_config(raw))
    reset_circuit_breakers("")


def _answers(httpserver: HTTPServer, path: str, answers: list[Response]) -> None:
    """Serve ``answers`` in turn, the last one for ever."""

    def handler(_: Request) -> Response:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    httpserver.expect_request(re.compile(f".*{path}$")).respond_with_handler(handler)


def _json(payload: object, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, content_type="application/json")


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (PROXY_PAGE, "content-type text/html"),
        (Response("[{not json", 200, content_type="application/json"), "content-type application/json"),
        (Response('{"items": []}', 200, content_type="application/json"), "content-type application/json"),
        (Response("null", 200, content_type="application/json"), "content-type application/json"),
    ],
)
def test_a_monitoring_answer_that_is_not_ocis_is_a_failure_not_an_empty_success(
    httpserver: HTTPServer, oci_factory: ClientFactory, answer: Response, kind: str
) -> None:
    """The SDK reads such a body as a list of empty records: the query said up 1 with
    no data, and a threshold rule saw nothing wrong for as long as it lasted."""
    _answers(httpserver, "summarizeMetricsData", [_json(STREAM), answer])
    source = OciMonitoringSource(
        QUERY, oci_factory.monitoring, TokenBucket(10, 10), backoff=Backoff(30, 600, rng=random.Random(1))
    )
    now = time.time()
    first = source.collect(now)
    assert (first.error, [v for _, v in first.samples], [s.value for s in first.timestamped]) == (
        None,
        [1.0],
        [42.5],
    )
    got = source.collect(now + 60)
    assert got.error == f"oci query api_cpu: HTTP 200 with a body that is not OCI's JSON array ({kind})"
    assert got.error_key == "oci query api_cpu: unreadable"
    assert [v for _, v in got.samples] == [0.0]  # oci_query_up
    assert got.timestamped == []
    assert source.backoff.blocked(now + 61)  # retried later, as any transient failure


def test_an_alarm_answer_that_is_not_ocis_holds_the_last_alarms_instead_of_inventing_one(
    httpserver: HTTPServer, oci_factory: ClientFactory
) -> None:
    """It became one firing alarm named "None" (a page for nothing) while the real
    ones vanished (their incidents resolved, and paged again when OCI answered)."""
    _answers(httpserver, "alarms/status", [_json(ALARMS), PROXY_PAGE])
    cfg = AlarmsConfig(enabled=True, compartment_id=COMPARTMENT, interval=60)
    source = OciAlarmsSource(cfg, oci_factory.monitoring, TokenBucket(10, 10), backoff=Backoff(30, 30))
    now = time.time()
    assert source.collect(now).error is None
    got = source.collect(now + 60)
    assert (
        got.error == "oci alarms: HTTP 200 with a body that is not OCI's JSON array (content-type text/html)"
    )
    firing = {(lab.name, lab.get("alarm")): v for lab, v in got.samples}
    assert firing == {("oci_alarm_firing", "DB down"): 1.0, ("oci_alarms_up", ""): 0.0}


@pytest.mark.parametrize(
    ("answer", "detail"),
    [
        (Response("", 500, headers={"opc-request-id": "RQ1"}), "HTTP 500 (opc-request-id RQ1)"),
        (
            Response(
                "<html>502 Bad Gateway</html>",
                502,
                content_type="text/html",
                headers={"opc-request-id": "RQ2"},
            ),
            "HTTP 502 (opc-request-id RQ2): <html>502 Bad Gateway</html>",
        ),
        (
            _json({"code": "TooManyRequests", "message": "slow down"}, 429),
            re.compile(r"HTTP 429 TooManyRequests \(opc-request-id \w+\): slow down"),
        ),
    ],
)
def test_an_error_without_ocis_code_reads_cleanly(
    httpserver: HTTPServer, oci_factory: ClientFactory, answer: Response, detail: str | re.Pattern[str]
) -> None:
    """A load balancer's error has no code and maybe no text: the line read
    `HTTP 500  (opc-request-id RQ1): ` with a double space and a dangling colon."""
    _answers(httpserver, "summarizeMetricsData", [answer])
    source = OciMonitoringSource(QUERY, oci_factory.monitoring, TokenBucket(10, 10))
    got = source.collect(time.time())
    assert got.error is not None
    shown = got.error.removeprefix("oci query api_cpu: ")
    assert detail.fullmatch(shown) if isinstance(detail, re.Pattern) else shown == detail


def _page() -> Message:
    return Message(
        incident_id=7,
        event=Event.OPEN,
        severity=Severity.P0,
        title="BharatMart API down",
        body="up == 0 for 1m",
        service="bharatmart-api",
        started_at=1_800_000_000.0,
        dedup_key="triaged-7-open",
    )


@pytest.mark.parametrize(
    "answer",
    [PROXY_PAGE, _json({}), Response("", 204)],
)
def test_a_publish_answered_without_a_message_id_is_retried_not_counted_as_sent(
    httpserver: HTTPServer, oci_factory: ClientFactory, answer: Response
) -> None:
    """Only ONS's own answer (with its messageId) says a page went out; a proxy's 200
    page used to mark it delivered, and the on-call never got it."""
    _answers(
        httpserver, "messages", [answer, _json({"messageId": "m-1", "timeStamp": "2026-11-29T05:00:00Z"})]
    )
    ons = OnsNotifier("ons", {"default": "ocid1.onstopic.oc1..pages"}, oci_factory.notification)
    with pytest.raises(NotifyError) as info:
        ons.send(_page(), now=1_800_000_000.0)
    assert not info.value.permanent
    assert str(info.value).startswith("ons topic ocid1.onstopic.oc1..pages: HTTP ")
    assert "without a messageId, publish not confirmed" in str(info.value)
    assert ons.sent == 0
    assert ons.send(_page(), now=1_800_000_001.0).message_id == "m-1"
    assert ons.sent == 1


def test_alarm_pages_that_repeat_an_alarm_or_a_page_token_list_each_alarm_once(
    httpserver: HTTPServer, oci_factory: ClientFactory
) -> None:
    """An alarm that moves between pages while they are read came twice (a duplicate
    series), and a next-page token that repeats was followed to max_pages and then
    reported as "more than N firing"."""
    other = {
        "id": "ocid1.alarm.oc1..api",
        "displayName": "API 5xx",
        "severity": "WARNING",
        "status": "FIRING",
    }

    def handler(request: Request) -> Response:
        page = request.args.get("page")
        rows, token = {None: (ALARMS, "p2"), "p2": ([other, *ALARMS], "p3")}.get(page, ([other], "p3"))
        return Response(
            json.dumps(rows), 200, content_type="application/json", headers={"opc-next-page": token}
        )

    httpserver.expect_request(re.compile(".*alarms/status$")).respond_with_handler(handler)
    cfg = AlarmsConfig(enabled=True, compartment_id=COMPARTMENT, interval=60, max_pages=10)
    got = OciAlarmsSource(cfg, oci_factory.monitoring, TokenBucket(10, 10)).collect(time.time())
    assert got.error is None
    assert sorted(lab.get("alarm") for lab, _ in got.samples if lab.name == "oci_alarm_firing") == [
        "API 5xx",
        "DB down",
    ]
    assert len(httpserver.log) == 3  # the first page, p2, p3: p3 names itself next, and is not asked again


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (
            _json({"failedMetricsCount": 1, "failedMetrics": [{"message": "timestamp older than 2 hours"}]}),
            "oci heartbeat: 1 metric(s) rejected by OCI: timestamp older than 2 hours",
        ),
        (PROXY_PAGE, "oci heartbeat: HTTP 200 without OCI's answer (content-type text/html)"),
    ],
)
def test_a_heartbeat_not_taken_says_why(
    httpserver: HTTPServer, oci_factory: ClientFactory, answer: Response, error: str
) -> None:
    """OCI's reason for refusing a datapoint was dropped, and a proxy's 200 page
    counted as a heartbeat sent."""
    _answers(httpserver, "metrics", [answer])
    beat = Heartbeat(HeartbeatConfig(compartment_id=COMPARTMENT), oci_factory.ingestion, host="h1")
    assert beat.beat(time.time()) == error
    assert beat.sent == 0
