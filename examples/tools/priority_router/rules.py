"""The routing rules: how urgent a support request is and which queue takes it; pure, no gRPC.

Each rule that fires adds points and a reason; the points decide the priority:
5 or more → P1, 3-4 → P2, 1-2 → P3, 0 → P4. The queue comes from the words of the subject
and body, the first matching topic winning: security, technical, billing, else general.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

TIER_POINTS = {"enterprise": 3, "pro": 1, "free": 0}
STRONGLY_NEGATIVE = -0.5  # sentiment at or below: +2
NEGATIVE = -0.2  # sentiment at or below: +1
MANY_OPEN_TICKETS = 3  # open tickets at or above: +1
URGENT_WORDS = frozenset(
    {"urgent", "urgently", "asap", "immediately", "emergency", "critical", "outage", "down"}
)
# Checked in this order: a security problem outranks a technical one, which outranks billing.
QUEUES: tuple[tuple[str, frozenset[str]], ...] = (
    (
        "security",
        frozenset(
            {"breach", "hacked", "compromised", "phishing", "security", "vulnerability",
             "leak", "leaked", "unauthorized", "fraud"}
        ),
    ),
    (
        "technical",
        frozenset(
            {"error", "errors", "bug", "crash", "crashes", "crashed", "broken", "outage",
             "down", "fails", "failing", "failure", "timeout", "login", "api", "sync"}
        ),
    ),
    (
        "billing",
        frozenset(
            {"refund", "invoice", "charge", "charged", "overcharged", "billing", "payment",
             "subscription", "price", "receipt"}
        ),
    ),
)  # fmt: skip
DEFAULT_QUEUE = "general"

_WORD = re.compile(r"[a-z]+")


class TicketError(ValueError):
    """A request the rules cannot route; the message names the field."""


@dataclass(frozen=True, slots=True)
class Ticket:
    """What is known of a support request (see support/v1/priority_router.proto)."""

    sentiment_score: float = 0.0  # in [-1, 1]
    tier: str = ""  # free, pro, enterprise, or empty when unknown (treated as free)
    subject: str = ""
    body: str = ""
    open_tickets: int = 0
    is_reply: bool = False


@dataclass(frozen=True, slots=True)
class Routing:
    """The decision: priority 1 (most urgent) to 4, the queue, and why."""

    priority: int
    queue: str
    reasons: tuple[str, ...]


def route(ticket: Ticket) -> Routing:
    """Applies the rules to `ticket`; raises TicketError for a score outside [-1, 1]."""
    score = ticket.sentiment_score
    if math.isnan(score) or not -1.0 <= score <= 1.0:
        raise TicketError(f"sentiment_score must be within [-1, 1] (got {score})")
    if ticket.tier and ticket.tier not in TIER_POINTS:
        raise TicketError(f"tier must be one of {', '.join(TIER_POINTS)} (got {ticket.tier!r})")
    words = _WORD.findall(f"{ticket.subject}\n{ticket.body}".lower())
    points = 0
    reasons: list[str] = []

    def add(gained: int, reason: str) -> None:
        nonlocal points
        points += gained
        reasons.append(f"{reason} (+{gained})")

    tier = ticket.tier or "free"
    if TIER_POINTS[tier]:
        add(TIER_POINTS[tier], f"{tier} tier")
    if score <= STRONGLY_NEGATIVE:
        add(2, f"strongly negative sentiment {score:.2f}")
    elif score <= NEGATIVE:
        add(1, f"negative sentiment {score:.2f}")
    urgent = _first_of(words, URGENT_WORDS)
    if urgent:
        add(2, f"urgent wording {urgent!r}")
    if ticket.open_tickets >= MANY_OPEN_TICKETS:
        add(1, f"{ticket.open_tickets} tickets already open")
    if ticket.is_reply:
        add(1, "customer is following up")
    queue = DEFAULT_QUEUE
    for name, topic_words in QUEUES:
        found = _first_of(words, topic_words)
        if found:
            queue = name
            reasons.append(f"queue {name}: mentions {found!r}")
            break
    return Routing(priority=_priority(points), queue=queue, reasons=tuple(reasons))


def _priority(points: int) -> int:
    if points >= 5:
        return 1
    if points >= 3:
        return 2
    if points >= 1:
        return 3
    return 4


def _first_of(words: list[str], wanted: frozenset[str]) -> str:
    """The first word of `words` that is in `wanted`; empty when none is."""
    return next((word for word in words if word in wanted), "")
