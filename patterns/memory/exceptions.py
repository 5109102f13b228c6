"""Errors of the vector memory, as subclasses of the kernel's hierarchy.

Every class also derives from :class:`MemoryStoreError`, so a caller can catch
all memory errors at once, and from a kernel class, so task retries follow the
retryable/permanent split::

    SwarmError                                   (patterns.core.exceptions)
    ├── MemoryStoreError                         any error of the vector memory
    ├── RetryableError
    │   └── StoreUnavailableError                storage unreachable or a write conflict; retry
    └── PermanentError
        ├── ConfigError
        │   ├── InvalidRecordError               a record or argument breaks the schema
        │   │   └── DimensionMismatchError       a vector's length is not the table's dimension
        │   ├── UnknownNamespaceError            a namespace that holds no records
        │   ├── EmbedderMismatchError            the table was written by another embedder
        │   ├── EmbedderUnavailableError         an optional embedder's packages are missing
        │   ├── SchemaMismatchError              the table exists but is not a memory table
        │   └── TableNotFoundError               the table (directory) does not exist
        ├── StorageError                         LanceDB failed in a way not classified below
        │   └── CorruptedTableError              the table's files exist but cannot be read
        └── RecordNotFoundError                  no record has that id

Foreign errors (from LanceDB, Arrow, the file system) are mapped once, in
:mod:`patterns.memory.store`, with ``raise ... from err``.
"""

from __future__ import annotations

from patterns.core.exceptions import ConfigError, PermanentError, RetryableError, SwarmError


class MemoryStoreError(SwarmError):
    """Base of every error of the vector memory."""


class StoreUnavailableError(MemoryStoreError, RetryableError):
    """The storage could not be reached, or a concurrent commit conflicted; retry later."""


class InvalidRecordError(MemoryStoreError, ConfigError):
    """A record or argument breaks the schema (empty id or text, bad name, bad time range)."""


class DimensionMismatchError(InvalidRecordError):
    """A vector's length differs from the table's vector dimension."""

    def __init__(self, got: int, expected: int, where: str = "vector") -> None:
        super().__init__(
            f"{where} has {got} dimensions but the memory table stores {expected}-dimensional vectors"
        )
        self.got = got
        self.expected = expected


class UnknownNamespaceError(MemoryStoreError, ConfigError):
    """A namespace that holds no records in the table."""

    def __init__(self, namespace: str, table: str) -> None:
        super().__init__(f"unknown namespace {namespace!r}: table {table!r} holds no record in it")
        self.namespace = namespace


class EmbedderMismatchError(MemoryStoreError, ConfigError):
    """The table was written with vectors from another embedder."""


class EmbedderUnavailableError(MemoryStoreError, ConfigError):
    """An optional embedder's packages (or model files) are not installed."""


class SchemaMismatchError(MemoryStoreError, ConfigError):
    """The table exists but does not have the memory table's columns."""


class TableNotFoundError(MemoryStoreError, ConfigError):
    """The memory table does not exist at the configured URI."""


class StorageError(MemoryStoreError, PermanentError):
    """LanceDB reported a failure that is neither retryable nor classified more precisely."""


class CorruptedTableError(StorageError):
    """The table's files exist but cannot be read (damaged manifest or data files)."""


class RecordNotFoundError(MemoryStoreError, PermanentError):
    """No record has the given id."""

    def __init__(self, record_id: str) -> None:
        super().__init__(f"no memory record has id {record_id!r}")
        self.record_id = record_id
