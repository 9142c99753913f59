"""The built-in customer table and looking customers up in it; pure, no gRPC."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Literal

Tier = Literal["free", "pro", "enterprise"]

_CUSTOMER_ID = re.compile(r"^CUST-\d{4,10}$")


class CustomerIdError(ValueError):
    """A customer id that is not of the form `CUST-` and digits."""


class UnknownCustomer(LookupError):
    """A well-formed customer id that no customer has."""


@dataclass(frozen=True, slots=True)
class Customer:
    """One account of the table."""

    customer_id: str  # `CUST-` and digits, uppercase
    name: str
    tier: Tier
    open_tickets: int
    since: date  # the day the account was opened

    def age_days(self, today: date) -> int:
        """Whole days from `since` to `today`; 0 for an account opened today or later."""
        return max(0, (today - self.since).days)


CUSTOMERS: dict[str, Customer] = {
    customer.customer_id: customer
    for customer in (
        Customer("CUST-1001", "Acme Rockets Ltd", "enterprise", 2, date(2019, 3, 14)),
        Customer("CUST-1002", "Blue Harbor Bakery", "pro", 0, date(2021, 7, 1)),
        Customer("CUST-1003", "Cedar & Pine Studio", "free", 1, date(2023, 11, 20)),
        Customer("CUST-1004", "Northwind Logistics", "enterprise", 5, date(2018, 1, 9)),
        Customer("CUST-1005", "Orbit Analytics", "pro", 3, date(2022, 5, 30)),
        Customer("CUST-1006", "Quill Bookshop", "free", 0, date(2024, 2, 29)),
    )
}


def find_customer(customer_id: str, table: Mapping[str, Customer] = CUSTOMERS) -> Customer:
    """The customer with `customer_id` (case and surrounding spaces ignored).

    Raises CustomerIdError for a malformed id and UnknownCustomer for an id nobody has; both
    messages name the id.
    """
    normalized = customer_id.strip().upper()
    if not normalized:
        raise CustomerIdError("customer_id is empty: expected CUST- and digits, e.g. CUST-1001")
    if not _CUSTOMER_ID.match(normalized):
        raise CustomerIdError(
            f"customer_id {customer_id!r} is not a customer id: expected CUST- and 4 to 10 "
            "digits, e.g. CUST-1001"
        )
    customer = table.get(normalized)
    if customer is None:
        raise UnknownCustomer(f"no customer has id {normalized!r}")
    return customer
