"""The customer lookup: the table and id rules, and the tool over real gRPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date

import grpc
import pytest
from google.protobuf import descriptor_pb2

from examples.tools import customer_lookup
from examples.tools.customer_lookup import CustomerIdError, UnknownCustomer, find_customer
from examples.tools.gen.support.v1 import customer_lookup_pb2, customer_lookup_pb2_grpc, tier_pb2

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]

FIXED_TODAY = date(2025, 3, 14)


def test_ids_are_matched_ignoring_case_and_spaces() -> None:
    customer = find_customer("  cust-1001 ")
    assert (customer.name, customer.tier) == ("Acme Rockets Ltd", "enterprise")
    assert customer.age_days(FIXED_TODAY) == 6 * 365 + 2  # 2019-03-14 to 2025-03-14


@pytest.mark.parametrize("text", ["", "1001", "CUST-12", "CUST-1001x", "customer 1001"])
def test_malformed_ids_are_refused_naming_the_form(text: str) -> None:
    with pytest.raises(CustomerIdError, match="CUST-"):
        find_customer(text)


def test_unknown_ids_are_not_found() -> None:
    with pytest.raises(UnknownCustomer, match="CUST-9999"):
        find_customer("CUST-9999")


@pytest.fixture
async def stub(open_tool: OpenTool) -> customer_lookup_pb2_grpc.CustomerLookupStub:
    channel = await open_tool(lambda: customer_lookup.start(today=lambda: FIXED_TODAY))
    return customer_lookup_pb2_grpc.CustomerLookupStub(channel)  # type: ignore[no-untyped-call]


async def test_lookup_over_grpc(stub: customer_lookup_pb2_grpc.CustomerLookupStub) -> None:
    response = await stub.Lookup(customer_lookup_pb2.LookupRequest(customer_id="cust-1005"))
    assert response == customer_lookup_pb2.LookupResponse(
        customer_id="CUST-1005",
        name="Orbit Analytics",
        tier=tier_pb2.TIER_PRO,
        open_tickets=3,
        account_age_days=(FIXED_TODAY - date(2022, 5, 30)).days,
        customer_since="2022-05-30",
    )


async def test_an_unknown_customer_is_not_found(
    stub: customer_lookup_pb2_grpc.CustomerLookupStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Lookup(customer_lookup_pb2.LookupRequest(customer_id="CUST-4242"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert caught.value.details() == "customer_lookup: no customer has id 'CUST-4242'"


async def test_a_malformed_id_is_invalid_argument(
    stub: customer_lookup_pb2_grpc.CustomerLookupStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Lookup(customer_lookup_pb2.LookupRequest(customer_id="bob"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "'bob' is not a customer id" in (caught.value.details() or "")


def test_lookup_is_declared_free_of_side_effects() -> None:
    service = customer_lookup_pb2.DESCRIPTOR.services_by_name["CustomerLookup"]
    options = service.methods_by_name["Lookup"].GetOptions()
    assert options.idempotency_level == descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
