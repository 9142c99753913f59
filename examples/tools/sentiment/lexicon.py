"""A small English sentiment lexicon with negation and intensifiers; pure, no gRPC.

Words weigh in [-1, 1]. A negation up to three words before a sentiment word (within the
same sentence) flips its sign; an intensifier right before it scales it (capped at ±1). The
score is the mean of the weights found, so it stays in [-1, 1].
"""

from __future__ import annotations

import re
from dataclasses import dataclass

WEIGHTS: dict[str, float] = {
    # negative
    "angry": -0.8,
    "annoyed": -0.6,
    "awful": -0.9,
    "bad": -0.6,
    "broken": -0.6,
    "cancel": -0.4,
    "crash": -0.6,
    "crashes": -0.6,
    "disappointed": -0.7,
    "disappointing": -0.7,
    "error": -0.4,
    "frustrated": -0.7,
    "frustrating": -0.7,
    "furious": -1.0,
    "hate": -0.9,
    "horrible": -0.9,
    "poor": -0.5,
    "problem": -0.4,
    "slow": -0.4,
    "terrible": -0.9,
    "unacceptable": -0.9,
    "unhappy": -0.7,
    "useless": -0.8,
    "worst": -1.0,
    "wrong": -0.5,
    # positive
    "amazing": 0.9,
    "appreciate": 0.6,
    "awesome": 0.9,
    "excellent": 0.9,
    "fast": 0.4,
    "fine": 0.3,
    "glad": 0.6,
    "good": 0.6,
    "great": 0.8,
    "happy": 0.7,
    "helpful": 0.6,
    "love": 0.9,
    "nice": 0.5,
    "perfect": 0.9,
    "pleased": 0.7,
    "resolved": 0.5,
    "thank": 0.5,
    "thanks": 0.5,
    "wonderful": 0.9,
    "working": 0.3,
    "works": 0.4,
}

NEGATIONS = frozenset(
    {
        "not", "no", "never", "nothing", "nobody", "neither", "nor", "without", "cannot",
        "don't", "doesn't", "didn't", "isn't", "wasn't", "aren't", "weren't", "can't",
        "won't", "wouldn't", "shouldn't", "couldn't", "haven't", "hasn't", "hadn't",
    }
)  # fmt: skip

INTENSIFIERS: dict[str, float] = {
    "absolutely": 1.5,
    "completely": 1.4,
    "extremely": 1.6,
    "really": 1.3,
    "so": 1.2,
    "totally": 1.4,
    "very": 1.5,
}

NEGATION_WINDOW = 3  # words a negation reaches forward
NEUTRAL_BAND = 0.2  # |score| below this is neutral

# Words (with an inner apostrophe, as in "don't") and the punctuation that ends a sentence,
# which also ends a negation's reach.
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|[.!?;]")


class TextError(ValueError):
    """Text that cannot be scored; the message says why."""


@dataclass(frozen=True, slots=True)
class Driver:
    """A lexicon word found in the text and its contribution."""

    word: str
    weight: float
    negated: bool


@dataclass(frozen=True, slots=True)
class Sentiment:
    """The score in [-1, 1], its label (`negative`/`neutral`/`positive`) and its drivers."""

    score: float
    label: str
    drivers: tuple[Driver, ...]


def analyze(text: str) -> Sentiment:
    """Scores `text`; raises TextError when it is empty or blank."""
    if not text.strip():
        raise TextError("text is empty: nothing to analyze")
    tokens = _TOKEN.findall(text.lower().replace("\u2019", "'"))
    drivers: list[Driver] = []
    last_negation = -NEGATION_WINDOW - 1  # token index of the latest negation
    for index, token in enumerate(tokens):
        if token in ".!?;":
            last_negation = -NEGATION_WINDOW - 1
        elif token in NEGATIONS:
            last_negation = index
        elif token in WEIGHTS:
            weight = WEIGHTS[token]
            if index > 0 and tokens[index - 1] in INTENSIFIERS:
                weight = max(-1.0, min(1.0, weight * INTENSIFIERS[tokens[index - 1]]))
            negated = index - last_negation <= NEGATION_WINDOW
            drivers.append(Driver(token, round(-weight if negated else weight, 4), negated))
    score = round(sum(d.weight for d in drivers) / len(drivers), 4) if drivers else 0.0
    return Sentiment(score=score, label=label_of(score), drivers=tuple(drivers))


def label_of(score: float) -> str:
    """`negative` at or below -0.2, `positive` at or above 0.2, `neutral` between."""
    if score <= -NEUTRAL_BAND:
        return "negative"
    if score >= NEUTRAL_BAND:
        return "positive"
    return "neutral"
