"""The registry's error tree and the one place where errors become gRPC status codes.

Every error a caller can see is a `RegistryError` whose message names the request field or
the object that was wrong. Start-up problems (bad address, unusable database file) are
`StartupError`s, reported by `registry.server.main` as one line on stderr.
"""

from __future__ import annotations

import grpc


class RegistryError(Exception):
    """A request the registry refuses; nothing was changed."""

    code = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidArgument(RegistryError):
    """One or more request fields are invalid; the message lists every problem found."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(RegistryError):
    """The tool or instance named by the request does not exist (or its lease expired)."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(RegistryError):
    """The request claims something another tool owns (a service)."""

    code = grpc.StatusCode.ALREADY_EXISTS


class Unauthenticated(RegistryError):
    """A mutation without the bearer token the registry was started with."""

    code = grpc.StatusCode.UNAUTHENTICATED


class StorageFailure(RegistryError):
    """The database failed under a request (disk full, I/O error); the change was not made."""

    code = grpc.StatusCode.INTERNAL


class StartupError(Exception):
    """The registry cannot start; the message is the one line shown to the operator."""


class StoreError(StartupError):
    """The database file cannot be used (not a registry database, corrupt, unreadable...)."""


def status_of(error: RegistryError) -> tuple[grpc.StatusCode, str]:
    """The gRPC status code and message a caller receives for `error`."""
    return error.code, error.message
