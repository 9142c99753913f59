"""`python -m examples.tools.sentiment --listen HOST:PORT`."""

from __future__ import annotations

import sys

from examples.tools import sentiment
from examples.tools.serving import main

if __name__ == "__main__":
    sys.exit(
        main("sentiment", sentiment.start, sentiment.__doc__ and sentiment.__doc__.splitlines()[0])
    )
