"""`python -m examples.tools.priority_router --listen HOST:PORT`."""

from __future__ import annotations

import sys

from examples.tools import priority_router
from examples.tools.serving import main

if __name__ == "__main__":
    sys.exit(
        main(
            "priority_router",
            priority_router.start,
            priority_router.__doc__ and priority_router.__doc__.splitlines()[0],
        )
    )
