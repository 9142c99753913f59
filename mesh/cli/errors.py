"""What can go wrong in a `toolmesh` command, and the exit code each failure ends with.

Every failure a user can cause or meet is one of these; `main` prints its message as one line
(`toolmesh VERB: MESSAGE`) and exits with its code. Anything else is an internal error.

Exit codes (documented in `toolmesh --help`):
  0  success
  1  the mesh could not do it: a registry or sidecar is unreachable or refused the request,
     or a demo step failed
  2  bad usage: an unknown flag, an unparsable value, a missing or malformed input file
  3  `toolmesh call` only: the tool call itself failed (`error: CODE: message` on stderr)
  130 interrupted (Ctrl-C)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_TOOL_ERROR = 3
EXIT_INTERRUPTED = 130


class CliError(Exception):
    """A failure reported to the user as one line; `exit_code` is the process's exit status.

    `prefix` replaces the usual `toolmesh VERB` in front of the message when the verb is not
    known yet (a bad command line).
    """

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, prefix: str | None = None) -> None:
        super().__init__(message)
        self.prefix = prefix


class UsageError(CliError):
    """A flag, environment variable or input file the command cannot use."""

    exit_code = EXIT_USAGE


class Unreachable(CliError):
    """The registry or sidecar did not answer at all (nothing listening, no connection)."""

    def __init__(self, role: str, address: str, reason: str) -> None:
        super().__init__(f"{role} {address} is unreachable ({reason})")
        self.role = role
        self.address = address
        self.reason = reason


class Refused(CliError):
    """The registry or sidecar answered with an error status."""

    def __init__(self, role: str, address: str, code: str, details: str) -> None:
        super().__init__(f"{role} {address} refused the request: {code}: {details}")
        self.code = code
        self.details = details


class ToolCallFailed(CliError):
    """A tool call made through the sidecar ended with a non-OK status."""

    exit_code = EXIT_TOOL_ERROR

    def __init__(self, code: str, details: str) -> None:
        super().__init__(f"{code}: {details}")
        self.code = code
        self.details = details
