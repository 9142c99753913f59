"""Bearer-token check for the registry's mutations.

When the registry runs with a token, every mutation must carry the metadata
`authorization: Bearer <token>`; reads (GetTool, ListTools, Watch) are open.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from registry.errors import Unauthenticated

_SCHEME = "bearer "


class BearerAuth:
    """Checks mutation metadata against the configured token (None: no check)."""

    def __init__(self, token: str | None) -> None:
        self._token = token.encode() if token is not None else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def require(self, metadata: Iterable[tuple[str, str | bytes]] | None) -> None:
        """Raises Unauthenticated unless `metadata` carries the right bearer token."""
        if self._token is None:
            return
        values = [value for key, value in metadata or () if key.lower() == "authorization"]
        if not values:
            raise Unauthenticated(
                "this registry requires a token for changes: send metadata "
                "'authorization: Bearer TOKEN'"
            )
        value = values[0]
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if not text.lower().startswith(_SCHEME):
            raise Unauthenticated("authorization metadata must be 'Bearer TOKEN'")
        offered = text[len(_SCHEME) :].strip().encode()
        # Constant time: the comparison must not tell an attacker how much of a guess matched.
        if not hmac.compare_digest(offered, self._token):
            raise Unauthenticated("the bearer token is not valid for this registry")
