"""Bad tables and crashes: missing or corrupted directories, foreign tables, a killed writer."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import lancedb
import pyarrow as pa
import pytest

from patterns.core.exceptions import ConfigError, PermanentError
from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore
from patterns.memory.exceptions import (
    CorruptedTableError,
    DimensionMismatchError,
    EmbedderMismatchError,
    SchemaMismatchError,
    TableNotFoundError,
)
from tests.memory import writer_child

ROOT = Path(__file__).resolve().parents[2]
DIM = 64  # vector dimensions of these tests


def make_store(uri: str, **kwargs: object) -> MemoryStore:
    kwargs.setdefault("create_if_missing", True)
    settings = MemorySettings(uri=uri, dim=DIM, **kwargs)  # type: ignore[arg-type]
    return MemoryStore(settings, HashingEmbedder(dim=DIM))


def seeded(uri: str) -> Path:
    with make_store(uri) as store:
        store.add(MemoryItem(text=f"row {i}", id=f"r{i}") for i in range(20))
        path = store.table_path
    assert path is not None and path.is_dir()
    return path


def test_missing_table_without_create_is_a_clear_error(db_uri: str) -> None:
    with pytest.raises(TableNotFoundError, match="'memories' does not exist") as info:
        make_store(db_uri, create_if_missing=False)
    assert isinstance(info.value, ConfigError)


def test_opening_a_missing_table_is_an_error_by_default_and_creates_nothing(
    tmp_path: Path,
) -> None:
    # Nothing at the URI: no directory and no table are created behind the caller's back.
    uri = tmp_path / "no-such-db"
    with pytest.raises(TableNotFoundError) as info:
        MemoryStore(MemorySettings(uri=str(uri), dim=DIM), HashingEmbedder(dim=DIM))
    message = str(info.value)
    assert "'memories' does not exist" in message and str(uri) in message
    assert "create_if_missing=True" in message  # says how to ask for creation
    assert not uri.exists()


def test_a_mistyped_table_name_is_an_error_not_an_empty_table(db_uri: str) -> None:
    seeded(db_uri)
    settings = MemorySettings(uri=db_uri, table="memorys", dim=DIM)
    with pytest.raises(TableNotFoundError, match=r"'memorys' does not exist.*memorys\.lance"):
        MemoryStore(settings, HashingEmbedder(dim=DIM))
    assert not (Path(db_uri) / "memorys.lance").exists()
    asked = settings.model_copy(update={"create_if_missing": True})
    with MemoryStore(asked, HashingEmbedder(dim=DIM)) as store:  # created when asked
        assert store.count() == 0
    assert (Path(db_uri) / "memorys.lance" / "_versions").is_dir()


def test_table_directory_deleted_under_an_open_store(db_uri: str) -> None:
    path = seeded(db_uri)
    store = make_store(db_uri, working_set_rows=0)
    shutil.rmtree(path)
    with pytest.raises(TableNotFoundError, match=r"no table directory at .*memories\.lance"):
        store.search("row 3")
    with pytest.raises(TableNotFoundError, match="does not exist"):
        make_store(db_uri, create_if_missing=False)


def test_empty_table_directory_is_reported_as_corrupted(db_uri: str) -> None:
    (Path(db_uri) / "memories.lance").mkdir(parents=True)
    with pytest.raises(CorruptedTableError, match="exists but holds no readable LanceDB table"):
        make_store(db_uri)


def test_garbage_manifest_is_reported_as_corrupted(db_uri: str) -> None:
    path = seeded(db_uri)
    for manifest in (path / "_versions").iterdir():
        manifest.write_bytes(b"not a lance manifest")
    with pytest.raises(CorruptedTableError, match="is corrupted") as info:
        make_store(db_uri)
    assert isinstance(info.value, PermanentError)


def test_damaged_data_file_is_reported_as_corrupted(db_uri: str) -> None:
    path = seeded(db_uri)
    for data in (path / "data").iterdir():
        size = data.stat().st_size
        data.write_bytes(b"\0" * size)
    store = make_store(db_uri, working_set_rows=0)
    with pytest.raises(CorruptedTableError, match="memories"):
        store.search("row 1", exact=True)


def test_foreign_table_is_refused(db_uri: str) -> None:
    db = lancedb.connect(db_uri)
    db.create_table("memories", pa.table({"id": ["a"], "payload": [1]}))
    with pytest.raises(SchemaMismatchError, match="not a memory table: missing columns"):
        make_store(db_uri)


def test_other_embedders_are_refused(db_uri: str) -> None:
    seeded(db_uri)
    with pytest.raises(DimensionMismatchError, match=r"has 32 dimensions .* 64-dimensional"):
        MemoryStore(MemorySettings(uri=db_uri, dim=32), HashingEmbedder(dim=32))
    with pytest.raises(EmbedderMismatchError, match="holds vectors of embedder 'hashing-v1:dim=64"):
        MemoryStore(MemorySettings(uri=db_uri), HashingEmbedder(dim=DIM, char_ngrams=(2, 4)))


def test_writer_killed_mid_batch_leaves_every_committed_batch(db_uri: str) -> None:
    batches, rows = 3, 40
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.memory.writer_child", db_uri, str(batches), str(rows)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(120, child.kill)  # only if the child never reports
    watchdog.start()
    lines: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.strip())
            if lines[-1] in ("mid-batch", "no-flush"):
                child.send_signal(signal.SIGKILL)
                break
        child.wait(timeout=60)
    finally:
        watchdog.cancel()
    stderr = child.stderr.read() if child.stderr else ""
    assert lines == [*(f"committed {b}" for b in range(batches)), "mid-batch"], stderr
    assert child.returncode == -signal.SIGKILL

    data = Path(db_uri) / "memories.lance" / "data"
    partial = [f for f in data.iterdir() if f.name.startswith(".tmp")]
    assert len(partial) == 1 and partial[0].stat().st_size > 0  # killed while writing a file

    settings = MemorySettings(uri=db_uri, dim=writer_child.DIM)
    with MemoryStore(settings, HashingEmbedder(dim=writer_child.DIM)) as store:
        committed = [f"b{b}-r{r}" for b in range(batches) for r in range(rows)]
        assert store.count() == batches * rows
        assert [r.id for r in store.get_many(committed)] == committed
        assert store.get("doomed-0") is None
        assert store.search("batch 1 row 7", k=1)[0].record.id == "b1-r7"
        store.add(MemoryItem(text=f"after the crash {i}", id=f"after-{i}") for i in range(5))
        store.compact()
        assert store.count() == batches * rows + 5
        assert store.search("after the crash 3", k=1, exact=True)[0].record.id == "after-3"
