"""Header block decoding against the RFC's examples and a reference encoder."""

from __future__ import annotations

import hpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.h2.errors import ConnectionError_, ErrorCode
from sidecar.h2.hpack_codec import HeaderDecoder, HeaderEncoder, SensitiveHeader


def test_rfc7541_c3_requests_without_huffman() -> None:
    decoder = HeaderDecoder(1 << 16)
    first = bytes.fromhex("828684410f7777772e6578616d706c652e636f6d")
    second = bytes.fromhex("828684be58086e6f2d6361636865")
    third = bytes.fromhex("828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565")
    assert decoder.decode(first) == [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":path", b"/"),
        (b":authority", b"www.example.com"),
    ]
    assert decoder.decode(second)[-1] == (b"cache-control", b"no-cache")
    assert decoder.decode(third) == [
        (b":method", b"GET"),
        (b":scheme", b"https"),
        (b":path", b"/index.html"),
        (b":authority", b"www.example.com"),
        (b"custom-key", b"custom-value"),
    ]


def test_rfc7541_c4_requests_with_huffman() -> None:
    decoder = HeaderDecoder(1 << 16)
    first = bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff")
    assert decoder.decode(first)[-1] == (b":authority", b"www.example.com")


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(
                    [b"x-a", b"x-b", b"content-type", b":path", b"grpc-timeout", b"x-long"]
                ),
                st.binary(max_size=300).map(lambda b: b.hex().encode()[:300]),
            ),
            max_size=6,
        ),
        min_size=1,
        max_size=12,
    ),
    st.sampled_from([0, 64, 256, 4096]),
    st.booleans(),
)
def test_decodes_what_a_reference_encoder_wrote(
    blocks: list[list[tuple[bytes, bytes]]], table_size: int, huffman: bool
) -> None:
    """Any sequence of blocks, with table evictions and repeats (cache hits), decodes exactly."""
    encoder = hpack.Encoder()
    encoder.header_table_size = table_size
    decoder = HeaderDecoder(1 << 20)
    for headers in blocks + blocks:  # the second pass repeats blocks: cache hits must be right
        block = encoder.encode(headers, huffman=huffman)
        assert decoder.decode(block) == headers


def test_never_indexed_fields_stay_never_indexed() -> None:
    encoder = hpack.Encoder()
    block = encoder.encode([hpack.NeverIndexedHeaderTuple(b"authorization", b"secret")])
    (header,) = HeaderDecoder(1 << 16).decode(block)
    assert type(header) is SensitiveHeader
    assert HeaderEncoder().encode([header])[0] & 0xF0 == 0x10  # re-encoded "never indexed"


@pytest.mark.parametrize(
    "block",
    [
        b"\x80",  # index 0
        b"\xff\xff\xff\xff\xff\xff\x7f",  # integer overflow
        b"\xbf",  # dynamic index that does not exist
        b"\x40\x05ab",  # literal name longer than the block
        b"\x82\x3f\xe1\x1f",  # table size update after a field
        b"\x3f\xe1\xff\x03",  # table size above the advertised 4096
    ],
)
def test_malformed_blocks_are_compression_errors(block: bytes) -> None:
    with pytest.raises(ConnectionError_) as raised:
        HeaderDecoder(1 << 16).decode(block)
    assert raised.value.code == ErrorCode.COMPRESSION_ERROR


def test_expansion_beyond_the_hard_limit_is_refused() -> None:
    encoder = hpack.Encoder()
    block = encoder.encode([(b"x-big", b"v" * 3000)])
    decoder = HeaderDecoder(8192)
    decoder.decode(block)
    bomb = b"\xbe" * 10  # ten references to the 3 KB dynamic entry
    with pytest.raises(ConnectionError_) as raised:
        decoder.decode(bomb)
    assert raised.value.code == ErrorCode.ENHANCE_YOUR_CALM


@given(
    st.lists(st.tuples(st.binary(min_size=1, max_size=20), st.binary(max_size=200)), max_size=10)
)
def test_encoder_output_decodes_to_the_input(headers: list[tuple[bytes, bytes]]) -> None:
    block = HeaderEncoder().encode(headers)
    assert hpack.Decoder().decode(block, raw=True) == headers
