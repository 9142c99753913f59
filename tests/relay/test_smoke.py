from __future__ import annotations

from google.protobuf import wrappers_pb2

from tests.relay.conftest import Mesh
from tests.relay.probe import UNARY


async def test_unary_call_passes_through(mesh: Mesh) -> None:
    call = mesh.channel.unary_unary(UNARY)
    raw = await call(wrappers_pb2.BytesValue(value=b"hi").SerializeToString(), timeout=5)
    assert wrappers_pb2.BytesValue.FromString(raw).value == b"probe:hi"
