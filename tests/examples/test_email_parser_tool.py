"""The email parser: its parsing rules, and the tool over real gRPC."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import pytest

from examples.tools import email_parser
from examples.tools.email_parser import EmailError, parse_email
from examples.tools.gen.support.v1 import email_parser_pb2_grpc
from examples.tools.gen.support.v1.email_parser_pb2 import ParseRequest

OpenTool = Callable[
    [Callable[[], Awaitable[tuple[grpc.aio.Server, str]]]], Awaitable[grpc.aio.Channel]
]

REPLY = """\
From: "Ada Lovelace" <Ada@Example.com>
To: support@example.org
Subject: Re:   Order ORD-55501 arrived broken
In-Reply-To: <abc@example.com>

Hello,

my customer id is cust-1001. ORD-55501 and ORD-55502 are broken; ORD-55501 twice.

On Mon, 1 Jan 2024, Support wrote:
> We are sorry about ORD-40000.
--\x20
Ada
"""

MULTIPART = """\
From: bob@example.com
Subject: Invoice question
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="b1"

--b1
Content-Type: text/html; charset=utf-8

<p>not this part</p>
--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Caf=C3=A9 invoice for CUST-1002, please.
--b1--
"""


def test_a_reply_yields_sender_ids_and_a_clean_body() -> None:
    parsed = parse_email(REPLY)
    assert (parsed.sender, parsed.sender_name) == ("ada@example.com", "Ada Lovelace")
    assert parsed.subject == "Re: Order ORD-55501 arrived broken"
    assert parsed.customer_id == "CUST-1001"
    # Quoted text still counts for ids (it is the same conversation); repeats are dropped.
    assert parsed.order_ids == ("ORD-55501", "ORD-55502", "ORD-40000")
    assert parsed.is_reply
    assert parsed.body.startswith("Hello,") and parsed.body.endswith("ORD-55501 twice.")
    assert ">" not in parsed.body and "Ada\n" not in parsed.body


def test_multipart_reads_the_plain_part_decoded() -> None:
    parsed = parse_email(MULTIPART)
    assert parsed.body == "Café invoice for CUST-1002, please."
    assert parsed.customer_id == "CUST-1002"
    assert parsed.order_ids == ()
    assert not parsed.is_reply


def test_a_reply_is_recognised_by_its_subject_alone() -> None:
    parsed = parse_email("From: c@example.com\nSubject: AW: Rechnung\n\nDanke")
    assert parsed.is_reply and parsed.customer_id == ""


@pytest.mark.parametrize(
    ("raw", "complaint"),
    [
        ("", "raw is empty"),
        ("just a sentence, no headers", "no headers"),
        ("Subject: hi\n\nbody", "no From header"),
        ("From: nobody\n\nbody", "holds no email address"),
    ],
)
def test_text_that_is_no_email_is_refused_with_the_reason(raw: str, complaint: str) -> None:
    with pytest.raises(EmailError, match=complaint):
        parse_email(raw)


async def test_parse_over_grpc(open_tool: OpenTool) -> None:
    channel = await open_tool(email_parser.start)
    stub = email_parser_pb2_grpc.EmailParserStub(channel)  # type: ignore[no-untyped-call]
    response = await stub.Parse(ParseRequest(raw=REPLY), timeout=5)
    assert response.customer_id == "CUST-1001"
    assert list(response.order_ids) == ["ORD-55501", "ORD-55502", "ORD-40000"]
    assert response.is_reply and response.sender == "ada@example.com"


async def test_parse_refuses_garbage_with_invalid_argument(open_tool: OpenTool) -> None:
    channel = await open_tool(email_parser.start)
    stub = email_parser_pb2_grpc.EmailParserStub(channel)  # type: ignore[no-untyped-call]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Parse(ParseRequest(raw="Subject: hi\n\nno sender"), timeout=5)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert (
        caught.value.details() == "email_parser: raw has no From header, so the sender is unknown"
    )
