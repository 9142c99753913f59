"""`python -m examples.tools.customer_lookup --listen HOST:PORT`."""

from __future__ import annotations

import sys

from examples.tools import customer_lookup
from examples.tools.serving import main

if __name__ == "__main__":
    sys.exit(
        main(
            "customer_lookup",
            customer_lookup.start,
            customer_lookup.__doc__ and customer_lookup.__doc__.splitlines()[0],
        )
    )
