"""The rule files pass `promtool check`, their unit tests pass `promtool test rules`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grafana.queries import SERVER_ERROR_CODES
from tests.observability.conftest import RULE_FILES, RULES_DIR


def promtool() -> str:
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).exists():
        pytest.fail("promtool is not installed: `make apt` installs Debian's prometheus package")
    return path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], capture_output=True, text=True, timeout=60, cwd=RULES_DIR
    )


def test_rule_files_are_valid() -> None:
    result = run("check", "rules", *(str(path) for path in RULE_FILES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_prometheus_config_is_valid() -> None:
    result = run("check", "config", str(RULES_DIR / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


UNIT_TESTS = sorted((RULES_DIR / "tests").glob("*.yml"))


@pytest.mark.parametrize("unit_test", UNIT_TESTS, ids=[path.stem for path in UNIT_TESTS])
def test_rule_unit_tests_pass(unit_test: Path) -> None:
    result = run("test", "rules", str(unit_test))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test() -> None:
    alerts = set(re.findall(r"- alert: (\w+)", (RULES_DIR / "alerts.rules.yml").read_text()))
    tested = {
        name for path in UNIT_TESTS for name in re.findall(r"alertname: (\w+)", path.read_text())
    }
    assert len(alerts) == 6
    assert alerts <= tested, alerts - tested


def test_rules_and_dashboards_call_the_same_statuses_errors() -> None:
    text = (RULES_DIR / "recording.rules.yml").read_text()
    regexes = set(re.findall(r'code=~"([A-Z_|]+)"', text))
    assert regexes == {"|".join(SERVER_ERROR_CODES)}
