"""Wire codec: tagged unions, bounded frames, malformed input as typed errors."""

from __future__ import annotations

import struct

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from patterns.core.codec import FRAME_HEADER, Codec, Message
from patterns.core.exceptions import (
    CodecError,
    ConfigError,
    FrameTooLargeError,
    MalformedFrameError,
)


class Ping(Message, frozen=True):
    n: int
    body: bytes = b""


class Pong(Message, frozen=True):
    n: int
    who: str


class Other(Message, frozen=True):
    x: float


CODEC: Codec[Message] = Codec([Ping, Pong], max_frame_bytes=256)


def test_round_trip_keeps_type_and_fields() -> None:
    for msg in (Ping(3, b"abc"), Pong(-7, "node-1")):
        assert CODEC.decode(CODEC.encode(msg)) == msg
        assert type(CODEC.decode(CODEC.encode(msg))) is type(msg)


def test_unknown_tag_is_malformed() -> None:
    data = msgspec.msgpack.encode(Other(1.5))
    with pytest.raises(MalformedFrameError, match="undecodable"):
        CODEC.decode(data)


def test_wrong_field_type_is_malformed() -> None:
    data = msgspec.msgpack.encode(["Ping", "not-an-int", b""])
    with pytest.raises(MalformedFrameError):
        CODEC.decode(data)


def test_truncated_frame_is_malformed() -> None:
    data = CODEC.encode(Ping(1, b"hello"))
    with pytest.raises(MalformedFrameError):
        CODEC.decode(data[:-2])


def test_oversized_message_refused_both_ways() -> None:
    with pytest.raises(FrameTooLargeError, match="exceeds the maximum frame size of 256"):
        CODEC.encode(Ping(1, b"x" * 300))
    with pytest.raises(FrameTooLargeError):
        CODEC.decode(b"\x00" * 257)


def test_codec_rejects_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        Codec([])
    with pytest.raises(ConfigError):
        Codec([int])  # type: ignore[list-item]
    with pytest.raises(ConfigError):
        Codec([Ping], max_frame_bytes=4)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_crash(data: bytes) -> None:
    try:
        msg = CODEC.decode(data)
    except CodecError:
        return
    assert isinstance(msg, Ping | Pong)


def test_frame_reader_reassembles_any_split() -> None:
    msgs = [Ping(i, bytes(range(i))) for i in range(20)] + [Pong(5, "é")]
    stream = b"".join(CODEC.encode_frame(m) for m in msgs)
    for chunk in (1, 2, 3, 7, 64, len(stream)):
        reader = CODEC.reader()
        out: list[Message] = []
        for i in range(0, len(stream), chunk):
            out.extend(reader.feed(stream[i : i + chunk]))
        assert out == msgs
        assert reader.buffered == 0


def test_frame_reader_refuses_oversized_header_before_body() -> None:
    reader = CODEC.reader()
    with pytest.raises(FrameTooLargeError) as info:
        list(reader.feed(FRAME_HEADER.pack(10_000_000) + b"x" * 100))
    assert info.value.size == 10_000_000
    # refused on the header: nothing beyond the chunk already in hand is awaited
    assert reader.buffered <= FRAME_HEADER.size + 100


def test_frame_reader_malformed_payload() -> None:
    reader = CODEC.reader()
    with pytest.raises(MalformedFrameError):
        list(reader.feed(struct.pack(">I", 3) + b"\xc1\xc1\xc1"))


ZIP: Codec[Message] = Codec([Ping, Pong], max_frame_bytes=4096, compress_min_bytes=64)


def test_compressible_frames_shrink_and_round_trip_through_any_split() -> None:
    sparse = Ping(1, bytes(3000))  # a mostly empty register array
    small = Ping(2, b"x")
    frames = [ZIP.encode_frame(m) for m in (sparse, small, sparse)]
    assert len(frames[0]) < 200 and struct.unpack(">I", frames[0][:4])[0] & (1 << 31)
    assert frames[1] == CODEC.encode_frame(small)  # under the threshold: the plain format
    stream = b"".join(frames)
    for cut in range(0, len(stream), 7):
        reader = ZIP.reader()
        got = list(reader.feed(stream[:cut])) + list(reader.feed(stream[cut:]))
        assert got == [sparse, small, sparse]


def test_incompressible_frames_stay_plain() -> None:
    import random

    noisy = Ping(3, random.Random(0).randbytes(800))
    frame = ZIP.encode_frame(noisy)
    assert struct.unpack(">I", frame[:4])[0] == len(frame) - 4  # no flag: deflate saved nothing
    assert list(ZIP.reader().feed(frame)) == [noisy]


def test_compressed_bombs_and_garbage_are_refused() -> None:
    import zlib

    bomb = zlib.compress(msgspec.msgpack.encode(Ping(1, bytes(100_000))))
    header = struct.pack(">I", len(bomb) | (1 << 31))
    with pytest.raises(FrameTooLargeError):
        list(ZIP.reader().feed(header + bomb))
    junk = b"not zlib at all"
    with pytest.raises(MalformedFrameError, match="inflate"):
        list(ZIP.reader().feed(struct.pack(">I", len(junk) | (1 << 31)) + junk))
    # a codec that never compresses refuses a compressed frame instead of guessing
    ok = ZIP.encode_frame(Ping(1, bytes(3000)))
    with pytest.raises(MalformedFrameError, match="without compression"):
        list(Codec([Ping, Pong], max_frame_bytes=4096).reader().feed(ok))
    with pytest.raises(ConfigError, match="compress_min_bytes"):
        Codec([Ping], compress_min_bytes=0)
