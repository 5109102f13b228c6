"""Flow of app 10: peers generate levels, five voters accept 2/3, the world gossips, players are served.

``python -m flows.game`` runs a short demo: five authoring peers and a few Byzantine
ones propose levels, the quality vote (one voter dishonest) decides, accepted levels
replicate over real QUIC, twenty simulated peers are partitioned and healed, and
simulated players measure the personalization. ``make game`` serves the web page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_image_artifact, create_markdown_artifact, create_table_artifact

from apps.game.render import render_levels
from apps.game.settings import GameSettings, check_run_args, get_game_settings
from apps.game.vote import VOTERS
from tasks.game import (
    byzantine_proposals,
    generate_levels,
    partition_convergence,
    personalization,
    quality_vote,
    quic_replicate,
)


@flow(name="game", log_prints=True)
def game(
    peers: int = 5,
    levels_per_peer: int = 3,
    bad_proposals: int = 12,
    dishonest_voter: str | None = "novelty",
    sim_peers: int = 20,
    quic_peers: int = 3,
    players: int = 6,
    sessions: int = 4,
    seed: int = 0,
    data_dir: str | None = None,
) -> dict[str, Any]:
    """Generate, vote, replicate and personalize game levels; artifacts show levels and votes.

    Args:
        peers: authoring peers (peer i runs generator family i % 3).
        levels_per_peer: levels each proposes.
        bad_proposals: proposals from Byzantine peers (unsolvable, oversized, malformed, copies).
        dishonest_voter: one of the five voters that approves everything (None: all honest).
        sim_peers: simulated gossip peers of the partition run.
        quic_peers: gossip peers over real QUIC that replicate the accepted levels (0: skip).
        players: simulated players of the personalization run.
        sessions: their sessions.
        seed: seeds everything.
        data_dir: output directory (default ``settings.data_dir/flow-<seed>``).
    """
    check_run_args(
        peers=peers,
        levels_per_peer=levels_per_peer,
        bad_proposals=bad_proposals,
        dishonest_voter=dishonest_voter,
        voters=VOTERS,
        sim_peers=sim_peers,
        quic_peers=quic_peers,
        players=players,
        sessions=sessions,
        seed=seed,
    )
    log = get_run_logger()
    settings: GameSettings = get_game_settings()
    out = Path(data_dir) if data_dir else Path(settings.data_dir) / f"flow-{seed}"
    out.mkdir(parents=True, exist_ok=True)
    proposals, per_s = generate_levels(peers, levels_per_peer, seed, settings)
    # Byzantine peers: unsolvable, oversized, malformed levels and copies of honest proposals
    bad = byzantine_proposals(bad_proposals, seed, settings, [dict(p.level) for p in proposals[:2]])
    rows = quality_vote(
        proposals + bad,
        settings,
        str(out / "memory"),
        {dishonest_voter: "approve-all"} if dishonest_voter else None,
    )
    good_rows, bad_rows = rows[: len(proposals)], rows[len(proposals) :]
    accepted = [r for r in good_rows if r["verdict"]["accepted"]]
    bad_accepted = sum(r["verdict"]["accepted"] for r in bad_rows)
    records = [{**r["level"], "metrics": r["metrics"]} for r in accepted]
    quic = quic_replicate(records, quic_peers, str(out / "certs")) if quic_peers and records else {}
    part = partition_convergence(sim_peers, seed, settings, str(out / "partition"))
    pers = personalization("bandit", players, sessions, seed, str(out / "ratings"))
    base = personalization("random", players, sessions, seed, None)
    png = render_levels(records, out / "levels.png")
    create_table_artifact(
        key="game-votes",
        table=[
            {
                "proposer": r["proposer"],
                "level": r["verdict"]["level"],
                "accepted": r["verdict"]["accepted"],
                "approvals": r["verdict"]["approvals"],
                "difficulty": r["metrics"].get("difficulty"),
                "refusals": "; ".join(
                    f"{b['voter']}: {b['reason']}"
                    for b in r["verdict"]["ballots"]
                    if b["verdict"] != "approve"
                ),
            }
            for r in good_rows + bad_rows
        ],
        description="Every proposal and the five voters' verdicts (accepted at 4 of 5)",
    )
    summary = {
        "levels_generated_per_s": round(per_s, 1),
        "accepted": len(accepted),
        "proposed": len(proposals),
        "bad_proposals": len(bad_rows),
        "bad_content_accepted": int(bad_accepted),
        "partition_convergence_ms": part["convergence_ms"],
        "partition_converged": part["converged"] and part["nothing_lost"],
        "quic_replication_s": round(quic.get("seconds", 0.0), 3),
        "personalization_gain": round(pers["gain"], 3),
        "random_baseline_gain": round(base["gain"], 3),
    }
    create_markdown_artifact(
        key="game-summary",
        markdown="# Game content\n\n| metric | value |\n|---|---|\n"
        + "\n".join(f"| {k} | {v} |" for k, v in summary.items())
        + f"\n\nLevels: `{png}`\n",
        description="Generated levels, vote, replication and personalization",
    )
    try:
        create_image_artifact(
            image_url=png.resolve().as_uri(), key="game-levels", description="Accepted levels"
        )
    except Exception as err:  # an older Prefect without image artifacts: the path is in the summary
        log.info("no image artifact (%s); levels drawn at %s", err, png)
    log.info("game: %s", summary)
    return summary


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(game(data_dir=tmp))
