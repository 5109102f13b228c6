"""Outputs of a fold: JSON record, PDB-like text, a PNG drawing, the energy-vs-time curve, tables."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from apps.folding.exceptions import FoldFormatError
from apps.folding.lattice import check_fold, contact_pairs
from apps.folding.sequence import file_stem
from apps.folding.swarm import FoldReport

BOND_A = 3.8  # Å between consecutive C-alpha atoms: the lattice spacing of the PDB-like file
H_COLOR, P_COLOR = "#d62728", "#1f77b4"  # hydrophobic red, polar blue


def fold_record(r: FoldReport) -> dict[str, Any]:
    """The fold as plain JSON data (coordinates, energy, agreement, consensus)."""
    return {
        "name": r.name,
        "sequence_hp": r.hp,
        "sequence_source": r.source,
        "lattice": r.lattice,
        "energy": r.energy,
        "coords": r.coords,
        "winner": r.winner,
        "budget_moves": r.budget_moves,
        "moves": r.moves,
        "moves_per_s": round(r.moves_per_s),
        "wall_seconds": round(r.wall_seconds, 3),
        "time_to_best_s": round(r.time_to_best_s, 3),
        "contacts": sorted(list(c) for c in contact_pairs(r.hp, r.coords)),
        "per_residue_consensus": [round(x, 4) for x in r.consensus.per_residue],
        "consensus_folds": r.consensus.folds,
        "liars": r.liars,
        "verdicts": [
            {
                "agent": v.agent,
                "claimed": v.claimed,
                "accepted": v.accepted,
                "accepts": v.accepts,
                "rejects": v.rejects,
                "recomputed": v.energy,
                "reason": v.reason,
                "pbft_seq": v.sequence,
                "certificate": v.digest,
            }
            for v in r.verdicts
        ],
    }


def read_fold(path: str | Path) -> dict[str, Any]:
    """Read a fold JSON written by :func:`write_outputs` and re-check it.

    Raises:
        FoldFormatError: unreadable, a field missing, or a fold that does not re-score to its energy.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as err:
        raise FoldFormatError(f"{p}: cannot read the fold JSON: {err}") from err
    for key in ("sequence_hp", "lattice", "coords", "energy"):
        if key not in data:
            raise FoldFormatError(f"{p}: field {key!r} is missing")
    dim = 3 if data["lattice"] == "3d" else 2
    chk = check_fold(data["sequence_hp"], data["coords"], dim)
    if not chk.valid or chk.energy != data["energy"]:
        raise FoldFormatError(f"{p}: the fold does not re-score: {chk.reason or chk.energy}")
    return dict(data)


def pdb_text(hp: str, coords: list[list[int]], title: str = "", source: str = "") -> str:
    """A PDB-like text: one C-alpha per residue at ``BOND_A`` Å per lattice step, CONECT for the chain.

    Residue names: ``HYD`` (H) and ``POL`` (P); the original residue letter (when
    an amino-acid sequence was given) is in a REMARK.
    """
    lines = [
        f"HEADER    HP LATTICE FOLD {title[:40]}".rstrip(),
        "REMARK   1 HP MODEL: HYD = H, POL = P",
    ]
    if source and source != hp:
        for k in range(0, len(source), 60):
            lines.append(f"REMARK   2 SEQUENCE {source[k : k + 60]}")
    for k, (c, (x, y, z)) in enumerate(
        zip(hp, (list(p) + [0] * (3 - len(p)) for p in coords), strict=True), 1
    ):
        name = "HYD" if c == "H" else "POL"
        lines.append(
            f"ATOM  {k:5d}  CA  {name} A{k:4d}    "
            f"{x * BOND_A:8.3f}{y * BOND_A:8.3f}{z * BOND_A:8.3f}  1.00  0.00           C"
        )
    for k in range(1, len(hp)):
        lines.append(f"CONECT{k:5d}{k + 1:5d}")
    lines.append("END")
    return "\n".join(lines) + "\n"


def draw_fold(hp: str, coords: list[list[int]], out: Path, title: str = "") -> Path:
    """A PNG of the fold: H red, P blue, chain bonds solid, H-H contacts dashed; 3D as an oblique projection."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    pts = [(list(p) + [0] * (3 - len(p)))[:3] for p in coords]
    three_d = any(p[2] != 0 for p in pts)

    def proj(p: list[int]) -> tuple[float, float]:
        if not three_d:
            return float(p[0]), float(p[1])
        return p[0] + 0.45 * p[2], p[1] + 0.3 * p[2]  # cabinet projection: z recedes up-right

    xy = [proj(p) for p in pts]
    fig, ax = plt.subplots(figsize=(6, 6), dpi=110)
    for i, j in sorted(contact_pairs(hp, pts)):
        ax.plot(
            [xy[i][0], xy[j][0]], [xy[i][1], xy[j][1]], ls="--", lw=1.0, color="#888888", zorder=1
        )
    ax.plot([p[0] for p in xy], [p[1] for p in xy], "-", lw=2.2, color="#333333", zorder=2)
    for k, (c, (x, y)) in enumerate(zip(hp, xy, strict=True)):
        ax.scatter(
            [x], [y], s=130, color=H_COLOR if c == "H" else P_COLOR, edgecolors="black", zorder=3
        )
        if k == 0:
            ax.annotate("1", (x, y), textcoords="offset points", xytext=(6, 6), fontsize=8)
    ax.set_aspect("equal")
    ax.axis("off")
    ax.set_title(title or f"{len(hp)} residues")
    h = Line2D([], [], marker="o", ls="", color=H_COLOR, markeredgecolor="black", label="H")
    p_ = Line2D([], [], marker="o", ls="", color=P_COLOR, markeredgecolor="black", label="P")
    c_ = Line2D([], [], ls="--", color="#888888", label="H-H contact")
    ax.legend(handles=[h, p_, c_], loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, bbox_inches="tight")
    plt.close(fig)
    return out


def draw_curve(r: FoldReport, out: Path, best_known: int | None = None) -> Path:
    """Best energy vs wall time: the swarm (bold) and each agent (thin steps)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=100)
    for a in r.agents:
        if a.trace:
            ax.step(
                [t for t, _ in a.trace],
                [e for _, e in a.trace],
                where="post",
                lw=1,
                alpha=0.7,
                label=a.name,
            )
    if r.swarm_trace:
        ax.step(
            [t for t, _ in r.swarm_trace],
            [e for _, e in r.swarm_trace],
            where="post",
            lw=2.5,
            color="black",
            label="swarm",
        )
    if best_known is not None:
        ax.axhline(best_known, ls=":", color="grey", label=f"best known {best_known}")
    ax.set_xscale("symlog", linthresh=1.0)  # improvements come early: seconds 0-1 linear, then log
    ax.set_xlim(left=0.0)
    ax.set_xlabel("wall time since the swarm started (s, log beyond 1 s)")
    ax.set_ylabel("best energy")
    ax.set_title(f"{r.name}: energy vs time")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def png_markdown(path: Path, title: str) -> str:
    """Markdown embedding a PNG as a data URI (the Prefect UI renders it)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f"# {title}\n\n![{title}](data:image/png;base64,{data})\n"


def agent_rows(r: FoldReport) -> list[dict[str, Any]]:
    """One row per agent for a table artifact."""
    return [
        {
            "agent": a.name,
            "best_energy": a.best_energy,
            "moves": a.moves,
            "moves_per_s": round(a.moves_per_s),
            "acceptance": round(a.acceptance, 4),
            "exchange_acceptance": round(a.exchange_acceptance, 4),
            "restarts_from_shared": a.restarts,
            "ladder": f"{a.temps[0]:.3f}..{a.temps[-1]:.3f} ({len(a.temps)})",
        }
        for a in r.agents
    ]


def verdict_rows(r: FoldReport) -> list[dict[str, Any]]:
    """One row per candidate the PBFT replicas judged."""
    return [
        {
            "agent": v.agent,
            "claimed": v.claimed,
            "recomputed": v.energy,
            "accepted": v.accepted,
            "replicas": f"{v.accepts} accept / {v.rejects} reject",
            "reason": v.reason or "-",
            "certificate": v.digest[:16],
        }
        for v in r.verdicts
    ]


def summary_markdown(r: FoldReport) -> str:
    """A markdown report: the fold, the lies caught, the swarm's statistics and the consensus."""
    lines = [
        f"# {r.name} on the {r.lattice} lattice: energy {r.energy}",
        "",
        f"- sequence ({len(r.hp)}): `{r.hp}`",
        f"- winner: {r.winner}; budget {r.budget_moves:,} moves, {r.moves:,} done, "
        f"{r.moves_per_s:,.0f} moves per CPU second per core; wall {r.wall_seconds:.1f} s; "
        f"best first reached at {r.time_to_best_s:.2f} s",
        f"- adoptions of the shared best: {r.adoptions}; lies read from the shared document and ignored: "
        f"{r.board_entries_rejected}",
        f"- per-residue contact consensus over {r.consensus.folds} accepted folds: mean {r.consensus.mean:.2f}",
        f"- ephemeral agent pool: {r.extra.get('agent_pool', {})}",
        "",
    ]
    if r.liars:
        lines += ["## Rejected by the replicas", ""]
        lines += [f"- **{a}**: {why}" for a, why in r.liars.items()]
        lines.append("")
    lines += [
        "## Swarm statistics (tree aggregation)",
        "",
        "| statistic | mean | min | max |",
        "|---|---|---|---|",
    ]
    for k, d in r.stats.items():
        if "mean" in d and d.get("mean") is not None:
            lines.append(f"| {k} | {d['mean']:.4g} | {d['min']:.4g} | {d['max']:.4g} |")
    hist = r.stats.get("final_energy", {}).get("histogram")
    if hist:
        lines += [
            "",
            "Energy distribution of every replica at the end: "
            + ", ".join(f"{e}: {c}" for e, c in sorted(hist.items())),
        ]
    lines += [
        "",
        "## Per-residue consensus",
        "",
        "`" + " ".join(f"{x:.2f}" for x in r.consensus.per_residue) + "`",
    ]
    return "\n".join(lines) + "\n"


def write_outputs(r: FoldReport, out_dir: Path, best_known: int | None = None) -> dict[str, Path]:
    """Write the fold JSON, PDB-like file, fold PNG, curve PNG and report markdown under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = file_stem(r.name) + f"-{r.lattice}"
    paths = {
        "json": out_dir / f"{stem}.json",
        "pdb": out_dir / f"{stem}.pdb",
        "png": out_dir / f"{stem}.png",
        "curve": out_dir / f"{stem}-energy.png",
        "report": out_dir / f"{stem}.md",
    }
    paths["json"].write_text(json.dumps(fold_record(r), indent=1) + "\n")
    paths["pdb"].write_text(pdb_text(r.hp, r.coords, r.name, r.source))
    draw_fold(r.hp, r.coords, paths["png"], f"{r.name} ({r.lattice}): E = {r.energy}")
    draw_curve(r, paths["curve"], best_known)
    paths["report"].write_text(summary_markdown(r))
    return paths
