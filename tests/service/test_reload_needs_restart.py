"""A reload names the settings it could not apply as they are written in the file."""

from __future__ import annotations

from pathlib import Path

from triaged.config import Config, load_config
from triaged.service.host import restart_only_changes

BEFORE = """storage: {db: ./t.db}
rule_files: [a.rules.yml]
evaluation_interval: 15s
notifiers: [{name: log, type: log}]
route: {receiver: log}
log: {level: info}
"""


def _load(tmp_path: Path, name: str, text: str) -> Config:
    (tmp_path / "a.rules.yml").write_text("groups: []\n")
    path = tmp_path / name
    path.write_text(text)
    return load_config(path)


def test_changed_settings_are_named_by_their_keys_in_the_file(tmp_path: Path) -> None:
    old = _load(tmp_path, "old.yaml", BEFORE)
    edited = (
        BEFORE.replace("15s", "30s")
        .replace("{receiver: log}", "{receiver: log, group_wait: 10s}")
        .replace("level: info", "level: debug")
        .replace("./t.db", "./other.db")
        + "incidents: {resolve_hold: 77s, group_by: [team]}\n"
    )
    new = _load(tmp_path, "new.yaml", edited)
    # The interval, route, log level and resolve hold are applied by the reload itself.
    assert restart_only_changes(old, new) == ["incidents.group_by", "storage.db"]


def test_moving_lines_or_editing_comments_needs_no_restart(tmp_path: Path) -> None:
    """Only the rule files' line moved (a comment added above them): nothing to warn of."""
    old = _load(tmp_path, "old.yaml", BEFORE)
    new = _load(tmp_path, "new.yaml", "# rules live beside this file\n\n" + BEFORE)
    assert new.rule_files_line != old.rule_files_line
    assert restart_only_changes(old, new) == []


def test_a_setting_that_waits_for_a_restart_is_named_again_at_the_next_reload(tmp_path: Path) -> None:
    """What runs after a reload keeps the old group_by and store: reloading the same file
    again still says they wait, while the route edit is not named twice."""
    from triaged.service.host import applied

    old = _load(tmp_path, "old.yaml", BEFORE)
    edited = BEFORE.replace("./t.db", "./other.db").replace(
        "{receiver: log}", "{receiver: log, group_wait: 9s}"
    )
    new = _load(tmp_path, "new.yaml", edited + "incidents: {group_by: [team], resolve_hold: 1m}\n")
    running = applied(old, new)
    assert running.db_path == old.db_path and running.incidents.group_by == old.incidents.group_by
    assert running.incidents.resolve_hold_s == 60 and running.alerting == new.alerting
    assert restart_only_changes(running, new) == ["incidents.group_by", "storage.db"]
