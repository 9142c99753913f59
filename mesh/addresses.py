"""Network addresses as users write them: `host:port`, `[v6]:port` or `unix:/path`.

One parser for the registry's validation, the sidecar's dialer and the CLI's flags, so an
address that one accepts the others accept too.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_HOSTNAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$"
)


class AddressError(ValueError):
    """An address that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True, slots=True)
class Address:
    """A parsed address. `unix_path` is set for unix sockets, `host`/`port` otherwise."""

    host: str = ""
    port: int = 0
    unix_path: str = ""

    @property
    def is_unix(self) -> bool:
        return bool(self.unix_path)

    def __str__(self) -> str:
        if self.unix_path:
            return f"unix:{self.unix_path}"
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"

    def grpc_target(self) -> str:
        """The form grpcio's channels and servers accept."""
        return str(self)


def parse_address(text: str, *, allow_port_zero: bool = False) -> Address:
    """Parses `host:port`, `[v6]:port` or `unix:/abs/path`; raises AddressError.

    `allow_port_zero` admits port 0 (listen on any free port) for listen addresses.
    """
    text = text.strip()
    if not text:
        raise AddressError("address is empty (expected HOST:PORT, [IPv6]:PORT or unix:/PATH)")
    if text.startswith("unix:"):
        path = text[len("unix:") :]
        if path.startswith("//"):
            path = path[2:]
        if not path.startswith("/"):
            raise AddressError(f"unix socket address {text!r} needs an absolute path (unix:/PATH)")
        return Address(unix_path=path)
    if text.startswith("["):
        close = text.find("]")
        if close < 0 or not text[close + 1 :].startswith(":"):
            raise AddressError(f"address {text!r}: expected [IPv6]:PORT")
        host, port_text = text[1:close], text[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise AddressError(f"address {text!r}: {host!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise AddressError(f"address {text!r} has no port (expected HOST:PORT)")
        if ":" in host:
            raise AddressError(f"address {text!r}: write IPv6 hosts in brackets, [{host}]:PORT")
        if not _HOSTNAME.match(host):
            try:
                ipaddress.IPv4Address(host)
            except ValueError:
                raise AddressError(f"address {text!r}: {host!r} is not a valid host name") from None
    if not port_text.isdigit():
        raise AddressError(f"address {text!r}: port {port_text!r} is not a number")
    port = int(port_text)
    low = 0 if allow_port_zero else 1
    if not low <= port <= 65535:
        raise AddressError(f"address {text!r}: port {port} is out of range {low}-65535")
    return Address(host=host, port=port)
