"""A pycrdt document replicated by bytes only: state vectors and updates."""

from __future__ import annotations

import enum
import random
import zlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pycrdt import Array, Doc, Map, Text, TransactionEvent, merge_updates

from patterns.core.exceptions import ConfigError
from patterns.gossip.exceptions import MalformedUpdateError
from patterns.gossip.statevec import (
    StateVector,
    canonical_delete_set,
    checksum,
    decode_state_vector,
    fingerprint,
)

T = TypeVar("T")

CLIENT_ID_BITS = 52  # Yjs client ids must stay exact in a JavaScript number (53 bits)
EMPTY_UPDATE = b"\x00\x00"  # no structs, empty delete set (lib0 v1)
SHADOW_LAG_MAX = 256  # local transactions the shadow may lag by before it is dropped


class RootKind(enum.StrEnum):
    """The shared type of one root of the document."""

    MAP = "map"
    ARRAY = "array"
    TEXT = "text"


DEFAULT_ROOTS: Mapping[str, RootKind] = {
    "map": RootKind.MAP,
    "array": RootKind.ARRAY,
    "text": RootKind.TEXT,
}
_ROOT_TYPES: dict[RootKind, Callable[[], Map[Any] | Array[Any] | Text]] = {
    RootKind.MAP: Map,
    RootKind.ARRAY: Array,
    RootKind.TEXT: Text,
}


def new_client_id(rng: random.Random) -> int:
    """A random non-zero Yjs client id drawn from ``rng``."""
    return rng.getrandbits(CLIENT_ID_BITS) | 1


def _is_panic(err: BaseException) -> bool:
    # pyo3 turns a Rust panic into pyo3_runtime.PanicException, a BaseException.
    return type(err).__name__ == "PanicException"


def _apply(doc: Doc[Any], update: bytes) -> None:
    try:
        doc.apply_update(update)
    except (ValueError, RuntimeError, TypeError) as err:
        raise MalformedUpdateError(f"undecodable update of {len(update)} bytes: {err}") from err
    except BaseException as err:
        if _is_panic(err):
            raise MalformedUpdateError(
                f"update of {len(update)} bytes made pycrdt panic: {err}"
            ) from err
        raise


class ReplicatedDoc:
    """A pycrdt document with named roots, replicated by state vectors and updates.

    Local edits run in one transaction and yield exactly that transaction's
    update. Remote updates are checked before they touch the document: CRC, then
    pycrdt's own decoder, then the schema, on a shadow copy of the document (an update
    that would create a root the document does not declare is refused). Corrupt,
    truncated or out-of-schema bytes are rejected with the document unchanged.

    Args:
        client_id: the Yjs client id of this replica's edits; it must be unique
            among every replica that ever existed (a restarted replica needs a new one).
        roots: the root names and their types.
    """

    def __init__(self, client_id: int, roots: Mapping[str, RootKind] = DEFAULT_ROOTS) -> None:
        if not roots:
            raise ConfigError("a replicated document needs at least one root")
        self.roots: dict[str, RootKind] = {name: RootKind(kind) for name, kind in roots.items()}
        self._capture: list[bytes] | None = None
        self._changed = False
        self._state = b""
        self._ds = b""
        self._sv: StateVector | None = None
        self._ds_crc: int | None = None
        self._fingerprint: bytes | None = None
        self._fresh = False
        self._shadow: Doc[Any] | None = None  # what the document would become: checked first
        self._behind: list[bytes] = []  # transactions of the document the shadow lacks
        self.doc: Doc[Any] = self._new_doc(client_id)

    def _new_doc(self, client_id: int) -> Doc[Any]:
        doc: Doc[Any] = Doc(client_id=client_id)
        for name, kind in self.roots.items():
            doc[name] = _ROOT_TYPES[kind]()
        doc.observe(self._on_transaction)
        self._fresh = False
        self._shadow = None
        self._behind = []
        return doc

    def _on_transaction(self, event: TransactionEvent) -> None:
        # Called at the commit of every transaction pycrdt reports as a change.
        self._changed = True
        self._fresh = False
        if self._capture is not None:
            self._capture.append(event.update)
        if self._shadow is not None:
            if len(self._behind) >= SHADOW_LAG_MAX:
                self._shadow = None  # cheaper to copy the document again when next needed
                self._behind = []
            else:
                self._behind.append(event.update)

    # -- identity -----------------------------------------------------------------
    @property
    def client_id(self) -> int:
        """The Yjs client id of local edits."""
        return self.doc.client_id

    def rotate_client_id(self, client_id: int) -> None:
        """Continue with a new client id, keeping the content (Yjs does this on id reuse)."""
        full = self.doc.get_update()
        self.doc = self._new_doc(client_id)
        self.doc.apply_update(full)

    # -- local edits --------------------------------------------------------------
    def transact(self, fn: Callable[[Doc[Any]], T]) -> tuple[T, bytes | None]:
        """Run ``fn(doc)`` in one transaction; returns its result and the update it made.

        The update is None if the transaction changed nothing. pycrdt has no
        rollback: if ``fn`` raises, what it changed before raising stays in the
        document (and replicates through anti-entropy); the exception propagates.
        """
        self._capture = []
        try:
            with self.doc.transaction():
                result = fn(self.doc)
        finally:
            captured, self._capture = self._capture, None
        if not captured:
            return result, None
        return result, captured[0] if len(captured) == 1 else merge_updates(*captured)

    def map(self, name: str = "map") -> Map[Any]:
        """The map root ``name``."""
        return self._root(name, RootKind.MAP)  # type: ignore[return-value]

    def array(self, name: str = "array") -> Array[Any]:
        """The array root ``name``."""
        return self._root(name, RootKind.ARRAY)  # type: ignore[return-value]

    def text(self, name: str = "text") -> Text:
        """The text root ``name``."""
        return self._root(name, RootKind.TEXT)  # type: ignore[return-value]

    def _root(self, name: str, kind: RootKind) -> Map[Any] | Array[Any] | Text:
        if self.roots.get(name) is not kind:
            raise ConfigError(f"the document has no {kind.value} root named {name!r}")
        root: Map[Any] | Array[Any] | Text = self.doc[name]
        return root

    # -- replication --------------------------------------------------------------
    def apply_remote(self, update: bytes, crc: int | None = None) -> bool:
        """Apply a peer's update; returns True if the document changed.

        Raises:
            MalformedUpdateError: the CRC does not match, or pycrdt cannot decode or
                integrate the bytes; the document is unchanged.
        """
        if crc is not None and checksum(update) != crc:
            raise MalformedUpdateError(f"checksum mismatch on an update of {len(update)} bytes")
        if len(update) < len(EMPTY_UPDATE):
            raise MalformedUpdateError(f"update of {len(update)} bytes is truncated")
        if update == EMPTY_UPDATE:
            return False
        self._check_schema(update)
        self._refresh()
        state, ds = self._state, self._ds
        self._changed = False
        try:
            _apply(self.doc, update)
        except MalformedUpdateError:
            self._shadow = None
            raise
        self._behind = []  # the shadow already holds what this apply did
        if not self._changed:
            return False
        # pycrdt reports every transaction with a delete set as a change, even when
        # every deletion was already there: compare state and delete set instead.
        self._refresh()
        if self._state == state and self._ds == ds:
            return False
        return fingerprint(state, ds) != fingerprint(self._state, self._ds)

    def _check_schema(self, update: bytes) -> None:
        """Apply ``update`` to the shadow first; refuse it if it would add a root.

        Raises:
            MalformedUpdateError: pycrdt cannot decode it, or it creates a root the
                document does not declare; the shadow is then dropped (copied again
                from the document when next needed) and the document is unchanged.
        """
        shadow = self._shadow
        if shadow is None:
            shadow = Doc()
            shadow.apply_update(self.doc.get_update())
        else:
            for missed in self._behind:
                shadow.apply_update(missed)
        self._shadow, self._behind = None, []
        _apply(shadow, update)
        extra = set(shadow.keys()) - self.roots.keys()
        if extra:
            raise MalformedUpdateError(
                f"update of {len(update)} bytes creates root(s) {sorted(extra)} that the "
                f"document does not declare (roots: {sorted(self.roots)})"
            )
        self._shadow = shadow

    def update_for(self, state: bytes) -> bytes:
        """The update a replica at ``state`` lacks (its structs, plus our whole delete set).

        Raises:
            MalformedUpdateError: ``state`` is not a state vector.
        """
        try:
            return self.doc.get_update(state)
        except (ValueError, RuntimeError) as err:
            raise MalformedUpdateError(f"bad state vector of {len(state)} bytes: {err}") from err
        except BaseException as err:
            if _is_panic(err):
                raise MalformedUpdateError(f"state vector made pycrdt panic: {err}") from err
            raise

    def full_update(self) -> bytes:
        """The whole document as one update."""
        return self.doc.get_update()

    def _refresh(self) -> None:
        if self._fresh:
            return
        doc = self.doc
        self._state = doc.get_state()
        self._ds = doc.get_update(self._state)  # no structs: exactly the delete set
        self._sv = None
        self._ds_crc = None
        self._fingerprint = None
        self._fresh = True

    @property
    def state(self) -> bytes:
        """The encoded state vector (``Doc.get_state()``), cached between changes."""
        self._refresh()
        return self._state

    @property
    def delete_set(self) -> bytes:
        """The delete set as an update without structs, cached between changes."""
        self._refresh()
        return self._ds

    @property
    def state_vector(self) -> StateVector:
        """The decoded state vector (do not mutate it)."""
        self._refresh()
        if self._sv is None:
            self._sv = decode_state_vector(self._state)
        return self._sv

    @property
    def ds_crc(self) -> int:
        """CRC-32 of the canonical delete set: deletions do not move the state vector."""
        self._refresh()
        if self._ds_crc is None:
            self._ds_crc = zlib.crc32(canonical_delete_set(self._ds))
        return self._ds_crc

    @property
    def fingerprint(self) -> bytes:
        """Canonical state vector plus delete set: equal iff the documents are equal."""
        self._refresh()
        if self._fingerprint is None:
            self._fingerprint = fingerprint(self._state, self._ds)
        return self._fingerprint

    def snapshot(self) -> dict[str, Any]:
        """The content as plain Python (``to_py`` of every root)."""
        return {name: self.doc[name].to_py() for name in self.roots}
