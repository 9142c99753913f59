"""The demo's support pipeline against the example tools, served together on one address.

The demo calls through a sidecar; here one grpc.aio server hosts the four servicers, so the
pipeline's calls and the way it reports their answers are tested without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import grpc
import pytest

from mesh.addresses import parse_address
from mesh.cli.support_pipeline import PipelineStepFailed, StepResult, run_support_pipeline
from tests.cli.conftest import EXAMPLES_MISSING

pytestmark = pytest.mark.skipif(
    EXAMPLES_MISSING is not None, reason=f"needs the example tools: {EXAMPLES_MISSING}"
)

Adder = Callable[[grpc.aio.Server], None]


def all_tools(server: grpc.aio.Server) -> None:
    from examples.tools.customer_lookup import servicer as customer_lookup
    from examples.tools.email_parser import servicer as email_parser
    from examples.tools.gen.support.v1 import (
        customer_lookup_pb2_grpc,
        email_parser_pb2_grpc,
        priority_router_pb2_grpc,
        sentiment_pb2_grpc,
    )
    from examples.tools.priority_router import servicer as priority_router
    from examples.tools.sentiment import servicer as sentiment

    email_parser_pb2_grpc.add_EmailParserServicer_to_server(  # type: ignore[no-untyped-call]
        email_parser.EmailParserServicer(), server
    )
    sentiment_pb2_grpc.add_SentimentServicer_to_server(  # type: ignore[no-untyped-call]
        sentiment.SentimentServicer(), server
    )
    customer_lookup_pb2_grpc.add_CustomerLookupServicer_to_server(  # type: ignore[no-untyped-call]
        customer_lookup.CustomerLookupServicer(), server
    )
    priority_router_pb2_grpc.add_PriorityRouterServicer_to_server(  # type: ignore[no-untyped-call]
        priority_router.PriorityRouterServicer(), server
    )


def email_parser_only(server: grpc.aio.Server) -> None:
    from examples.tools.email_parser import servicer as email_parser
    from examples.tools.gen.support.v1 import email_parser_pb2_grpc

    email_parser_pb2_grpc.add_EmailParserServicer_to_server(  # type: ignore[no-untyped-call]
        email_parser.EmailParserServicer(), server
    )


async def serve(add: Adder) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    add(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


@pytest.fixture
async def tools_address() -> AsyncIterator[str]:
    server, address = await serve(all_tools)
    yield address
    await server.stop(None)


async def run_pipeline(address: str) -> list[StepResult]:
    # The pipeline uses blocking stubs (as the CLI does); the servers live on this loop.
    return await asyncio.to_thread(
        lambda: list(run_support_pipeline(parse_address(address), timeout=timedelta(seconds=5)))
    )


async def test_every_step_answers_in_words(tools_address: str) -> None:
    results = await run_pipeline(tools_address)
    assert [r.tool for r in results] == [
        "email_parser",
        "sentiment",
        "customer_lookup",
        "priority_router",
    ]
    assert [r.path for r in results] == [
        "/support.v1.EmailParser/Parse",
        "/support.v1.Sentiment/Analyze",
        "/support.v1.CustomerLookup/Lookup",
        "/support.v1.PriorityRouter/Route",
    ]
    parsed, tone, customer, routing = (r.answer for r in results)
    assert parsed.startswith(
        "sender ada@acme-rockets.example (Ada Lovelace), customer CUST-1001, "
        "orders ORD-55012, a reply"
    )
    assert tone.startswith("score -0.") and "(negative)" in tone
    assert customer.startswith(
        "Acme Rockets Ltd, enterprise plan, 2 open tickets, customer since 2019-"
    )
    assert routing.startswith("P1 to the technical queue, because: ")
    assert all(timedelta(0) < r.latency < timedelta(seconds=5) for r in results)


async def test_a_failing_step_is_named() -> None:
    server, address = await serve(email_parser_only)
    try:
        with pytest.raises(PipelineStepFailed, match=r"^sentiment: UNIMPLEMENTED: "):
            await run_pipeline(address)
    finally:
        await server.stop(None)
