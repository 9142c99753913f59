from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest

from .fake_registry import FakeRegistry


@pytest.fixture
async def registry() -> AsyncIterator[FakeRegistry]:
    fake = FakeRegistry()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def dead_address() -> str:
    """A loopback address with nothing listening (a port the OS just handed out, then freed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"127.0.0.1:{port}"
