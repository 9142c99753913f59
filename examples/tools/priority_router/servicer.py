"""The `support.v1.PriorityRouter` servicer and `start()`."""

from __future__ import annotations

import grpc

from examples.tools.gen.support.v1 import priority_router_pb2, priority_router_pb2_grpc, tier_pb2
from examples.tools.priority_router.rules import Ticket, TicketError, route
from examples.tools.serving import DEFAULT_LISTEN, start_server

RouteRequest = priority_router_pb2.RouteRequest
RouteResponse = priority_router_pb2.RouteResponse

# TIER_UNSPECIFIED and numbers this schema does not know map to "" (treated as free).
_TIERS = {
    tier_pb2.TIER_FREE: "free",
    tier_pb2.TIER_PRO: "pro",
    tier_pb2.TIER_ENTERPRISE: "enterprise",
}
_PRIORITIES = {
    1: priority_router_pb2.PRIORITY_P1,
    2: priority_router_pb2.PRIORITY_P2,
    3: priority_router_pb2.PRIORITY_P3,
    4: priority_router_pb2.PRIORITY_P4,
}


class PriorityRouterServicer(priority_router_pb2_grpc.PriorityRouterServicer):
    """Routes requests with the fixed rules; INVALID_ARGUMENT for a score outside [-1, 1]."""

    async def Route(
        self,
        request: RouteRequest,
        context: grpc.aio.ServicerContext[RouteRequest, RouteResponse],
    ) -> RouteResponse:
        ticket = Ticket(
            sentiment_score=request.sentiment_score,
            tier=_TIERS.get(request.tier, ""),
            subject=request.subject,
            body=request.body,
            open_tickets=request.open_tickets,
            is_reply=request.is_reply,
        )
        try:
            routing = route(ticket)
        except TicketError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"priority_router: {error}")
        return RouteResponse(
            priority=_PRIORITIES[routing.priority], queue=routing.queue, reasons=routing.reasons
        )


async def start(listen: str = DEFAULT_LISTEN) -> tuple[grpc.aio.Server, str]:
    """Starts a priority router on `listen`; returns it and its bound address."""

    def register(server: grpc.aio.Server) -> None:
        # The generated registration function is untyped.
        priority_router_pb2_grpc.add_PriorityRouterServicer_to_server(  # type: ignore[no-untyped-call]
            PriorityRouterServicer(), server
        )

    return await start_server("priority_router", register, listen)
