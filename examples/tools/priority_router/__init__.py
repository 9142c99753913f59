"""priority_router — decides a support request's priority and queue (`support.v1.PriorityRouter`).

`Route` scores the facts gathered by the other tools with fixed rules: enterprise tier +3,
pro +1; sentiment at or below -0.5 +2 (at or below -0.2 +1); urgent wording (`urgent`,
`outage`, `asap`, ...) +2; three or more open tickets +1; a follow-up (reply) +1. Points
give the priority: 5+ P1, 3-4 P2, 1-2 P3, 0 P4. The queue is the first topic the subject and
body mention: security, technical, billing, else general. Every rule that fired is listed in
`reasons`. A sentiment score outside [-1, 1] fails with INVALID_ARGUMENT.

Start it with `python -m examples.tools.priority_router --listen 127.0.0.1:0`, or in-process
with `await start(...)`.
"""

from examples.tools.priority_router.rules import Routing, Ticket, TicketError, route
from examples.tools.priority_router.servicer import PriorityRouterServicer, start

__all__ = ["PriorityRouterServicer", "Routing", "Ticket", "TicketError", "route", "start"]
