"""The priority router: its rules, and the tool over real gRPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from examples.tools import priority_router
from examples.tools.gen.support.v1 import priority_router_pb2, priority_router_pb2_grpc, tier_pb2
from examples.tools.priority_router import Ticket, TicketError, route

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]


def test_an_angry_enterprise_outage_is_p1_in_the_technical_queue() -> None:
    routing = route(
        Ticket(sentiment_score=-0.8, tier="enterprise", subject="Outage", body="API is down")
    )
    assert routing.priority == 1
    assert routing.queue == "technical"
    assert routing.reasons == (
        "enterprise tier (+3)",
        "strongly negative sentiment -0.80 (+2)",
        "urgent wording 'outage' (+2)",
        "queue technical: mentions 'outage'",
    )


def test_a_calm_free_question_is_p4_in_general() -> None:
    routing = route(Ticket(sentiment_score=0.4, tier="free", subject="How do I export?"))
    assert (routing.priority, routing.queue, routing.reasons) == (4, "general", ())


def test_points_add_up_to_the_middle_priorities() -> None:
    # pro +1, mildly negative +1, 3 open tickets +1 -> 3 points: P2.
    p2 = route(Ticket(sentiment_score=-0.3, tier="pro", open_tickets=3, body="refund please"))
    assert (p2.priority, p2.queue) == (2, "billing")
    # A follow-up alone: 1 point, P3. Unknown tier counts as free.
    assert route(Ticket(is_reply=True)).priority == 3


def test_security_outranks_other_topics() -> None:
    routing = route(Ticket(body="Refund? My account was hacked after a login error"))
    assert routing.queue == "security"


@pytest.mark.parametrize("score", [-1.5, 1.01, float("nan")])
def test_a_score_outside_the_range_is_refused(score: float) -> None:
    with pytest.raises(TicketError, match="sentiment_score"):
        route(Ticket(sentiment_score=score))


@pytest.fixture
async def stub(open_tool: OpenTool) -> priority_router_pb2_grpc.PriorityRouterStub:
    channel = await open_tool(priority_router.start)
    return priority_router_pb2_grpc.PriorityRouterStub(channel)  # type: ignore[no-untyped-call]


async def test_route_over_grpc(stub: priority_router_pb2_grpc.PriorityRouterStub) -> None:
    response = await stub.Route(
        priority_router_pb2.RouteRequest(
            sentiment_score=-0.6,
            tier=tier_pb2.TIER_ENTERPRISE,
            subject="Invoice charged twice",
            is_reply=True,
        ),
        timeout=5,
    )
    assert response.priority == priority_router_pb2.PRIORITY_P1
    assert response.queue == "billing"
    assert "customer is following up (+1)" in response.reasons


async def test_unspecified_tier_is_routed_as_free(
    stub: priority_router_pb2_grpc.PriorityRouterStub,
) -> None:
    response = await stub.Route(priority_router_pb2.RouteRequest(subject="hello"), timeout=5)
    assert response.priority == priority_router_pb2.PRIORITY_P4
    assert list(response.reasons) == []


async def test_route_refuses_a_bad_score_with_invalid_argument(
    stub: priority_router_pb2_grpc.PriorityRouterStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Route(priority_router_pb2.RouteRequest(sentiment_score=3.0), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (
        caught.value.details()
    ) == "priority_router: sentiment_score must be within [-1, 1] (got 3.0)"
