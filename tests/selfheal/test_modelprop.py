"""Model proposals go through the router and are parsed into typed actions; the rest is dropped."""

from __future__ import annotations

import json
from pathlib import Path

from apps.k8s.actions import RolloutUndo
from apps.k8s.sim.cluster import SimCluster
from apps.selfheal.loop import Healer
from apps.selfheal.modelprop import ModelProposer, action_catalogue
from apps.selfheal.settings import SelfHealSettings
from tests.selfheal.helpers import catalog


def _entry(name: str, reply: dict[str, object]) -> dict[str, object]:
    return {
        "model_name": name,
        "litellm_params": {
            "model": "openai/mock",
            "api_key": "sk-mock",
            "mock_response": json.dumps(reply),
        },
    }


def test_model_answers_become_typed_proposals_and_anything_else_is_dropped(tmp_path: Path) -> None:
    sim = SimCluster.from_scenario(catalog()["bad-image-tag"])
    healer = Healer(sim, SelfHealSettings(), memory_dir=tmp_path)
    healer.model_proposer = ModelProposer(
        healer.runtime,
        [
            _entry(
                "good",
                {"action": {"type": "rollout_undo", "namespace": "shop", "name": "checkout"}},
            ),
            _entry(
                "shell", {"action": {"type": "shell", "command": "kubectl delete namespace shop"}}
            ),
            _entry("chatty", {"answer": "just restart everything"}),
        ],
    )
    try:
        (t,) = healer.run(healer.now_s() + 900, max_incidents=1)
    finally:
        healer.close()
    from_models = [p for p in t.proposals if p.source == "model"]
    assert [p.action for p in from_models] == [RolloutUndo(namespace="shop", name="checkout")]
    assert any("shell" in n and "does not fit the action schema" in n for n in t.notes)
    assert any(n.startswith("chatty: no usable answer") for n in t.notes)
    assert t.outcome == "healed" and t.proposals[0].source == "template"


def test_the_prompt_lists_every_typed_action() -> None:
    text = action_catalogue()
    for tag in ("rollout_undo", "patch_configmap", "drain_node", "recreate_pvc", "patch_hpa"):
        assert f'"type": "{tag}"' in text
