"""A config, rule or rule-test file saved in another encoding (one Latin-1 é, a cp1252
quote) or holding a control character is one located line from `check`, `rules
check` and `rules test`, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from triaged.cli import cli
from triaged.config import load_config
from triaged.errors import ConfigError

RULES = b"""groups:
  - name: g
    rules:
      - alert: A
        expr: vector(1) > 2
        labels: {severity: P2}
"""
LATIN1_LINE = b'        annotations: {summary: "caf\xe9"}\n'  # line 7 of the rule file


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def not_utf8(path: Path, line: int, offset: int, byte: str = "0xe9") -> str:
    return f"{path}:{line}: not UTF-8 (byte {byte} at offset {offset}): save the file as UTF-8"


def write_config(tmp_path: Path, extra: bytes = b"") -> Path:
    config = tmp_path / "triaged.yaml"
    config.write_bytes(
        b"storage: {db: ./t.db}\nrule_files: [./rules.yml]\nnotifiers: [{name: log, type: log}]\n" + extra
    )
    return config


def test_rules_check_names_the_line_and_offset_of_the_byte(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_bytes(RULES + LATIN1_LINE)
    result = invoke("rules", "check", str(rules))
    assert result.exit_code == 1
    offset = len(RULES) + LATIN1_LINE.index(b"\xe9")
    assert result.output.splitlines()[0] == not_utf8(rules, 7, offset)
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_check_reports_a_rule_file_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_bytes(RULES + LATIN1_LINE)
    result = invoke("check", "--config", str(write_config(tmp_path)))
    assert result.exit_code == 1
    assert not_utf8(tmp_path / "rules.yml", 7, len(RULES) + LATIN1_LINE.index(b"\xe9")) in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_check_reports_a_config_with_a_cp1252_quote_in_a_comment(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_bytes(RULES)
    config = write_config(tmp_path, b"# owner: \x93Ren\xe9e\x94\n")
    result = invoke("check", "--config", str(config))
    assert result.exit_code == 1
    offset = config.read_bytes().index(b"\x93")
    assert result.output.splitlines()[0] == not_utf8(config, 4, offset, "0x93")
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert str(raised.value) == not_utf8(config, 4, offset, "0x93")


def test_rules_test_reports_its_own_file_and_the_rule_file_it_loads(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_bytes(RULES)
    tests = tmp_path / "rules.test.yml"
    tests.write_bytes(b"rule_files: [rules.yml]\n# caf\xe9\ntests: []\n")
    result = invoke("rules", "test", str(tests))
    assert result.exit_code == 1
    assert not_utf8(tests, 2, tests.read_bytes().index(b"\xe9")) in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)

    tests.write_bytes(
        b"rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n"
        b"    input_series: []\n    alert_rule_test: []\n"
    )
    rules.write_bytes(RULES + LATIN1_LINE)
    result = invoke("rules", "test", str(tests))
    assert result.exit_code == 1
    assert not_utf8(rules, 7, len(RULES) + LATIN1_LINE.index(b"\xe9")) in result.output
    assert not isinstance(result.exception, UnicodeDecodeError)


def test_a_control_character_is_one_located_line(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yml"
    rules.write_bytes(RULES + b'        annotations: {summary: "a\x1bb"}\n')
    result = invoke("rules", "check", str(rules))
    assert result.exit_code == 1
    offset = rules.read_bytes().index(b"\x1b")
    assert result.output.splitlines()[0] == (
        f"{rules}:7: invalid YAML: control character 0x1b at offset {offset} is not allowed"
    )
