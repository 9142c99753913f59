"""The `support.v1.Sentiment` servicer and `start()`."""

from __future__ import annotations

import grpc

from examples.tools.gen.support.v1 import sentiment_pb2, sentiment_pb2_grpc
from examples.tools.sentiment.lexicon import TextError, analyze
from examples.tools.serving import DEFAULT_LISTEN, start_server

AnalyzeRequest = sentiment_pb2.AnalyzeRequest
AnalyzeResponse = sentiment_pb2.AnalyzeResponse

_LABELS = {
    "negative": sentiment_pb2.LABEL_NEGATIVE,
    "neutral": sentiment_pb2.LABEL_NEUTRAL,
    "positive": sentiment_pb2.LABEL_POSITIVE,
}


class SentimentServicer(sentiment_pb2_grpc.SentimentServicer):
    """Scores texts with the lexicon; INVALID_ARGUMENT for empty text."""

    async def Analyze(
        self,
        request: AnalyzeRequest,
        context: grpc.aio.ServicerContext[AnalyzeRequest, AnalyzeResponse],
    ) -> AnalyzeResponse:
        try:
            result = analyze(request.text)
        except TextError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"sentiment: {error}")
        return AnalyzeResponse(
            score=result.score,
            label=_LABELS[result.label],
            drivers=[
                sentiment_pb2.Driver(word=d.word, weight=d.weight, negated=d.negated)
                for d in result.drivers
            ],
        )


async def start(listen: str = DEFAULT_LISTEN) -> tuple[grpc.aio.Server, str]:
    """Starts a sentiment analyzer on `listen`; returns it and its bound address."""

    def register(server: grpc.aio.Server) -> None:
        # The generated registration function is untyped.
        sentiment_pb2_grpc.add_SentimentServicer_to_server(  # type: ignore[no-untyped-call]
            SentimentServicer(), server
        )

    return await start_server("sentiment", register, listen)
