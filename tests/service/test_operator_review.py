"""What an operator meets running the daemon by hand: stale files left by a crash,
stores it cannot write, logs it has to read at 3 a.m. Real `triaged` subprocesses."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from triaged.testing.receiver import RecordingReceiver

from .conftest import RULES, TRIAGED, DaemonProcess, Setup, daemon_env, free_port, wait_until

SIGHUP_KILLS = "import signal, time; signal.signal(signal.SIGHUP, signal.SIG_DFL); time.sleep(30)"


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process that is not triaged and that SIGHUP would end."""
    proc = subprocess.Popen([sys.executable, "-c", SIGHUP_KILLS])
    yield proc
    proc.kill()
    proc.wait(10)


def run_triaged(*args: str) -> subprocess.CompletedProcess[str]:
    """``triaged ARGS`` as an operator runs it, bounded, its output captured."""
    return subprocess.run(
        [TRIAGED, *args], capture_output=True, text=True, env=daemon_env(), timeout=30, check=False
    )


def _reload(setup: Setup) -> subprocess.CompletedProcess[str]:
    return run_triaged("reload", "--config", str(setup.config), "--signal", "--timeout", "5")


def test_reload_does_not_signal_the_pid_of_a_stale_pid_file(
    setup: Setup, bystander: subprocess.Popen[bytes]
) -> None:
    """After a kill -9 or a reboot the pid file stays, and its pid may belong to any
    process by now: `triaged reload` must not SIGHUP it to death."""
    (setup.db.parent / "triaged.pid").write_text(f"{bystander.pid}\n")
    result = _reload(setup)
    assert result.returncode == 1
    assert "no triaged is running on" in result.stderr
    assert "nothing was signalled" in result.stderr
    assert bystander.poll() is None


def test_reload_reaches_the_daemon_holding_the_store_whatever_the_pid_file_says(
    setup: Setup, start_daemon: Callable[..., DaemonProcess], bystander: subprocess.Popen[bytes]
) -> None:
    daemon = start_daemon(setup.config)
    daemon.wait_event("daemon_started")
    (setup.db.parent / "triaged.pid").write_text(f"{bystander.pid}\n")
    result = _reload(setup)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("reloaded: 1 rules")
    assert bystander.poll() is None
    assert daemon.stop() == 0


def test_reload_with_no_daemon_and_no_pid_file_says_so(setup: Setup) -> None:
    result = _reload(setup)
    assert result.returncode == 1
    assert f"no triaged is running on {setup.db}: no {setup.db.parent / 'triaged.pid'}" in result.stderr
    assert "after editing storage.db, use --pid" in result.stderr  # the likely cause, and the way out


def test_a_reload_signal_while_the_daemon_starts_is_done_once_it_runs(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """`triaged reload` signals the pid in the store's lock, which the daemon takes before
    it loads its rules and store: SIGHUP's default action must not end it then."""
    lock = setup.db.parent / "triaged.db.lock"
    daemon = start_daemon(setup.config)
    pid = str(daemon.proc.pid)
    deadline = time.monotonic() + 15
    while not (lock.exists() and lock.read_text().strip() == pid):  # as soon as `reload` could see it
        assert time.monotonic() < deadline, "the daemon never took the store's lock"
        time.sleep(0.001)
    daemon.signal(signal.SIGHUP)
    daemon.wait_event("daemon_started")
    outcome = daemon.wait_event("rules_loaded")
    assert outcome["rules"] == 1
    assert daemon.stop() == 0


def test_the_promql_error_operations_md_shows_is_the_one_check_prints(tmp_path: Path) -> None:
    shown = """parse error: 1:7: unexpected "=", expected an\nexpression in 'up == = 0'"""
    doc = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    assert shown.replace("\n", " ") in " ".join(doc.split())
    rules = tmp_path / "bad.rules.yml"
    rules.write_text("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == = 0\n")
    result = subprocess.run(
        [TRIAGED, "rules", "check", str(rules)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 1
    assert shown.replace("\n", " ") in result.stdout + result.stderr


def _read_only(directory: Path, *command: str) -> subprocess.CompletedProcess[str] | None:
    """Run ``command`` with ``directory`` bind-mounted read-only in a mount namespace of
    its own (as root, or as a mapped root where user namespaces are allowed)."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" || exit 99; shift; exec "$@"'
    for flags in (["-m"], ["-r", "-m"]):
        done = subprocess.run(
            [unshare, *flags, "sh", "-c", script, "sh", str(directory), *command],
            capture_output=True,
            text=True,
            env=daemon_env(),
            timeout=60,
            check=False,
        )
        if done.returncode != 99 and "unshare failed" not in done.stderr:
            return done
    return None


def test_a_store_on_a_read_only_file_system_is_named_as_such(setup: Setup) -> None:
    """A remounted-read-only disk is not a permission problem: chmod or chown would not fix it."""
    done = _read_only(setup.dir, TRIAGED, "check", "--config", str(setup.config))
    if done is None:
        pytest.skip("cannot mount a read-only directory here")
    assert done.returncode == 1
    assert f"storage.db: directory {setup.dir} is on a read-only file system" in done.stderr
    assert "not writable by this user" not in done.stderr


def test_a_rule_file_matched_by_two_rule_files_entries_is_loaded_once(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """`rule_files: [rules/api.yml, rules/*.yml]` is an easy overlap to write. Loaded
    twice, every alert of the file was held by two rules: check counted each rule twice
    and the daemon's cycle failed on every tick after the first page (a UNIQUE
    constraint on the alert state), so nothing more was detected or resolved."""
    text = setup.config.read_text()
    listed = f"rule_files: [{setup.rules}]"
    assert listed in text
    setup.config.write_text(text.replace(listed, f"rule_files: [{setup.rules}, '{setup.dir}/*.rules.yml']"))
    check = run_triaged("check", "--config", str(setup.config))
    assert check.returncode == 0, check.stderr
    assert "1 rule groups, 1 rules" in check.stdout
    daemon = start_daemon(setup.config)
    assert daemon.wait_event("daemon_started")["rules"] == 1
    daemon.wait_event("incident_opened")
    wait_until(setup.receiver.payloads, 15, "the page")
    time.sleep(2.5)  # the rule fires on every 1 s tick: each of these cycles writes its state
    assert daemon.named("job_failed") == []
    assert len(setup.receiver.payloads()) == 1
    assert daemon.stop() == 0


def test_a_second_daemon_on_a_symlink_to_the_store_is_refused(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """SQLite follows the link to the same file, so the lock must too: two daemons on
    one store fight over its write lock ("database is locked") and page twice."""
    first = start_daemon(setup.config)
    first.wait_event("daemon_started")
    link = setup.dir / "link.db"
    link.symlink_to(setup.db)
    other = setup.dir / "other.yaml"
    other.write_text(setup.config.read_text().replace(f"db: {setup.db}", f"db: {link}"))
    second = run_triaged("run", "--config", str(other))
    assert second.returncode == 1
    assert f"another triaged (pid {first.proc.pid}) is running on {setup.db}" in second.stderr
    assert first.stop() == 0


def test_a_store_that_can_no_longer_grow_is_named_in_the_one_failure_line(setup: Setup) -> None:
    """A full disk, seen through RLIMIT_FSIZE: every write past the limit fails, and
    SQLite says only "disk I/O error". The log (a pipe here, so the limit spares it)
    must say it is the store, and which one."""
    proc = subprocess.Popen(
        [TRIAGED, "run", "--config", str(setup.config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=daemon_env(),
    )
    assert proc.stdout is not None
    lines: list[dict[str, object]] = []
    reader = threading.Thread(
        target=lambda: lines.extend(json.loads(raw) for raw in proc.stdout or () if raw.startswith(b"{")),
        daemon=True,
    )
    reader.start()
    try:
        wait_until(setup.receiver.payloads, 15, "the page")
        resource.prlimit(proc.pid, resource.RLIMIT_FSIZE, (1, 1))
        failed = wait_until(lambda: [e for e in lines if e.get("event") == "job_failed"], 15, "job_failed")
        assert failed[0]["job"] == "cycle"
        assert str(failed[0]["error"]).endswith(f"(store {setup.db})")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait(10)
        reader.join(10)


def test_a_negative_flush_timeout_is_refused_before_anything_starts(setup: Setup) -> None:
    done = run_triaged("run", "--config", str(setup.config), "--flush-timeout", "-1")
    assert done.returncode == 2
    assert "Invalid value for '--flush-timeout': -1.0 is not in the range x>=0." in done.stderr
    assert not setup.db.exists()


def test_a_send_abandoned_at_stop_is_not_reported_as_a_death_at_the_next_start(
    setup: Setup, start_daemon: Callable[..., DaemonProcess]
) -> None:
    """`systemctl restart` while a receiver hangs leaves the page 'sending'; the next
    start sends it again. The log line must not send the operator looking for a crash."""
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(1)
    hung.settimeout(15)
    text = setup.config.read_text()
    stuck = text.replace(setup.receiver.url, f"http://127.0.0.1:{hung.getsockname()[1]}/hook")
    setup.config.write_text(stuck.replace("timeout: 2s", "timeout: 30s"))
    try:
        first = start_daemon(setup.config, "--flush-timeout", "0")
        conn, _ = hung.accept()  # the page is on its way and will get no answer
        assert first.stop() == 0
        assert first.named("outbox_not_flushed")
        conn.close()
    finally:
        hung.close()
    setup.config.write_text(text)
    second = start_daemon(setup.config)
    released = second.wait_event("notification_claims_released")
    assert released["rows"] == 1
    assert "died" not in released["reason"]
    assert "stopped before they finished, or killed" in released["reason"]
    wait_until(setup.receiver.payloads, 15, "the page, sent again")
    assert [p["dedupKey"] for p in setup.receiver.payloads()] == ["triaged-1-open"]
    assert second.stop() == 0


def test_demo_with_a_store_in_a_missing_directory_says_so_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "no-such-dir" / "demo.db"
    done = subprocess.run(
        [TRIAGED, "demo", "--db", str(db)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: {db}: cannot make the demo's store there (No such file or directory):"
        " give --db a path in a directory you can write\n"
    )


def test_simulate_on_a_port_in_use_names_the_listener_in_one_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        done = subprocess.run(
            [TRIAGED, "simulate", "--port", str(port), "--control-port", "0"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr == (
        f"Error: cannot start the simulator: bharatmart-app on 127.0.0.1:{port}: Address already in use"
        " (--port and --control-port 0 pick free ports)\n"
    )


def test_a_config_that_does_not_load_is_logged_as_json_like_every_other_line(setup: Setup) -> None:
    """Under systemd (or any pipe) the log is JSON lines; the refusal of a broken config
    came out in console format, so `jq -R 'fromjson? | select(.event == …)'` skipped it."""
    setup.config.write_text(setup.config.read_text().replace("interval: 1s", "interval: 1", 1))
    done = run_triaged("run", "--config", str(setup.config))
    assert done.returncode == 1
    events = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    assert [e["event"] for e in events] == ["startup_failed"]
    assert events[0]["level"] == "error"
    assert "interval: 1 is not a valid duration" in events[0]["error"]


def test_reload_through_an_api_that_is_not_listening_points_at_signal(setup: Setup) -> None:
    """`http:` added to the config of a daemon that runs without it: the API reload
    cannot connect, and the way that does reach the daemon is named."""
    done = run_triaged("reload", "--config", str(setup.write(port=free_port())), "--timeout", "5")
    assert done.returncode == 1
    assert "connection refused" in done.stderr
    assert done.stderr.rstrip().endswith("If it started before `http:` was set: --signal")


def test_reload_help_says_which_process_it_signals() -> None:
    done = subprocess.run(
        [TRIAGED, "reload", "--help"], capture_output=True, text=True, timeout=30, check=False
    )
    assert "SIGHUP to the daemon holding the store's lock" in " ".join(done.stdout.split())
    assert "SIGHUP to the pid in <state dir>/triaged.pid" not in " ".join(done.stdout.split())


def as_another_user() -> list[str]:
    """The command prefix that runs as nobody when the tests run as root (root may read
    and write anything, so a permission test needs someone else), else none."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv to drop privileges")
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    # A checkout under a private directory (mktemp -d makes it 0700) is out of nobody's
    # reach: then there is no other user to run triaged as, and the test cannot be made.
    reach = subprocess.run([*nobody, TRIAGED, "--version"], capture_output=True, timeout=30, check=False)
    if reach.returncode != 0:
        pytest.skip(f"user nobody cannot run {TRIAGED} (a directory above it is private)")
    return nobody


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory every user may write, outside pytest's private tmp tree."""
    made = Path(tempfile.mkdtemp(prefix="triaged-op-"))
    made.chmod(0o777)
    yield made
    shutil.rmtree(made, ignore_errors=True)


def test_a_store_file_this_user_cannot_write_is_refused_before_the_start(
    shared_dir: Path, receiver: RecordingReceiver
) -> None:
    """Restored or first created as root, the store is opened read-only by SQLite
    without a word: the daemon started, said it was ready, and failed every cycle."""
    (shared_dir / "shop.rules.yml").write_text(RULES)
    config = shared_dir / "triaged.yaml"
    config.write_text(
        f"storage: {{db: {shared_dir / 'triaged.db'}}}\nrule_files: [shop.rules.yml]\n"
        f"notifiers: [{{name: hook, type: webhook, url: '{receiver.url}'}}]\nlog: {{format: json}}\n"
    )
    for made in (shared_dir / "shop.rules.yml", config):
        made.chmod(0o644)
    db = shared_dir / "triaged.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE restored (x)")
    conn.close()
    user = as_another_user()
    db.chmod(0o644 if user else 0o444)
    refusal = f"storage.db: {db} is not writable by this user (it belongs to "
    for command in ("check", "run"):
        done = subprocess.run(
            [*user, TRIAGED, command, "--config", str(config)],
            capture_output=True,
            text=True,
            env=daemon_env(),
            timeout=30,
            check=False,
        )
        assert done.returncode == 1, (command, done.stdout, done.stderr)
        assert refusal in done.stderr, (command, done.stderr)
    assert "refusing to start:" in done.stderr


def test_a_log_that_cannot_be_written_costs_log_lines_not_the_daemons_work(setup: Setup) -> None:
    """The reader of stderr goes away (a pipe to a log shipper that died; a file on a
    full disk fails the same way): every later log call raised, aborting whatever was
    logging, down to the clean exit on SIGTERM."""
    setup.rules.write_text(RULES.replace("expr: vector(1)\n", "expr: vector(1)\n        for: 2s\n"))
    proc = subprocess.Popen(
        [TRIAGED, "run", "--config", str(setup.config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=daemon_env(),
    )
    try:
        assert proc.stderr is not None
        while b'"daemon_started"' not in proc.stderr.readline():
            assert proc.poll() is None, "the daemon exited"
        proc.stderr.close()  # before the alert has fired: everything after is logged into the void
        wait_until(setup.receiver.payloads, 15, "the page")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
    finally:
        proc.kill()
        proc.wait(10)
    assert [p["dedupKey"] for p in setup.receiver.payloads()] == ["triaged-1-open"]


def test_a_storage_db_that_is_a_directory_fails_check_not_only_run(setup: Setup) -> None:
    setup.db.mkdir()
    done = run_triaged("check", "--config", str(setup.config))
    assert done.returncode == 1
    assert (
        f"storage.db: {setup.db} is a directory: give the path of the store's file inside it" in done.stderr
    )


def test_a_rules_directory_this_user_cannot_list_is_named_not_just_matches_no_file(
    shared_dir: Path, receiver: RecordingReceiver
) -> None:
    """/etc/triaged/rules installed root-only: the files are there, glob skips the
    directory in silence, and "matches no file" sent the operator to look at names."""
    rules = shared_dir / "rules"
    rules.mkdir()
    (rules / "shop.rules.yml").write_text(RULES)
    config = shared_dir / "triaged.yaml"
    config.write_text(
        f"storage: {{db: {shared_dir / 'triaged.db'}}}\nrule_files: ['rules/*.rules.yml']\n"
        f"notifiers: [{{name: hook, type: webhook, url: '{receiver.url}'}}]\n"
    )
    config.chmod(0o644)
    user = as_another_user()
    rules.chmod(0o700 if user else 0o000)
    try:
        done = subprocess.run(
            [*user, TRIAGED, "check", "--config", str(config)],
            capture_output=True,
            text=True,
            env=daemon_env(),
            timeout=30,
            check=False,
        )
    finally:
        rules.chmod(0o755)
    assert done.returncode == 1
    assert (
        f"rule_files: 'rules/*.rules.yml' matches no file: directory {rules} is not readable by this user"
        in done.stderr
    )


def test_a_rule_files_glob_into_a_missing_directory_names_it_resolved(setup: Setup) -> None:
    """The example config run without systemd's $CONFIGURATION_DIRECTORY reads
    '../rules/*.rules.yml' next to /etc/triaged: say which directory that is."""
    etc = setup.dir / "etc" / "triaged"
    etc.mkdir(parents=True)
    config = etc / "triaged.yaml"
    config.write_text(
        setup.config.read_text().replace(
            f"rule_files: [{setup.rules}]", "rule_files: ['../rules/*.rules.yml']"
        )
    )
    done = run_triaged("check", "--config", str(config))
    assert done.returncode == 1
    wanted = f"'../rules/*.rules.yml' matches no file: directory {setup.dir / 'etc' / 'rules'} does not exist"
    assert wanted in done.stderr
