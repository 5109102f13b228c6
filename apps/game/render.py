"""A PNG of levels (matplotlib, headless) for artifacts and the README."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap

from apps.game.level import Tile, rows_to_grid

COLORS = {
    Tile.WALL: "#3a3f4b",
    Tile.FLOOR: "#1b1e24",
    Tile.START: "#2e7d32",
    Tile.EXIT: "#f9a825",
    Tile.HAZARD: "#c62828",
    Tile.KEY_A: "#42a5f5",
    Tile.KEY_B: "#ab47bc",
    Tile.KEY_C: "#26a69a",
    Tile.DOOR_A: "#1565c0",
    Tile.DOOR_B: "#6a1b9a",
    Tile.DOOR_C: "#00695c",
}
CMAP = ListedColormap([COLORS[Tile(i)] for i in range(len(Tile))])


def render_levels(records: Sequence[dict[str, Any]], path: str | Path, columns: int = 3) -> Path:
    """Draw up to ``2 * columns`` levels (world records) into one PNG at ``path``."""
    shown = list(records)[: 2 * columns]
    rows = max(1, (len(shown) + columns - 1) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 3 * rows), squeeze=False)
    fig.patch.set_facecolor("#14161b")
    for ax in axes.ravel():
        ax.axis("off")
    for ax, rec in zip(axes.ravel(), shown, strict=False):
        ax.imshow(rows_to_grid(rec["rows"]), cmap=CMAP, vmin=0, vmax=len(Tile) - 1)
        m = rec.get("metrics", {})
        ax.set_title(
            f"{rec['params']['kind']} by {rec.get('author', '?')}\n"
            f"difficulty {m.get('difficulty', 0):.2f}, {m.get('length', '?')} steps",
            color="#e6e6e6",
            fontsize=9,
        )
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, dpi=90, facecolor=fig.get_facecolor())
    plt.close(fig)
    return out
