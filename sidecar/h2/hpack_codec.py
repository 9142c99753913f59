"""Header blocks (RFC 7541): a decoder with a block cache, and a stateless encoder.

Decoding must track the peer's dynamic table (Huffman strings use the `hpack` library's
decoder). Encoding needs no dynamic table at all: every field is sent as "literal without
indexing" (or fully indexed when the static table has it), which keeps this side's state
empty and lets encoded fields be cached by value. The cost is a few dozen bytes per header
block on loopback, against the large CPU cost of maintaining an encoder table in Python.
"""

from __future__ import annotations

from collections import deque

from hpack.exceptions import HPACKError
from hpack.huffman_table import decode_huffman
from hpack.table import HeaderTable

from sidecar.h2.errors import ConnectionError_, ErrorCode

Header = tuple[bytes, bytes]
HeaderList = list[Header]

# RFC 7541 §4.1: each field counts its name, its value and 32 bytes of overhead.
FIELD_OVERHEAD = 32


def header_list_size(headers: HeaderList) -> int:
    return sum(len(name) + len(value) + FIELD_OVERHEAD for name, value in headers)


class SensitiveHeader(tuple[bytes, bytes]):
    """A field the peer marked "never indexed" (RFC 7541 §6.2.3); re-encoded the same way."""

    __slots__ = ()


class HeaderDecoder:
    """Decodes complete header blocks of one connection, with the peer's dynamic table.

    Most header blocks repeat byte for byte once a peer's encoder has indexed its fields
    (every request of a client to one method, every `grpc-status: 0`). A block that adds
    nothing to the dynamic table decodes the same way for as long as the table is
    unchanged, so such blocks are cached until the next table change: the common call
    costs one dictionary lookup. Returned lists are shared: callers must not mutate them.

    `hard_limit` bounds the decoded size of one block while decoding (HPACK can expand a
    few bytes into kilobytes); beyond it the connection is unusable, so it is a connection
    error. Callers may enforce softer limits on the result.
    """

    __slots__ = ("_cache", "_entries", "_size", "hard_limit", "max_table_size", "table_size")

    CACHE_ENTRIES = 512

    def __init__(self, hard_limit: int, max_table_size: int = 4096) -> None:
        self.hard_limit = hard_limit
        self.max_table_size = max_table_size  # what this side advertised (default 4096)
        self.table_size = max_table_size  # the size the peer's encoder currently uses
        self._entries: deque[Header] = deque()  # newest first
        self._size = 0
        self._cache: dict[bytes, HeaderList] = {}

    def decode(self, block: bytes) -> HeaderList:
        cached = self._cache.get(block)
        if cached is not None:
            return cached
        try:
            headers, changed = self._decode(block)
        except (IndexError, ValueError) as error:
            raise ConnectionError_(
                ErrorCode.COMPRESSION_ERROR, f"malformed header block: {error}"
            ) from None
        if changed:
            self._cache.clear()
        else:
            if len(self._cache) >= self.CACHE_ENTRIES:
                self._cache.clear()
            self._cache[block] = headers
        return headers

    def _decode(self, data: bytes) -> tuple[HeaderList, bool]:
        headers: HeaderList = []
        append = headers.append
        changed = False
        total = 0
        position = 0
        end = len(data)
        while position < end:
            byte = data[position]
            if byte & 0x80:  # indexed field
                index, position = _decode_integer(data, position, 7)
                header = self._lookup(index)
            elif byte & 0x40:  # literal with incremental indexing
                index, position = _decode_integer(data, position, 6)
                if index:
                    name = self._lookup(index)[0]
                else:
                    name, position = _decode_string(data, position)
                value, position = _decode_string(data, position)
                header = (name, value)
                self._insert(header)
                changed = True
            elif byte & 0x20:  # dynamic table size update: only before the first field
                if headers:
                    raise ValueError("table size update after a header field")
                size, position = _decode_integer(data, position, 5)
                if size > self.max_table_size:
                    raise ValueError(
                        f"table size {size} above the advertised {self.max_table_size}"
                    )
                self.table_size = size
                self._evict()
                changed = True
                continue
            else:  # literal without indexing (0000) or never indexed (0001)
                index, position = _decode_integer(data, position, 4)
                if index:
                    name = self._lookup(index)[0]
                else:
                    name, position = _decode_string(data, position)
                value, position = _decode_string(data, position)
                header = SensitiveHeader((name, value)) if byte & 0x10 else (name, value)
            total += len(header[0]) + len(header[1]) + FIELD_OVERHEAD
            if total > self.hard_limit:
                raise ConnectionError_(
                    ErrorCode.ENHANCE_YOUR_CALM, f"header list larger than {self.hard_limit} bytes"
                )
            append(header)
        return headers, changed

    def _lookup(self, index: int) -> Header:
        if 0 < index <= _STATIC_COUNT:
            static: Header = _STATIC[index - 1]
            return static
        position = index - _STATIC_COUNT - 1
        if index == 0 or position >= len(self._entries):
            raise ValueError(f"header index {index} is out of range")
        return self._entries[position]

    def _insert(self, header: Header) -> None:
        size = len(header[0]) + len(header[1]) + FIELD_OVERHEAD
        if size > self.table_size:  # §4.4: an entry larger than the table empties it
            self._entries.clear()
            self._size = 0
            return
        self._entries.appendleft((header[0], header[1]))
        self._size += size
        self._evict()

    def _evict(self) -> None:
        while self._size > self.table_size:
            name, value = self._entries.pop()
            self._size -= len(name) + len(value) + FIELD_OVERHEAD


def _decode_integer(data: bytes, position: int, prefix_bits: int) -> tuple[int, int]:
    """RFC 7541 §5.1: (value, position after it)."""
    limit = (1 << prefix_bits) - 1
    value = data[position] & limit
    position += 1
    if value < limit:
        return value, position
    shift = 0
    while True:
        byte = data[position]
        position += 1
        value += (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift > 28:
            raise ValueError("integer too large")


def _decode_string(data: bytes, position: int) -> tuple[bytes, int]:
    """RFC 7541 §5.2: (octets, position after them); Huffman-decoded when flagged."""
    huffman = data[position] & 0x80
    length, position = _decode_integer(data, position, 7)
    end = position + length
    if end > len(data):
        raise ValueError("string runs past the end of the header block")
    raw = data[position:end]
    if huffman:
        try:
            raw = decode_huffman(raw)
        except HPACKError as error:
            raise ValueError(f"bad Huffman string: {error}") from None
    return raw, end


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


_STATIC: tuple[Header, ...] = tuple(HeaderTable.STATIC_TABLE)
_STATIC_COUNT = len(_STATIC)
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
                encoded = encode_field(header[0], header[1], type(header) is SensitiveHeader)
                if len(header[1]) <= 128:  # long values are rarely repeated; don't pin them
                    if len(cache) >= self._max_cached:
                        cache.clear()
                    cache[header] = encoded
            parts.append(encoded)
        return b"".join(parts)
