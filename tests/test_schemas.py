"""The protobuf schemas: lint-clean, and the committed generated code matches them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUF = Path(sys.executable).parent / "buf"


def test_generated_code_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "proto" / "generate.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", ["proto", "examples/tools/proto"])
def test_buf_lint_is_clean(module: str) -> None:
    buf = str(BUF) if BUF.exists() else shutil.which("buf")
    assert buf, "buf is not installed (pip package buf-bin, in the test extras)"
    result = subprocess.run(
        [buf, "lint"], cwd=REPO / module, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
