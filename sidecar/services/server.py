"""The sidecar's internal grpc.aio server: health, reflection and toolmesh.v1.Sidecar.

It listens on a unix socket in a private temporary directory by default (nothing else on
the machine can reach it by accident; the relay forwards INTERNAL_SERVICES calls to it), or
on a given address (e.g. `127.0.0.1:0` so tools like grpcurl can reach it directly).
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2_grpc

from mesh.addresses import parse_address
from mesh.api.v1 import sidecar_pb2_grpc
from sidecar.catalog import CatalogHolder
from sidecar.services.api import DEFAULT_MAX_MESSAGE_BYTES, SidecarApi
from sidecar.services.health import CatalogHealth
from sidecar.services.reflection import CatalogReflection

SOCKET_NAME = "internal.sock"


class InternalServer(grpc.aio.Server):
    """A grpc.aio.Server whose stop() also releases what the internal services hold
    (the holder listener, the relay channel, the socket directory)."""

    def __init__(
        self,
        server: grpc.aio.Server,
        health: CatalogHealth,
        api: SidecarApi,
        socket_dir: Path | None,
    ) -> None:
        self._server = server
        self.health = health
        self.api = api
        self._socket_dir = socket_dir

    def add_generic_rpc_handlers(
        self, generic_rpc_handlers: Iterable[grpc.GenericRpcHandler[Any, Any]]
    ) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        # Called by generated add_*Servicer_to_server functions.
        self._server.add_registered_method_handlers(service_name, method_handlers)  # type: ignore[attr-defined]

    def add_insecure_port(self, address: str) -> int:
        return self._server.add_insecure_port(address)

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        return self._server.add_secure_port(address, server_credentials)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self, grace: float | None = None) -> None:
        """Health turns NOT_SERVING first, so watchers see the shutdown; then calls in
        flight get `grace` seconds."""
        await self.health.stop()
        await self._server.stop(grace)
        await self.api.close()
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    async def wait_for_termination(self, timeout: float | None = None) -> bool:
        return await self._server.wait_for_termination(timeout)


async def start_internal_server(
    holder: CatalogHolder,
    relay_address: str,
    *,
    bind: str | None = None,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
) -> tuple[grpc.aio.Server, str]:
    """Starts the internal server; returns it and its address in mesh form.

    `bind`: None for a unix socket in a fresh private temp dir (`unix:/tmp/…/internal.sock`),
    or a listen address (`127.0.0.1:0` picks a free port; the returned address has the real
    one). `relay_address`: where Invoke sends tool calls. Stop with `server.stop(grace)`.
    Raises AddressError for a malformed `bind`, RuntimeError when it cannot be bound.
    """
    socket_dir: Path | None = None
    if bind is None:
        socket_dir = Path(tempfile.mkdtemp(prefix="toolmesh-sidecar-"))
        listen = parse_address(f"unix:{socket_dir / SOCKET_NAME}")
    else:
        listen = parse_address(bind, allow_port_zero=True)
    options = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    server = grpc.aio.server(options=options)
    health = CatalogHealth(holder)
    api = SidecarApi(holder, relay_address, max_message_bytes=max_message_bytes)
    internal = InternalServer(server, health, api, socket_dir)
    health_pb2_grpc.add_HealthServicer_to_server(health.servicer, server)
    server.add_generic_rpc_handlers(CatalogReflection(holder).handlers())
    sidecar_pb2_grpc.add_SidecarServicer_to_server(api, server)  # type: ignore[no-untyped-call]
    try:
        port = server.add_insecure_port(listen.grpc_target())
    except RuntimeError as error:
        if socket_dir is not None:
            shutil.rmtree(socket_dir, ignore_errors=True)
        raise RuntimeError(f"internal server: cannot listen on {listen}: {error}") from None
    address = str(listen if listen.is_unix else dataclasses.replace(listen, port=port))
    await health.start()
    await server.start()
    return internal, address
