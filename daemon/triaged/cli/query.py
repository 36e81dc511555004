"""`triaged query EXPR`: try an expression while writing a rule.

It runs against a running daemon's data (``--api URL``, through its HTTP API) or
against a one-off scrape of targets (``--scrape URL`` or the targets of ``--config``).
``--scrapes N --every 5s`` scrapes more than once, so that ``rate()`` has points to
work with.
"""

from __future__ import annotations

import sys
import time

import click

from triaged.cli.common import api_unreachable, config_option, json_option, print_json, table


@click.command()
@click.argument("expr")
@click.option(
    "--api",
    "api_url",
    default=None,
    metavar="URL",
    help="A running daemon's API, e.g. http://127.0.0.1:9467 (token: $TRIAGED_API_TOKEN).",
)
@click.option(
    "--token-file", default=None, type=click.Path(dir_okay=False), help="File holding the API token."
)
@click.option("--scrape", "urls", multiple=True, metavar="URL", help="A /metrics URL to scrape (repeatable).")
@config_option()
@click.option("--scrapes", default=1, show_default=True, help="How many scrapes before evaluating.")
@click.option("--every", default="5s", show_default=True, metavar="DURATION", help="Time between scrapes.")
@click.option("--timeout", default="10s", show_default=True, metavar="DURATION", help="Scrape timeout.")
@json_option
def query(
    expr: str,
    api_url: str | None,
    token_file: str | None,
    urls: tuple[str, ...],
    config_path: str | None,
    scrapes: int,
    every: str,
    timeout: str,
    as_json: bool,
) -> None:
    """Evaluate a PromQL expression against a running daemon or a one-off scrape.

    With --config, one poll of everything the config reads: targets, probes and OCI
    Monitoring queries.

    \b
    Examples:
      TRIAGED_API_TOKEN=… triaged query 'up == 0' --api http://127.0.0.1:9467
      triaged query 'up' --scrape http://127.0.0.1:3000/metrics
      triaged query 'sum by (status) (rate(payments_processed_total[10s]))' \\
          --scrape http://127.0.0.1:3000/metrics --scrapes 3 --every 5s
      triaged query 'probe_success' --config /etc/triaged/triaged.yaml
    """
    if api_url:
        _print_api(_ask_daemon(api_url, expr, token_file), as_json)
        return
    from triaged.errors import ConfigError
    from triaged.promql import Engine, ExprError, parse_expr
    from triaged.sources.base import Source
    from triaged.sources.scrape import Scraper, ScrapeTarget
    from triaged.tsdb import Storage, StorageLimits

    try:
        parsed = parse_expr(expr)
    except ExprError as exc:
        raise click.ClickException(str(exc)) from exc
    gap, limit = _duration(every, "--every"), _duration(timeout, "--timeout")
    sources: list[Source] = [Scraper(ScrapeTarget(job="query", url=u, timeout=limit)) for u in urls]
    if config_path:
        from triaged.app import build_sources
        from triaged.config import load_config

        try:
            cfg = load_config(config_path)
            sources += build_sources(cfg)
            if cfg.oci is not None:  # Monitoring queries too (the heartbeat is not sent)
                from triaged.oci_wiring import build_oci

                oci = build_oci(cfg, open_incidents=lambda: 0)
                sources += oci.sources if oci else []
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc
    if not sources:
        raise click.UsageError(
            "nothing to query: give --api URL (a running daemon), --scrape URL or --config FILE"
        )
    storage = Storage(StorageLimits(retention_ms=None))
    now = time.time()
    for i in range(max(1, scrapes)):
        if i:
            time.sleep(gap)
            now = time.time()
        for source in sources:
            got = source.collect(now)
            storage.append_batch(
                source.key, got.samples, got.t_ms, cumulative=got.cumulative, zero_at_ms=got.zero_at_ms
            )
            storage.append_timestamped(got.timestamped, got.t_ms, revisable=got.revisable)
            if got.error:
                click.echo(f"{source.key}: {got.error}", err=True)
    try:
        result = Engine(storage).instant(parsed, int(now * 1000))
    except ExprError as exc:
        raise click.ClickException(str(exc)) from exc
    _print(result, as_json)
    if not _has_rows(result):
        sys.exit(1)


def _print(result: object, as_json: bool) -> None:
    from triaged.model import format_value
    from triaged.promql import Matrix, Scalar, String, Vector

    if isinstance(result, Vector):
        rows = [(str(s.labels), format_value(s.value)) for s in result]
        if as_json:
            print_json([{"metric": s.labels.as_dict(), "value": s.value} for s in result])
        else:
            click.echo(table(("SERIES", "VALUE"), rows) if rows else "empty result")
    elif isinstance(result, Scalar | String):
        click.echo(result.value if not as_json else f'{{"value": "{result.value}"}}')
    elif isinstance(result, Matrix):
        for series in result:
            points = " ".join(f"{format_value(v)}@{t / 1000:.3f}" for t, v in series.points)
            click.echo(f"{series.labels}  {points}")


def _has_rows(result: object) -> bool:
    from triaged.promql import Matrix, Vector

    return not isinstance(result, Vector | Matrix) or len(result) > 0


def _ask_daemon(api_url: str, expr: str, token_file: str | None) -> dict[str, object]:
    import os

    import requests

    token = os.environ.get("TRIAGED_API_TOKEN", "")
    if token_file:
        with open(token_file, encoding="utf-8") as f:
            token = f.read().strip()
    try:
        resp = requests.get(
            f"{api_url.rstrip('/')}/api/v1/query", params={"query": expr},
            headers={"Authorization": f"Bearer {token}"}, timeout=10,
        )  # fmt: skip
    except requests.RequestException as exc:
        raise click.ClickException(api_unreachable(api_url, exc)) from exc
    body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
    if resp.status_code != 200:
        raise click.ClickException(f"{api_url}: HTTP {resp.status_code}: {body.get('error', resp.reason)}")
    data: dict[str, object] = body["data"]
    return data


def _duration(text: str, option: str) -> float:
    from triaged.durations import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise click.ClickException(f"{option}: {exc}") from exc


def _print_api(data: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(data)
        return
    result = data["result"]
    if data["resultType"] != "vector" or not isinstance(result, list):
        click.echo(result)
        return
    rows = [(_series_name(r["metric"]), r["value"][1]) for r in result]
    click.echo(table(("SERIES", "VALUE"), rows) if rows else "empty result")
    if not rows:
        sys.exit(1)


def _series_name(metric: dict[str, str]) -> str:
    from triaged.model import Labels

    return str(Labels.of(metric))
