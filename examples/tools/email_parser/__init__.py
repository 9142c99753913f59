"""email_parser — reads a raw support email (`support.v1.EmailParser`).

`Parse` takes RFC 822 text (MIME multipart allowed: the first text/plain part is read) and
returns the sender's address and name, the subject, the body without quoted lines and
signature, the first customer id (`CUST-1234`), every order id (`ORD-98765`) and whether the
email is a reply (`In-Reply-To`/`References` headers or a `Re:` subject). Text without
headers or without a `From` address fails with INVALID_ARGUMENT.

Start it with `python -m examples.tools.email_parser --listen 127.0.0.1:0`, or in-process
with `await start(...)`.
"""

from examples.tools.email_parser.parsing import EmailError, ParsedEmail, parse_email
from examples.tools.email_parser.servicer import EmailParserServicer, start

__all__ = ["EmailError", "EmailParserServicer", "ParsedEmail", "parse_email", "start"]
