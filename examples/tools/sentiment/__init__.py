"""sentiment — scores the tone of a text (`support.v1.Sentiment`).

`Analyze` looks each word up in a small English lexicon (weights in [-1, 1]); a negation up
to three words before a sentiment word in the same sentence (`not`, `never`, `don't`, ...)
flips it, an intensifier right before it (`very`, `really`, ...) strengthens it. The score is
the mean weight (0 without sentiment words), labelled negative (<= -0.2), neutral or
positive (>= 0.2), and the words that drove it are returned with their weights. Empty text
fails with INVALID_ARGUMENT.

Start it with `python -m examples.tools.sentiment --listen 127.0.0.1:0`, or in-process with
`await start(...)`.
"""

from examples.tools.sentiment.lexicon import Driver, Sentiment, TextError, analyze
from examples.tools.sentiment.servicer import SentimentServicer, start

__all__ = ["Driver", "Sentiment", "SentimentServicer", "TextError", "analyze", "start"]
