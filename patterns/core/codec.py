"""Wire codec: msgspec Structs with tagged unions, msgpack bytes, bounded frames.

Every protocol message is a frozen, tagged :class:`Message` subclass. A
:class:`Codec` is built over the union of message types one protocol speaks;
decoding anything else (wrong tag, wrong field types, truncated or random
bytes, frames over the size limit) raises a :class:`CodecError` subtype and
never crashes or blocks.

On a stream, frames are length-prefixed (4-byte big-endian unsigned length,
then that many payload bytes); :class:`FrameReader` reassembles them
incrementally and refuses an oversized frame as soon as its header arrives,
before buffering its body.

A codec built with ``compress_min_bytes`` deflates (zlib) the payload of a frame
at least that long when that makes it smaller, and marks it with the header's
top bit (lengths never reach it: frames are at most 2**30 bytes). Decompression
is bounded by ``max_frame_bytes``, so a small frame cannot inflate past the limit.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar, Union

import msgspec

from patterns.core.exceptions import ConfigError, FrameTooLargeError, MalformedFrameError

DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB
FRAME_HEADER = struct.Struct(">I")  # payload length, bytes
FRAME_HEADER_BYTES = FRAME_HEADER.size
COMPRESSED_FLAG = 1 << 31  # header bit: the payload is zlib-deflated
COMPRESS_LEVEL = 1  # fastest: frames are compressed on the send path


class Message(msgspec.Struct, frozen=True, tag=True, array_like=True):
    """Base class of every wire message; subclasses are tagged by class name."""


M = TypeVar("M", bound=Message)


class Codec(Generic[M]):
    """Encode and decode one protocol's messages.

    Args:
        types: the message classes of the protocol (a tagged union).
        max_frame_bytes: the largest encoded message accepted, in bytes.
        compress_min_bytes: deflate stream frames at least this long (when it helps);
            ``None`` never compresses. For protocols whose messages carry sparse or
            repetitive data (aggregation sketches); every peer must use the same codec.
    """

    def __init__(
        self,
        types: Sequence[type[M]],
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        *,
        compress_min_bytes: int | None = None,
    ) -> None:
        if not types:
            raise ConfigError("a codec needs at least one message type")
        for t in types:
            if not (isinstance(t, type) and issubclass(t, Message)):
                raise ConfigError(f"{t!r} is not a Message subclass")
        if not 16 <= max_frame_bytes <= 1 << 30:
            raise ConfigError(f"max_frame_bytes={max_frame_bytes} is outside 16..2**30")
        if compress_min_bytes is not None and compress_min_bytes < 1:
            raise ConfigError(f"compress_min_bytes={compress_min_bytes} must be >= 1")
        self.types: tuple[type[M], ...] = tuple(types)
        self.max_frame_bytes = max_frame_bytes
        self.compress_min_bytes = compress_min_bytes
        union: Any = self.types[0] if len(self.types) == 1 else Union[self.types]  # noqa: UP007
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder: msgspec.msgpack.Decoder[M] = msgspec.msgpack.Decoder(union)

    def encode(self, msg: M) -> bytes:
        """Encode one message to msgpack bytes.

        Raises:
            FrameTooLargeError: the encoding is longer than ``max_frame_bytes``.
        """
        data = self._encoder.encode(msg)
        if len(data) > self.max_frame_bytes:
            raise FrameTooLargeError(len(data), self.max_frame_bytes)
        return data

    def decode(self, data: bytes | bytearray | memoryview) -> M:
        """Decode one message.

        Raises:
            FrameTooLargeError: ``data`` is longer than ``max_frame_bytes``.
            MalformedFrameError: ``data`` is not one of this codec's messages.
        """
        if len(data) > self.max_frame_bytes:
            raise FrameTooLargeError(len(data), self.max_frame_bytes)
        try:
            return self._decoder.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as err:
            raise MalformedFrameError(f"undecodable frame of {len(data)} bytes: {err}") from err
        except (ValueError, TypeError, OverflowError, RecursionError) as err:  # pragma: no cover
            raise MalformedFrameError(f"undecodable frame of {len(data)} bytes: {err!r}") from err

    def encode_frame(self, msg: M) -> bytes:
        """Encode one message with its length prefix, ready for a stream."""
        data = self.encode(msg)
        limit = self.compress_min_bytes
        if limit is not None and len(data) >= limit:
            packed = zlib.compress(data, COMPRESS_LEVEL)
            if len(packed) < len(data):
                return FRAME_HEADER.pack(len(packed) | COMPRESSED_FLAG) + packed
        return FRAME_HEADER.pack(len(data)) + data

    def inflate(self, payload: bytes) -> bytes:
        """The message bytes of a compressed frame's payload.

        Raises:
            FrameTooLargeError: it inflates past ``max_frame_bytes``.
            MalformedFrameError: it is not zlib data, or this codec does not compress.
        """
        if self.compress_min_bytes is None:
            raise MalformedFrameError("a compressed frame on a codec without compression")
        inflater = zlib.decompressobj()
        try:
            data = inflater.decompress(payload, self.max_frame_bytes + 1)
        except zlib.error as err:
            raise MalformedFrameError(f"compressed frame does not inflate: {err}") from err
        if len(data) > self.max_frame_bytes:
            raise FrameTooLargeError(len(data), self.max_frame_bytes)
        if not inflater.eof or inflater.unused_data:
            raise MalformedFrameError("compressed frame is truncated or has trailing bytes")
        return data

    def reader(self) -> FrameReader[M]:
        """A fresh incremental frame reader for one stream."""
        return FrameReader(self)


class FrameReader(Generic[M]):
    """Reassemble length-prefixed frames from stream chunks.

    After it raises, the stream is unusable (framing is lost) and the caller
    must close it.
    """

    def __init__(self, codec: Codec[M]) -> None:
        self._codec = codec
        self._buf = bytearray()
        self._need: int | None = None
        self._compressed = False

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return len(self._buf)

    def feed(self, chunk: bytes) -> Iterator[M]:
        """Add ``chunk`` and yield every message it completes.

        Raises:
            FrameTooLargeError: a header announces a frame over the limit.
            MalformedFrameError: a complete frame does not decode.
        """
        self._buf += chunk
        while True:
            if self._need is None:
                if len(self._buf) < FRAME_HEADER_BYTES:
                    return
                (size,) = FRAME_HEADER.unpack_from(self._buf)
                self._compressed = bool(size & COMPRESSED_FLAG)
                size &= ~COMPRESSED_FLAG
                if size > self._codec.max_frame_bytes:
                    raise FrameTooLargeError(size, self._codec.max_frame_bytes)
                del self._buf[:FRAME_HEADER_BYTES]
                self._need = size
            if len(self._buf) < self._need:
                return
            payload = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            if self._compressed:
                payload = self._codec.inflate(payload)
            yield self._codec.decode(payload)
