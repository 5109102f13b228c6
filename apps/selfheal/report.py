"""What a person reads about the loop's work: tables, markdown and the MTTR plot."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from apps.selfheal.records import Trajectory


def incident_rows(trajs: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """One row per incident: cause, action, votes, certificate, outcome, time to recover."""
    rows = []
    for t in trajs:
        top = t.hypotheses[0] if t.hypotheses else None
        last = t.executions[-1] if t.executions else None
        cert = t.validations[-1].digest[:16] if t.validations else ""
        rows.append(
            {
                "incident": t.incident.id,
                "detected": t.incident.detected_at,
                "root_cause": f"{top.kind}: {top.ref}" if top else "unknown",
                "action": last.action.describe() if last else "",
                "votes": vote_summary(t),
                "certificate": cert,
                "outcome": t.outcome,
                "attempts": t.attempts,
                "time_to_recover_s": t.time_to_recover_s,
                "recognised": t.incident.recall_confidence > 0,
            }
        )
    return rows


def vote_summary(t: Trajectory) -> str:
    """The last vote of an incident in a few words: its voters, its rule and its decision."""
    if not t.votes:
        return "no vote"
    last = t.votes[-1]
    yes = sum(b.verdict == "approve" for b in last.ballots)
    rule, _, veto = last.rule.partition(" (vetoed by ")
    out = f"{yes} of {len(last.ballots)} voters approve; {rule} rule: " + (
        "approved" if last.approved else "rejected"
    )
    if veto:
        out += f", vetoed by {veto.rstrip(')')}"
    if len(t.votes) > 1:
        out += f" ({sum(v.approved for v in t.votes)} of {len(t.votes)} proposals approved)"
    return out


def vote_rows(trajs: Sequence[Trajectory]) -> list[dict[str, Any]]:
    """One row per ballot."""
    rows = []
    for t in trajs:
        for v in t.votes:
            action = t.proposals[v.proposal].action.describe()
            for b in v.ballots:
                rows.append(
                    {
                        "incident": t.incident.id,
                        "action": action,
                        "rule": v.rule,
                        "decision": "approved" if v.approved else "rejected",
                        "voter": b.voter,
                        "verdict": b.verdict,
                        "confidence": round(b.confidence, 3),
                        "reason": b.reason[:200],
                    }
                )
    return rows


def incident_markdown(t: Trajectory) -> str:
    """Hypotheses with evidence, proposals, validation and execution of one incident."""
    lines = [f"# Incident {t.incident.id} ({t.outcome})", "", f"Detected {t.incident.detected_at}."]
    if t.incident.recalled:
        lines += ["", f"Memory recalled: {'; '.join(t.incident.recalled[:3])}"]
    lines += ["", "## Signals", ""]
    lines += [
        f"- {s.kind} {s.object_kind} {s.namespace}/{s.name}: {s.detail}"
        for s in t.incident.signals[:12]
    ]
    lines += ["", "## Root-cause hypotheses", ""]
    for i, h in enumerate(t.hypotheses, 1):
        lines.append(
            f"{i}. **{h.kind}** on `{h.ref}` (score {h.score:.3f}, confidence {h.confidence:.2f})"
        )
        lines += [f"   - {e}" for e in h.evidence[:6]]
    lines += ["", "## Proposals", ""]
    lines += [
        f"- `{p.action.describe()}` (risk {p.risk:.2f}, {p.blast_radius_pods} pods, {p.source}): {p.rationale}"
        for p in t.proposals
    ]
    if t.validations:
        lines += ["", "## Validation (PBFT)", ""]
        lines += [
            f"- {'committed' if v.committed else 'refused'}: seq {v.sequence}, view {v.view}, "
            f"certificate digest `{v.digest}`, signed by replicas {v.signers}; {v.reason}"
            for v in t.validations
        ]
    if t.executions:
        lines += ["", "## Execution", ""]
        lines += [
            f"- `{e.action.describe()}`: {'verified' if e.verified else 'not verified'}"
            f"{', rolled back' if e.rolled_back else ''}; {e.message}"
            for e in t.executions
        ]
    if t.learned:
        lines += ["", "## Learned", ""] + [f"- {x}" for x in t.learned]
    if t.notes:
        lines += ["", "## Notes", ""] + [f"- {x}" for x in t.notes]
    return "\n".join(lines) + "\n"


def journal_mttr(journal: Path) -> list[tuple[str, float]]:
    """(incident id, time to recover) of every healed incident in a trajectory journal."""
    out: list[tuple[str, float]] = []
    if not journal.exists():
        return out
    for line in journal.read_text(encoding="utf-8").splitlines():
        try:
            t = json.loads(line)
        except ValueError:
            continue  # a torn last line is skipped, not fatal
        if t.get("outcome") == "healed" and t.get("resolved_at_s") is not None:
            out.append((t["incident"]["id"], float(t["resolved_at_s"]) - float(t["detected_at_s"])))
    return out


def mttr_plot(journal: Path, out: Path) -> Path | None:
    """A PNG of time to recover per healed incident, in the order they happened."""
    points = journal_mttr(journal)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(7, 3.2), dpi=100)
    ax.plot(range(1, len(points) + 1), [p[1] for p in points], marker="o")
    ax.set_xlabel("healed incident (in order)")
    ax.set_ylabel("detection to verified fix (s)")
    ax.set_title("Time to recover across runs")
    ax.grid(alpha=0.3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


def png_markdown(path: Path, title: str) -> str:
    """Markdown embedding a PNG as a data URI (the Prefect UI renders it)."""
    data = base64.b64encode(path.read_bytes()).decode()
    return f"# {title}\n\n![{title}](data:image/png;base64,{data})\n"


def summary_lines(trajs: Sequence[Trajectory]) -> list[str]:
    """A concise, human summary: one line per incident."""
    lines = []
    for r in incident_rows(trajs):
        ttr = f"{r['time_to_recover_s']:.0f}s" if r["time_to_recover_s"] is not None else "-"
        lines.append(
            f"{r['incident']} {r['outcome']:8s} cause={r['root_cause']} action={r['action'] or '-'} "
            f"votes={r['votes']} cert={r['certificate'] or '-'} ttr={ttr}"
            + (" (recognised from memory)" if r["recognised"] else "")
        )
    return lines
