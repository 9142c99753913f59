"""`toolmesh.v1.Sidecar`: ListTools (tools with JSON Schemas) and Invoke (JSON in, JSON out).

Invoke calls the tool through the relay's address, like any agent call, so the tool's
policy (deadline, retries, breaker...) applies to it too; the relay is transparent, so the
tool's status code and message come back unchanged as Invoke's own.
"""

from __future__ import annotations

from typing import Any

import grpc

from mesh.api.v1 import sidecar_pb2
from sidecar.catalog import Catalog, CatalogHolder, ToolEntry
from sidecar.services import invoke
from sidecar.services.tool_info import tool_info

DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024


class SidecarApi:
    """The Sidecar servicer (register with `sidecar_pb2_grpc.add_SidecarServicer_to_server`).

    `relay_address`: where tool calls go (a mesh address: `host:port` or `unix:/path`).
    `max_message_bytes` bounds each message to and from the relay, and the total of a
    collected response stream. The channel is opened on first use; `close()` closes it.
    """

    def __init__(
        self,
        holder: CatalogHolder,
        relay_address: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._holder = holder
        self._relay_address = relay_address
        self._max_message_bytes = max_message_bytes
        self._channel: grpc.aio.Channel | None = None
        self._listed: tuple[Catalog, sidecar_pb2.SidecarListToolsResponse] | None = None
        # Per tool, the entry its info was made from: unchanged tools keep their schemas.
        self._infos: dict[str, tuple[ToolEntry, sidecar_pb2.ToolInfo]] = {}

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            await channel.close(None)

    def _relay(self) -> grpc.aio.Channel:
        if self._channel is None:
            size = self._max_message_bytes
            self._channel = grpc.aio.insecure_channel(
                self._relay_address,
                options=[
                    ("grpc.max_receive_message_length", size),
                    ("grpc.max_send_message_length", size),
                ],
            )
        return self._channel

    async def ListTools(
        self,
        request: sidecar_pb2.SidecarListToolsRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> sidecar_pb2.SidecarListToolsResponse:
        return self.list_tools(self._holder.catalog)

    def list_tools(self, catalog: Catalog) -> sidecar_pb2.SidecarListToolsResponse:
        """The ListTools answer for `catalog` (memoized for the latest catalog)."""
        if self._listed is not None and self._listed[0] is catalog:
            return self._listed[1]
        infos: dict[str, tuple[ToolEntry, sidecar_pb2.ToolInfo]] = {}
        for name, entry in catalog.tools.items():
            known = self._infos.get(name)
            infos[name] = (
                known if known is not None and known[0] is entry else (entry, tool_info(entry))
            )
        self._infos = infos
        response = sidecar_pb2.SidecarListToolsResponse(
            tools=[info for _, info in infos.values()],
            catalog_version=catalog.version,
            from_cache=catalog.from_cache,
        )
        self._listed = (catalog, response)
        return response

    async def Invoke(
        self, request: sidecar_pb2.InvokeRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> sidecar_pb2.InvokeResponse:
        try:
            return await self._invoke(request, context.time_remaining())
        except invoke.InvokeError as error:
            await context.abort(error.code, error.message, error.trailing_metadata)
            raise  # abort() raises; this line only tells type checkers so

    async def _invoke(
        self, request: sidecar_pb2.InvokeRequest, remaining_s: float | None
    ) -> sidecar_pb2.InvokeResponse:
        method = invoke.resolve(self._holder.catalog, request.method)
        payloads = invoke.encode_requests(method, request.request_json)
        metadata = invoke.call_metadata(request.metadata)
        timeout = request.timeout_ms / 1000 if request.timeout_ms else None
        if remaining_s is not None:
            # The tool's deadline never outlives the Invoke call's own.
            timeout = remaining_s if timeout is None else min(timeout, remaining_s)
        responses = await invoke.call(
            self._relay(),
            method,
            payloads,
            timeout=timeout,
            metadata=metadata,
            max_response_bytes=self._max_message_bytes,
        )
        texts = [invoke.decode_response(method, data) for data in responses]
        answer = sidecar_pb2.InvokeResponse(response_json=texts[-1] if texts else "")
        if method.shape.server_streaming:
            answer.stream_json.extend(texts)
        return answer
