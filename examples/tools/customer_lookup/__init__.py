"""customer_lookup — finds a customer's account (`support.v1.CustomerLookup`).

`Lookup` takes a customer id such as `CUST-1001` (case and spaces ignored) and returns the
customer's name, tier (free/pro/enterprise), open tickets and account age, from a small
built-in table (`customers.CUSTOMERS`: CUST-1001 to CUST-1006). A malformed id fails with
INVALID_ARGUMENT, an unknown one with NOT_FOUND; both messages name the id. Read-only, so the
method is declared idempotent (`NO_SIDE_EFFECTS`).

Start it with `python -m examples.tools.customer_lookup --listen 127.0.0.1:0`, or in-process
with `await start(...)`.
"""

from examples.tools.customer_lookup.customers import (
    CUSTOMERS,
    Customer,
    CustomerIdError,
    UnknownCustomer,
    find_customer,
)
from examples.tools.customer_lookup.servicer import CustomerLookupServicer, start

__all__ = [
    "CUSTOMERS",
    "Customer",
    "CustomerIdError",
    "CustomerLookupServicer",
    "UnknownCustomer",
    "find_customer",
    "start",
]
