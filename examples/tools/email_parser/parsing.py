"""Reading a raw support email into the fields the pipeline uses; pure, no gRPC."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from dataclasses import dataclass
from email.message import Message

# `CUST-` and 4 to 10 digits, any case: customers type ids by hand.
CUSTOMER_ID = re.compile(r"\bCUST-(\d{4,10})\b", re.IGNORECASE)
ORDER_ID = re.compile(r"\bORD-(\d{4,10})\b", re.IGNORECASE)
# Reply prefixes of English, German and Scandinavian mail clients.
_REPLY_SUBJECT = re.compile(r"^\s*(re|aw|sv)\s*:", re.IGNORECASE)
# The line a mail client puts above a quoted earlier message.
_ATTRIBUTION = re.compile(r"^On .+ wrote:\s*$")
# The signature separator is `-- `; trailing spaces are often lost on the way, so `--` too.
_SIGNATURE_SEPARATOR = "--"


class EmailError(ValueError):
    """Text that cannot be read as an email; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class ParsedEmail:
    """The parts of an email the support pipeline uses (see support/v1/email_parser.proto)."""

    sender: str
    sender_name: str
    subject: str
    body: str
    customer_id: str
    order_ids: tuple[str, ...]
    is_reply: bool


def parse_email(raw: str) -> ParsedEmail:
    """Parses RFC 822 text; raises EmailError when it is empty or has no usable `From`."""
    if not raw.strip():
        raise EmailError(
            "raw is empty: expected an RFC 822 message (headers, a blank line, a body)"
        )
    message = email.message_from_string(raw, policy=email.policy.default)
    if not message.keys():
        raise EmailError(
            "raw has no headers: an RFC 822 message starts with lines such as `From: ...` "
            "and `Subject: ...`, then a blank line"
        )
    from_header = message.get("From")
    if from_header is None:
        raise EmailError("raw has no From header, so the sender is unknown")
    sender_name, sender = email.utils.parseaddr(str(from_header))
    if "@" not in sender:
        raise EmailError(f"the From header {str(from_header)!r} holds no email address")
    subject = " ".join(str(message.get("Subject", "")).split())
    full_body = _plain_text(message)
    searched = f"{subject}\n{full_body}"
    customer = CUSTOMER_ID.search(searched)
    return ParsedEmail(
        sender=sender.lower(),
        sender_name=sender_name,
        subject=subject,
        body=_without_quotes_and_signature(full_body),
        customer_id=f"CUST-{customer.group(1)}" if customer else "",
        order_ids=tuple(dict.fromkeys(f"ORD-{m.group(1)}" for m in ORDER_ID.finditer(searched))),
        is_reply=bool(
            message.get("In-Reply-To") or message.get("References") or _REPLY_SUBJECT.match(subject)
        ),
    )


def _plain_text(message: Message) -> str:
    """The first text/plain part (the whole body when not multipart); empty when none."""
    if message.is_multipart():
        for part in message.walk():
            if part.get_content_type() == "text/plain" and not part.is_multipart():
                return _decoded(part)
        return ""
    if message.get_content_maintype() != "text":
        return ""
    return _decoded(message)


def _decoded(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:  # a charset Python does not know
        return payload.decode("utf-8", errors="replace")


def _without_quotes_and_signature(text: str) -> str:
    """Drops quoted lines (`>`), their attribution line and everything after `-- `."""
    kept: list[str] = []
    for line in text.splitlines():
        if line.rstrip() == _SIGNATURE_SEPARATOR:
            break
        if line.lstrip().startswith(">") or _ATTRIBUTION.match(line):
            continue
        kept.append(line)
    return "\n".join(kept).strip()
