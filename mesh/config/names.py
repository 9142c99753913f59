"""Names a policy refers to: tools (a fallback), methods (override keys), status codes."""

from __future__ import annotations

import difflib
import re

from mesh.config.policy import STATUS_CODES

TOOL_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
TOOL_NAME_RULE = (
    "1 to 63 characters: lowercase letters, digits, '-', '_' and '.', "
    "starting with a letter or digit"
)
_IDENTIFIER = r"[A-Za-z_][A-Za-z0-9_]*"
# `Summarize`, or `pkg.v1.Service/Method` (a service outside any package has no dots).
METHOD_KEY = re.compile(rf"{_IDENTIFIER}|(?:{_IDENTIFIER}\.)*{_IDENTIFIER}/{_IDENTIFIER}")
METHOD_KEY_RULE = "a short name such as Summarize, or pkg.Service/Method"


def is_tool_name(name: str) -> bool:
    """True when `name` can name a registered tool."""
    return TOOL_NAME.fullmatch(name) is not None


def is_method_key(key: str) -> bool:
    """True when `key` can key a per-method override."""
    return METHOD_KEY.fullmatch(key) is not None


def status_code_problem(name: str) -> str | None:
    """Why `name` cannot be used in a list of failure status codes; None when it can."""
    if name == "OK":
        return "'OK' is success, not a failure"
    if name in STATUS_CODES:
        return None
    failures = [code for code in STATUS_CODES if code != "OK"]
    close = difflib.get_close_matches(name.upper(), failures, n=1, cutoff=0.75)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return f"{name!r} is not a gRPC status code name{hint}"
