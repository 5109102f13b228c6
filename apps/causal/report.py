"""Tables (markdown) and the graph picture of an analysis."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from apps.causal.analysis import Analysis
from apps.causal.records import cross_mask

MAX_ROWS = 200  # table rows shown in an artifact


def method_table(analysis: Analysis) -> str:
    """Per-method edges: one row per link any method accepts."""
    names = analysis.names
    lines = ["| method | link | lag | strength | p-value |", "|---|---|---|---|---|"]
    for r in analysis.results:
        if r.abstained:
            lines.append(f"| {r.method} | (abstained: {r.note}) | | | |")
            continue
        for tau, j, i in zip(*np.nonzero(r.edges), strict=True):
            p = "" if r.pvalue is None else f"{r.pvalue[tau, j, i]:.2e}"
            lines.append(
                f"| {r.method} | {names[j]} -> {names[i]} | {tau + 1} | {r.strength[tau, j, i]:.3g} | {p} |"
            )
    return "\n".join(lines[: MAX_ROWS + 2]) + "\n"


def graphs_line(analysis: Analysis) -> str:
    """One sentence naming the two graphs of an analysis and how they differ."""
    c = analysis.consensus
    scm = analysis.intervention_graph()
    return (
        f"discovery graph (consensus, F1 operating point): {int(c.edges.sum())} links; "
        f"SCM graph (interventions: links the vote finds more likely than not): "
        f"{int(scm.sum())} links, {int((scm & ~c.edges).sum())} of them not in the discovery "
        f"graph, {int((c.edges & ~scm).sum())} discovery links left out"
    )


def consensus_table(analysis: Analysis) -> str:
    """Every link with at least one vote for it (or in either graph): consensus, votes,
    confidence, and whether the SCM of the interventions uses it.

    Columns: the discovery graph's answer (``consensus``), each method's vote (with its
    confidence), the router's weighted posterior of the votes, the continuous stack's
    P(edge) when it decided (``stack P``), the confidence of the consensus answer, and
    ``SCM`` (the link is in the SCM graph of the do-effects). The quorum applied and the
    two graphs' sizes are in the header.
    """
    c = analysis.consensus
    names, methods = analysis.names, c.votes.methods
    stack = c.stacked is not None
    scm = analysis.intervention_graph()
    lines = [
        f"rule: {c.rule}, quorum: {c.quorum} vote(s), threshold {c.theta:.4g}",
        "",
        graphs_line(analysis),
        "",
        "| link | lag | consensus | votes for | "
        + " | ".join(methods)
        + " | posterior |"
        + (" stack P |" if stack else "")
        + " confidence | SCM |",
        "|---|---|---|---|"
        + "---|" * len(methods)
        + "---|"
        + ("---|" if stack else "")
        + "---|---|",
    ]
    mask = cross_mask(*c.edges.shape[:2])
    rows = [
        (int(t), int(j), int(i))
        for t, j, i in zip(*np.nonzero(mask & ((c.votes_for > 0) | c.edges | scm)), strict=True)
    ]
    order = c.stacked if c.stacked is not None else c.posterior
    rows.sort(key=lambda x: -order[x])
    conf = c.confidence()
    for tau, j, i in rows[:MAX_ROWS]:
        cells = []
        for k in range(len(methods)):
            if not c.votes.answered[k, tau, j, i]:
                cells.append("-")
            else:
                word = "edge" if c.votes.says_edge[k, tau, j, i] else "no"
                cells.append(f"{word} ({c.votes.confidence[k, tau, j, i]:.2f})")
        stack_cell = f" {c.stacked[tau, j, i]:.3f} |" if c.stacked is not None else ""
        lines.append(
            f"| {names[j]} -> {names[i]} | {tau + 1} | {'**edge**' if c.edges[tau, j, i] else 'no'} "
            f"| {int(c.votes_for[tau, j, i])}/{int(c.votes.answered[:, tau, j, i].sum())} | "
            + " | ".join(cells)
            + f" | {c.posterior[tau, j, i]:.3f} |"
            + stack_cell
            + f" {conf[tau, j, i]:.3f} | {'yes' if scm[tau, j, i] else ''} |"
        )
    return "\n".join(lines) + "\n"


def step_label(step: int, times: Sequence[str] | None) -> str:
    """``step 7`` or ``step 7 (2008Q4)`` when the row's time label says more than its number."""
    label = None if times is None else str(times[step])
    return f"step {step}" + ("" if label in (None, str(step)) else f" ({label})")


def onset_lines(analysis: Analysis, times: Sequence[str] | None = None) -> list[str]:
    """How the crash onset and the first hit were chosen, and the crash candidates."""
    names, o = analysis.names, analysis.onset

    def at(step: int) -> str:
        return step_label(step, times)

    if o is None:
        return []
    lines = [f"Crash onset and first hit: {o.how}."]
    if o.candidates:
        lines += [
            "",
            f"Most severe falls (shock in trailing sds; crash-like past -{o.threshold:.2f}):",
            "",
            "| rank | step | series | shock | crash-like |",
            "|---|---|---|---|---|",
        ]
        for rank, e in enumerate(o.candidates, 1):
            lines.append(
                f"| {rank} | {at(e.step)} | {names[e.series]} | {e.shock:.2f} "
                f"| {'yes' if e.shock <= -o.threshold else 'no'} |"
            )
        if o.step is None or not o.found:
            lines += ["", "Pass --onset STEP and/or --first-hit NAME to choose the intervention."]
        elif len(o.candidates) > 1 and o.candidates[1].shock <= -o.threshold:
            lines += [
                "",
                "More than one fall is crash-like: if another one is the crash, pass "
                "--onset STEP (and --first-hit NAME).",
            ]
    return [*lines, ""]


def intervention_table(
    analysis: Analysis,
    true_effects: Sequence[float] | None = None,
    times: Sequence[str] | None = None,
) -> str:
    """How the onset was chosen, do(first hit = 0) effects with intervals (and truth when
    known), then the root causes; ``times`` labels the rows (steps) of the data."""
    names = analysis.names
    lines = onset_lines(analysis, times)
    if analysis.source is None or analysis.crash_start is None:
        lines.append("No do-intervention: no crash onset found or given.")
        return "\n".join(lines) + "\n"
    src = names[analysis.source]
    when = step_label(analysis.crash_start, times)
    scm = analysis.intervention_graph()
    lines += [
        f"do({src}[t0] = 0), t0 = {when}: effect on each series' cumulative move",
        "",
        f"lagged linear SCM fitted on the SCM graph ({int(scm.sum())} links; "
        f"the discovery graph has {int(analysis.consensus.edges.sum())}, see the consensus table)",
        "",
        "| series | estimate | 90% interval | true |",
        "|---|---|---|---|",
    ]
    for e in analysis.effects:
        true = "" if true_effects is None else f"{true_effects[e.target]:.3f}"
        lines.append(
            f"| {names[e.target]} | {e.estimate:.3f} | [{e.low:.3f}, {e.high:.3f}] | {true} |"
        )
    lines += [
        "",
        f"Root causes of the move of {names[analysis.target]} (historical decomposition):",
        "",
    ]
    lines += ["| rank | series | contribution |", "|---|---|---|"]
    for rank, (k, v) in enumerate(analysis.causes[:10], 1):
        lines.append(f"| {rank} | {names[k]} | {v:.3f} |")
    return "\n".join(lines) + "\n"


def _width(confidence: float) -> float:
    """Line width of a link: 0.6 at confidence 1/2, 4 at log-odds 10 (posterior 0.99995) and above."""
    c = min(max(confidence, 0.5), 1 - 1e-12)
    return 0.6 + 3.4 * min(1.0, float(np.log(c / (1 - c))) / 10.0)


def draw_graph(analysis: Analysis, path: Path, title: str = "") -> Path:
    """A PNG of the consensus graph: nodes, lagged links labelled by lag, width by confidence.

    Solid links are the discovery graph; dashed blue links are in the SCM graph of the
    interventions only; discovery links the SCM leaves out are drawn dotted.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import networkx as nx

    c = analysis.consensus
    g = nx.MultiDiGraph()
    g.add_nodes_from(analysis.names)
    conf = c.confidence()
    scm = analysis.intervention_graph()
    for tau, j, i in zip(*np.nonzero(c.edges | scm), strict=True):
        style = "solid" if scm[tau, j, i] else "dotted"
        if not c.edges[tau, j, i]:
            style = "dashed"
        g.add_edge(
            analysis.names[j],
            analysis.names[i],
            lag=int(tau) + 1,
            conf=float(conf[tau, j, i]) if c.edges[tau, j, i] else 0.5,
            style=style,
        )
    fig, ax = plt.subplots(figsize=(8, 7))
    pos = nx.circular_layout(g)
    first = None if analysis.source is None else analysis.names[analysis.source]
    colors = [
        "tab:red"
        if n == first
        else "tab:orange"
        if n == analysis.names[analysis.target]
        else "tab:blue"
        for n in g.nodes
    ]
    nx.draw_networkx_nodes(g, pos, node_color=colors, node_size=600, ax=ax)
    nx.draw_networkx_labels(g, pos, font_size=8, font_color="white", ax=ax)
    labels = {}
    for u, v, k, d in g.edges(keys=True, data=True):
        rad = 0.1 + 0.1 * k
        nx.draw_networkx_edges(
            g,
            pos,
            edgelist=[(u, v)],
            width=_width(d["conf"]),
            style=d["style"],
            edge_color=[
                "tab:blue"
                if d["style"] == "dashed"
                else plt.get_cmap("Greys")(0.35 + 0.6 * (_width(d["conf"]) - 0.6) / 3.4)
            ],
            arrowsize=12,
            connectionstyle=f"arc3,rad={rad}",
            ax=ax,
            node_size=600,
        )
        labels[(u, v)] = ",".join(sorted({str(dd["lag"]) for dd in g.get_edge_data(u, v).values()}))
    nx.draw_networkx_edge_labels(g, pos, edge_labels=labels, font_size=7, ax=ax)
    ax.set_title(
        title or "consensus graph (red: first hit, orange: target); label = lag, width = confidence"
    )
    ax.text(
        0.0,
        -0.02,
        "solid: discovery graph and SCM; dotted: discovery only; dashed blue: SCM only "
        "(the SCM graph answers the do-questions)",
        transform=ax.transAxes,
        fontsize=7,
    )
    ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
