"""gRPC message framing, read without decoding: each message is a 5-byte prefix (compressed
flag, 4-byte big-endian length) and its body. The relay only follows the lengths, to refuse
messages above the configured maximum; the bytes pass through untouched.
"""

from __future__ import annotations

PREFIX_LENGTH = 5


class MessageTooLarge(Exception):
    """A message's declared length exceeds the limit."""

    def __init__(self, length: int, limit: int) -> None:
        super().__init__(f"message of {length} bytes exceeds the limit of {limit} bytes")
        self.length = length
        self.limit = limit


class MessageScanner:
    """Follows message boundaries across DATA frames of one direction of one call."""

    __slots__ = ("_left", "_partial", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._left = 0  # body bytes of the current message still to come
        self._partial = b""  # prefix bytes seen so far when a prefix spans frames

    def feed(self, payload: bytes) -> None:
        """Advances over `payload`; raises MessageTooLarge at an oversized prefix."""
        left = self._left
        available = len(payload)
        if left >= available:  # the common case: all of it belongs to the current message
            self._left = left - available
            return
        position = left
        partial = self._partial
        while True:
            need = PREFIX_LENGTH - len(partial)
            chunk = payload[position : position + need]
            partial += chunk
            position += len(chunk)
            if len(partial) < PREFIX_LENGTH:
                self._left, self._partial = 0, partial
                return
            length = int.from_bytes(partial[1:5], "big")
            if length > self.limit:
                raise MessageTooLarge(length, self.limit)
            partial = b""
            remaining = available - position
            if length >= remaining:
                self._left, self._partial = length - remaining, b""
                return
            position += length
