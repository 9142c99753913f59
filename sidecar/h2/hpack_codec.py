"""Header blocks (RFC 7541): decoding with `hpack`, encoding with a small stateless encoder.

Decoding must track the peer's dynamic table, so it uses the `hpack` library. Encoding does
not need a dynamic table at all: every field is sent as "literal without indexing" (or fully
indexed when the static table has it), which keeps this side's state empty and lets encoded
fields be cached by value. The cost is a few dozen bytes per header block on loopback, against
the large CPU cost of maintaining an encoder table in Python.
"""

from __future__ import annotations

import hpack
from hpack.exceptions import HPACKError, OversizedHeaderListError
from hpack.struct import NeverIndexedHeaderTuple
from hpack.table import HeaderTable

from sidecar.h2.errors import ConnectionError_, ErrorCode

Header = tuple[bytes, bytes]
HeaderList = list[Header]

# RFC 7541 §4.1: each field counts its name, its value and 32 bytes of overhead.
FIELD_OVERHEAD = 32


def header_list_size(headers: HeaderList) -> int:
    return sum(len(name) + len(value) + FIELD_OVERHEAD for name, value in headers)


class HeaderDecoder:
    """Decodes complete header blocks of one connection.

    `hard_limit` bounds the decoded size of one block while decoding (HPACK can expand a few
    bytes into kilobytes); beyond it the HPACK state is unusable, so it is a connection error.
    Callers enforce their advertised (softer) SETTINGS_MAX_HEADER_LIST_SIZE on the result,
    as a stream error, since the decoder state is intact then.
    """

    __slots__ = ("_decoder",)

    def __init__(self, hard_limit: int) -> None:
        self._decoder = hpack.Decoder(max_header_list_size=hard_limit)

    def decode(self, block: bytes) -> HeaderList:
        try:
            headers = self._decoder.decode(block, raw=True)
        except OversizedHeaderListError as error:
            raise ConnectionError_(
                ErrorCode.ENHANCE_YOUR_CALM, f"header list too large: {error}"
            ) from None
        except HPACKError as error:
            raise ConnectionError_(
                ErrorCode.COMPRESSION_ERROR, f"malformed header block: {error}"
            ) from None
        except (IndexError, ValueError) as error:  # truncated integers in hpack's parser
            raise ConnectionError_(
                ErrorCode.COMPRESSION_ERROR, f"malformed header block: {error}"
            ) from None
        return headers  # type: ignore[return-value]  # raw=True: a list of byte pairs


def _encode_integer(value: int, prefix_bits: int, first_byte: int) -> bytes:
    """RFC 7541 §5.1 integer with an N-bit prefix, OR-ing the pattern bits of `first_byte`."""
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _string(data: bytes) -> bytes:
    return _encode_integer(len(data), 7, 0x00) + data


_STATIC_FULL: dict[Header, int] = {}
_STATIC_NAME: dict[bytes, int] = {}
for _index, (_name, _value) in enumerate(HeaderTable.STATIC_TABLE, start=1):
    _STATIC_FULL.setdefault((_name, _value), _index)
    _STATIC_NAME.setdefault(_name, _index)


def encode_field(name: bytes, value: bytes, sensitive: bool = False) -> bytes:
    """One field: indexed when the static table has it, else a literal without indexing."""
    if not sensitive:
        index = _STATIC_FULL.get((name, value))
        if index is not None:
            return _encode_integer(index, 7, 0x80)
    pattern = 0x10 if sensitive else 0x00  # 0x10: "never indexed" (§6.2.3)
    name_index = _STATIC_NAME.get(name)
    if name_index is not None:
        return _encode_integer(name_index, 4, pattern) + _string(value)
    return bytes([pattern]) + _string(name) + _string(value)


class HeaderEncoder:
    """Encodes header lists statelessly; caches encoded fields (bounded) since most repeat."""

    __slots__ = ("_cache", "_max_cached")

    def __init__(self, max_cached: int = 1024) -> None:
        self._cache: dict[Header, bytes] = {}
        self._max_cached = max_cached

    def encode(self, headers: HeaderList) -> bytes:
        cache = self._cache
        parts = []
        for header in headers:
            encoded = cache.get(header)
            if encoded is None:
                encoded = encode_field(
                    header[0], header[1], isinstance(header, NeverIndexedHeaderTuple)
                )
                if len(header[1]) <= 128:  # long values are rarely repeated; don't pin them
                    if len(cache) >= self._max_cached:
                        cache.clear()
                    cache[header] = encoded
            parts.append(encoded)
        return b"".join(parts)
