"""The `support.v1.CustomerLookup` servicer and `start()`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime

import grpc

from examples.tools.customer_lookup.customers import (
    CUSTOMERS,
    Customer,
    CustomerIdError,
    UnknownCustomer,
    find_customer,
)
from examples.tools.gen.support.v1 import customer_lookup_pb2, customer_lookup_pb2_grpc, tier_pb2
from examples.tools.serving import DEFAULT_LISTEN, start_server

LookupRequest = customer_lookup_pb2.LookupRequest
LookupResponse = customer_lookup_pb2.LookupResponse

_TIERS = {
    "free": tier_pb2.TIER_FREE,
    "pro": tier_pb2.TIER_PRO,
    "enterprise": tier_pb2.TIER_ENTERPRISE,
}


def utc_today() -> date:
    """Today's date in UTC: account ages do not depend on the server's time zone."""
    return datetime.now(UTC).date()


class CustomerLookupServicer(customer_lookup_pb2_grpc.CustomerLookupServicer):
    """Looks customers up in `table`; account ages are counted up to `today()`."""

    def __init__(
        self,
        *,
        table: Mapping[str, Customer] = CUSTOMERS,
        today: Callable[[], date] = utc_today,
    ) -> None:
        self._table = table
        self._today = today

    async def Lookup(
        self,
        request: LookupRequest,
        context: grpc.aio.ServicerContext[LookupRequest, LookupResponse],
    ) -> LookupResponse:
        try:
            customer = find_customer(request.customer_id, self._table)
        except CustomerIdError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"customer_lookup: {error}")
        except UnknownCustomer as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"customer_lookup: {error}")
        return LookupResponse(
            customer_id=customer.customer_id,
            name=customer.name,
            tier=_TIERS[customer.tier],
            open_tickets=customer.open_tickets,
            account_age_days=customer.age_days(self._today()),
            customer_since=customer.since.isoformat(),
        )


async def start(
    listen: str = DEFAULT_LISTEN,
    *,
    table: Mapping[str, Customer] = CUSTOMERS,
    today: Callable[[], date] = utc_today,
) -> tuple[grpc.aio.Server, str]:
    """Starts a customer lookup on `listen`; returns it and its bound address.

    `table` replaces the built-in customers; `today` fixes the date ages are counted to.
    """
    servicer = CustomerLookupServicer(table=table, today=today)

    def register(server: grpc.aio.Server) -> None:
        # The generated registration function is untyped.
        customer_lookup_pb2_grpc.add_CustomerLookupServicer_to_server(  # type: ignore[no-untyped-call]
            servicer, server
        )

    return await start_server("customer_lookup", register, listen)
