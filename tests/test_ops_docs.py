"""The operations docs say what the code does: the log filters shown survive the
journal's non-JSON lines, and the lock-failure row matches the preflight."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# What `journalctl -u triaged -o cat` really prints: systemd's own lines, click's
# plain error, JSON lines.
JOURNAL = "\n".join(
    [
        "Started triaged.service - triaged incident detection and triage daemon.",
        json.dumps({"event": "incident_opened", "incident_id": 7, "level": "info"}),
        "Error: refusing to start:",
        json.dumps({"event": "cycle_done", "level": "debug"}),
        json.dumps({"event": "job_failed", "incident_id": 8, "level": "error"}),
        "Stopping triaged.service - triaged incident detection and triage daemon...",
    ]
)


def jq_programs() -> list[tuple[str, list[str], str]]:
    """Every ``jq`` call shown in the docs: (where, options, program)."""
    found = []
    for doc in DOCS:
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            for match in re.finditer(r"\| *jq((?: +-[A-Za-z]+)*) +'([^']*)'", line):
                found.append((f"{doc.name}:{number}", match.group(1).split(), match.group(2)))
    return found


def test_every_jq_in_the_docs_reads_raw_lines() -> None:
    calls = [
        (doc.name, line)
        for doc in DOCS
        for line in doc.read_text().splitlines()
        if re.search(r"\| *jq ", line)
    ]
    assert len(calls) >= 2
    assert len(jq_programs()) == len(calls)  # each is run by the test below
    assert [call for call in calls if "fromjson?" not in call[1]] == []


@pytest.mark.parametrize(("where", "options", "program"), jq_programs())
def test_each_jq_filter_reads_raw_lines_and_skips_non_json(
    where: str, options: list[str], program: str
) -> None:
    assert any("R" in option for option in options), f"{where}: jq without -R stops at a non-JSON line"
    assert program.startswith("fromjson? |"), f"{where}: {program}"
    jq = shutil.which("jq")
    if jq is None:
        pytest.skip("jq is not installed: only the text of the filter was checked")
    done = subprocess.run([jq, *options, program], input=JOURNAL, capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, f"{where}: {done.stderr}"
    kept = [json.loads(line) for line in done.stdout.splitlines()]
    assert kept, f"{where}: nothing selected"
    assert all("event" in event for event in kept), where


def test_the_lock_failure_row_says_a_read_only_state_dir_stops_the_start() -> None:
    preflight = (REPO / "daemon" / "triaged" / "service" / "preflight.py").read_text()
    refusal = "is not writable by this user"
    assert refusal in preflight  # what the preflight says for a read-only state dir
    ops = (REPO / "docs" / "operations.md").read_text()
    row = next(line for line in ops.splitlines() if line.startswith("| `instance_lock_failed`"))
    assert refusal in row and "does not start" in row
    assert "(read-only state dir): the daemon runs" not in row
