"""The README lists every metric exactly as the code declares it."""

from __future__ import annotations

from pathlib import Path

from mesh.telemetry.metrics import metrics_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_metric_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    start = text.index("\n", text.index("<!-- metrics:start")) + 1
    end = text.index("<!-- metrics:end -->")
    expected = "| metric | type | labels | meaning |\n|---|---|---|---|\n" + metrics_table() + "\n"
    assert text[start:end] == expected, "regenerate from mesh.telemetry.metrics.metrics_table()"
