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
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar, Union

import msgspec

from patterns.core.exceptions import ConfigError, FrameTooLargeError, MalformedFrameError

DEFAULT_MAX_FRAME_BYTES = 1 << 20  # 1 MiB
FRAME_HEADER = struct.Struct(">I")  # payload length, bytes
FRAME_HEADER_BYTES = FRAME_HEADER.size


class Message(msgspec.Struct, frozen=True, tag=True, array_like=True):
    """Base class of every wire message; subclasses are tagged by class name."""


M = TypeVar("M", bound=Message)


class Codec(Generic[M]):
    """Encode and decode one protocol's messages.

    Args:
        types: the message classes of the protocol (a tagged union).
        max_frame_bytes: the largest encoded message accepted, in bytes.
    """

    def __init__(
        self, types: Sequence[type[M]], max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES
    ) -> None:
        if not types:
            raise ConfigError("a codec needs at least one message type")
        for t in types:
            if not (isinstance(t, type) and issubclass(t, Message)):
                raise ConfigError(f"{t!r} is not a Message subclass")
        if not 16 <= max_frame_bytes <= 1 << 30:
            raise ConfigError(f"max_frame_bytes={max_frame_bytes} is outside 16..2**30")
        self.types: tuple[type[M], ...] = tuple(types)
        self.max_frame_bytes = max_frame_bytes
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
        return FRAME_HEADER.pack(len(data)) + data

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
                if size > self._codec.max_frame_bytes:
                    raise FrameTooLargeError(size, self._codec.max_frame_bytes)
                del self._buf[:FRAME_HEADER_BYTES]
                self._need = size
            if len(self._buf) < self._need:
                return
            payload = bytes(self._buf[: self._need])
            del self._buf[: self._need]
            self._need = None
            yield self._codec.decode(payload)
