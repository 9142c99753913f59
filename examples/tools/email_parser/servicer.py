"""The `support.v1.EmailParser` servicer and `start()`."""

from __future__ import annotations

import grpc

from examples.tools.email_parser.parsing import EmailError, parse_email
from examples.tools.gen.support.v1 import email_parser_pb2, email_parser_pb2_grpc
from examples.tools.serving import DEFAULT_LISTEN, start_server

ParseRequest = email_parser_pb2.ParseRequest
ParseResponse = email_parser_pb2.ParseResponse


class EmailParserServicer(email_parser_pb2_grpc.EmailParserServicer):
    """Parses emails; INVALID_ARGUMENT (naming what is missing) for text that is not one."""

    async def Parse(
        self, request: ParseRequest, context: grpc.aio.ServicerContext[ParseRequest, ParseResponse]
    ) -> ParseResponse:
        try:
            parsed = parse_email(request.raw)
        except EmailError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"email_parser: {error}")
        return ParseResponse(
            sender=parsed.sender,
            sender_name=parsed.sender_name,
            subject=parsed.subject,
            body=parsed.body,
            customer_id=parsed.customer_id,
            order_ids=parsed.order_ids,
            is_reply=parsed.is_reply,
        )


async def start(listen: str = DEFAULT_LISTEN) -> tuple[grpc.aio.Server, str]:
    """Starts an email parser on `listen`; returns it and its bound address (`HOST:PORT`)."""

    def register(server: grpc.aio.Server) -> None:
        # The generated registration function is untyped.
        email_parser_pb2_grpc.add_EmailParserServicer_to_server(  # type: ignore[no-untyped-call]
            EmailParserServicer(), server
        )

    return await start_server("email_parser", register, listen)
