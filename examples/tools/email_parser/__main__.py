"""`python -m examples.tools.email_parser --listen HOST:PORT`."""

from __future__ import annotations

import sys

from examples.tools import email_parser
from examples.tools.serving import main

if __name__ == "__main__":
    sys.exit(
        main(
            "email_parser",
            email_parser.start,
            email_parser.__doc__ and email_parser.__doc__.splitlines()[0],
        )
    )
