"""The sentiment analyzer: its lexicon rules, and the tool over real gRPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from examples.tools import sentiment
from examples.tools.gen.support.v1 import sentiment_pb2, sentiment_pb2_grpc
from examples.tools.sentiment import Driver, TextError, analyze

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]


def test_positive_words_make_a_positive_score() -> None:
    result = analyze("Thanks, the new release is great!")
    assert result.drivers == (Driver("thanks", 0.5, False), Driver("great", 0.8, False))
    assert result.score == pytest.approx(0.65)
    assert result.label == "positive"


def test_a_negation_flips_the_next_words_within_its_sentence() -> None:
    result = analyze("I am not happy with it. Happy to talk, though.")
    assert [(d.word, d.weight, d.negated) for d in result.drivers] == [
        ("happy", -0.7, True),
        ("happy", 0.7, False),
    ]
    assert result.label == "neutral"


def test_contracted_negations_and_curly_apostrophes_count() -> None:
    result = analyze("It doesn\u2019t work and the app isn\u2019t working.")
    assert [(d.word, d.negated) for d in result.drivers] == [("working", True)]
    assert result.label == "negative"


def test_an_intensifier_strengthens_up_to_the_bound() -> None:
    result = analyze("This is very bad and extremely terrible")
    assert [d.weight for d in result.drivers] == [-0.9, -1.0]
    assert result.score == pytest.approx(-0.95)


def test_text_without_sentiment_words_is_neutral_zero() -> None:
    result = analyze("Please find the invoice attached.")
    assert (result.score, result.label, result.drivers) == (0.0, "neutral", ())


def test_blank_text_is_refused() -> None:
    with pytest.raises(TextError, match="empty"):
        analyze("  \n ")


async def test_analyze_over_grpc(open_tool: OpenTool) -> None:
    channel = await open_tool(sentiment.start)
    stub = sentiment_pb2_grpc.SentimentStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Analyze(
        sentiment_pb2.AnalyzeRequest(text="Terrible service, I am furious."), timeout=5
    )
    assert response.label == sentiment_pb2.LABEL_NEGATIVE
    assert response.score == pytest.approx(-0.95)
    assert [d.word for d in response.drivers] == ["terrible", "furious"]


async def test_analyze_refuses_empty_text_with_invalid_argument(open_tool: OpenTool) -> None:
    channel = await open_tool(sentiment.start)
    stub = sentiment_pb2_grpc.SentimentStub(channel)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Analyze(sentiment_pb2.AnalyzeRequest(text=""), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "sentiment: text is empty" in (caught.value.details() or "")
