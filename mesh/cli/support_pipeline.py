"""The demo's support pipeline, called through the sidecar with the tools' own typed stubs.

An email is parsed, its tone scored, its customer looked up and the request routed, each
call an ordinary generated stub on a plain gRPC channel to the sidecar's address: the agent's
side of the transparent path, with nothing mesh-specific in the client.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import grpc

from mesh.addresses import Address
from mesh.cli.connection import open_channel, status_code, status_details

SAMPLE_EMAIL = """\
From: Ada Lovelace <ada@acme-rockets.example>
To: support@toolmesh.example
Subject: Re: Checkout outage - order ORD-55012 failing
In-Reply-To: <ticket-8812@toolmesh.example>

Hello,

our account is CUST-1001. Checkout has been broken since this morning and order ORD-55012
keeps failing with an error. Customers are furious and this is unacceptable: please fix it
urgently.

> Thank you for contacting support.

--
Ada
"""


class PipelineStepFailed(RuntimeError):
    """A pipeline call ended with a non-OK status; the message names the tool and status."""


@dataclass(frozen=True)
class StepResult:
    """One call of the pipeline: who was called, what it answered (in words), how long it took."""

    tool: str
    path: str  # `/package.Service/Method`
    answer: str
    latency: timedelta


def run_support_pipeline(sidecar: Address, *, timeout: timedelta) -> Iterator[StepResult]:
    """Calls the four support tools in order through the sidecar, yielding each result as it
    arrives. Raises PipelineStepFailed naming the step that failed."""
    from examples.tools.gen.support.v1 import (
        customer_lookup_pb2,
        customer_lookup_pb2_grpc,
        email_parser_pb2,
        email_parser_pb2_grpc,
        priority_router_pb2,
        priority_router_pb2_grpc,
        sentiment_pb2,
        sentiment_pb2_grpc,
        tier_pb2,
    )

    with open_channel(sidecar) as channel:
        parser = email_parser_pb2_grpc.EmailParserStub(channel)  # type: ignore[no-untyped-call]
        email, latency = _timed(
            "email_parser", parser.Parse, email_parser_pb2.ParseRequest(raw=SAMPLE_EMAIL), timeout
        )
        yield StepResult(
            "email_parser",
            "/support.v1.EmailParser/Parse",
            f"sender {email.sender} ({email.sender_name or 'no name'}), customer "
            f"{email.customer_id or 'none'}, orders {', '.join(email.order_ids) or 'none'}, "
            f"{'a reply' if email.is_reply else 'a new request'}, subject {email.subject!r}",
            latency,
        )

        scorer = sentiment_pb2_grpc.SentimentStub(channel)  # type: ignore[no-untyped-call]
        tone, latency = _timed(
            "sentiment", scorer.Analyze, sentiment_pb2.AnalyzeRequest(text=email.body), timeout
        )
        words = ", ".join(d.word for d in tone.drivers) or "none"
        label = sentiment_pb2.Label.Name(tone.label).removeprefix("LABEL_").lower()
        yield StepResult(
            "sentiment",
            "/support.v1.Sentiment/Analyze",
            f"score {tone.score:+.2f} ({label}), words: {words}",
            latency,
        )

        lookup = customer_lookup_pb2_grpc.CustomerLookupStub(channel)  # type: ignore[no-untyped-call]
        customer, latency = _timed(
            "customer_lookup",
            lookup.Lookup,
            customer_lookup_pb2.LookupRequest(customer_id=email.customer_id),
            timeout,
        )
        tier = tier_pb2.Tier.Name(customer.tier).removeprefix("TIER_").lower()
        yield StepResult(
            "customer_lookup",
            "/support.v1.CustomerLookup/Lookup",
            f"{customer.name}, {tier} plan, {customer.open_tickets} open tickets, "
            f"customer since {customer.customer_since}",
            latency,
        )

        router = priority_router_pb2_grpc.PriorityRouterStub(channel)  # type: ignore[no-untyped-call]
        routing, latency = _timed(
            "priority_router",
            router.Route,
            priority_router_pb2.RouteRequest(
                sentiment_score=tone.score,
                tier=customer.tier,
                subject=email.subject,
                body=email.body,
                open_tickets=customer.open_tickets,
                is_reply=email.is_reply,
            ),
            timeout,
        )
        priority = priority_router_pb2.Priority.Name(routing.priority).removeprefix("PRIORITY_")
        yield StepResult(
            "priority_router",
            "/support.v1.PriorityRouter/Route",
            f"{priority} to the {routing.queue} queue, because: "
            + ("; ".join(routing.reasons) or "-"),
            latency,
        )


def _timed(
    tool: str, method: Callable[..., Any], request: object, timeout: timedelta
) -> tuple[Any, timedelta]:
    started = time.perf_counter()
    try:
        response = method(request, timeout=timeout.total_seconds())
    except grpc.RpcError as error:
        raise PipelineStepFailed(
            f"{tool}: {status_code(error).name}: {status_details(error)}"
        ) from None
    return response, timedelta(seconds=time.perf_counter() - started)
