"""Child process of the killed-writer test: commits batches, then stalls in the middle of one.

Usage: ``python -m tests.memory.writer_child URI BATCHES ROWS``. Commits BATCHES
batches of ROWS records, printing ``committed N`` after each. Then it starts one
more (large) batch. The store embeds a batch chunk by chunk while LanceDB
consumes it, so the embedder sees the write in progress: as soon as LanceDB
has flushed bytes of the new data file, the embedder prints ``mid-batch`` and
blocks until the process is killed. If no bytes appear within
``MAX_STALLED_CHUNKS`` chunks it prints ``no-flush`` and blocks too.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from patterns.memory import HashingEmbedder, MemoryItem, MemorySettings, MemoryStore
from patterns.memory.embedders import Vectors

DIM = 384  # vector dimensions shared with the test
CHUNK_ROWS = 4096  # rows embedded per chunk of the stalled batch (6 MB of vectors)
MAX_STALLED_CHUNKS = 64  # chunks streamed before giving up on seeing a flush


class StallingEmbedder(HashingEmbedder):
    """A hashing embedder that, once armed, blocks as soon as a new data file has bytes."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(dim=DIM)
        self.data_dir = data_dir
        self.before: set[str] = set()
        self.armed = False
        self.calls = 0

    def arm(self) -> None:
        self.before = set(os_listdir(self.data_dir))
        self.armed = True

    def flushed(self) -> bool:
        new = set(os_listdir(self.data_dir)) - self.before
        return any((self.data_dir / name).stat().st_size > 0 for name in new)

    def embed(self, texts: Sequence[str]) -> Vectors:
        if self.armed:
            self.calls += 1
            if self.flushed() or self.calls > MAX_STALLED_CHUNKS:
                print("mid-batch" if self.flushed() else "no-flush", flush=True)
                sys.stdin.read()  # the parent keeps stdin open: blocks until SIGKILL
        return super().embed(texts)


def os_listdir(path: Path) -> list[str]:
    return [p.name for p in path.iterdir()] if path.is_dir() else []


def main(uri: str, batches: int, rows: int) -> None:
    settings = MemorySettings(create_if_missing=True, uri=uri, dim=DIM, write_batch_rows=CHUNK_ROWS)
    embedder = StallingEmbedder(Path(uri) / f"{settings.table}.lance" / "data")
    store = MemoryStore(settings, embedder)
    for b in range(batches):
        store.add(MemoryItem(text=f"batch {b} row {r}", id=f"b{b}-r{r}") for r in range(rows))
        print(f"committed {b}", flush=True)
    embedder.arm()
    doomed = CHUNK_ROWS * (MAX_STALLED_CHUNKS + 2)
    store.add(MemoryItem(text=f"doomed row {r}", id=f"doomed-{r}") for r in range(doomed))
    print("the stalled batch finished: the test did not kill us", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
