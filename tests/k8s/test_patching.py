"""Patch semantics of the API server: strategic merge, JSON merge and JSON patch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.k8s.exceptions import InvalidObjectError
from apps.k8s.patching import PatchType, apply_patch, merge_patch

POD_SPEC = {
    "spec": {
        "containers": [
            {
                "name": "a",
                "image": "a:1",
                "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}],
            },
            {"name": "b", "image": "b:1"},
        ],
        "tolerations": [{"key": "k", "operator": "Exists"}],
    }
}


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    patch = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "image": "a:2",
                    "env": [{"name": "Y", "$patch": "delete"}, {"name": "Z", "value": "3"}],
                },
                {"name": "c", "image": "c:1"},
            ],
            "tolerations": [{"key": "other", "operator": "Exists"}],
        }
    }
    out = apply_patch(POD_SPEC, patch, PatchType.STRATEGIC)
    # the API server's order: the patch's items in its order, a server-only item kept
    # before a patched one it preceded; items new to the server are not appended last
    a, c, b = out["spec"]["containers"]
    assert (a["image"], [e["name"] for e in a["env"]]) == ("a:2", ["Z", "X"])
    assert b == {"name": "b", "image": "b:1"} and c["name"] == "c"
    assert out["spec"]["tolerations"] == [
        {"key": "other", "operator": "Exists"}
    ]  # no merge key: replaced
    assert POD_SPEC["spec"]["containers"][0]["image"] == "a:1"  # the input is not modified


def test_strategic_merge_needs_the_merge_key() -> None:
    with pytest.raises(InvalidObjectError, match="merge key 'name'"):
        apply_patch(POD_SPEC, {"spec": {"containers": [{"image": "x"}]}}, PatchType.STRATEGIC)


def test_merge_patch_replaces_lists_and_null_deletes() -> None:
    out = apply_patch(
        POD_SPEC, {"spec": {"containers": [{"name": "only"}], "tolerations": None}}, PatchType.MERGE
    )
    assert out == {"spec": {"containers": [{"name": "only"}]}}


def test_json_patch_operations_and_errors() -> None:
    ops = [
        {"op": "test", "path": "/spec/containers/1/image", "value": "b:1"},
        {"op": "replace", "path": "/spec/containers/0/image", "value": "a:9"},
        {"op": "add", "path": "/spec/containers/-", "value": {"name": "d"}},
        {"op": "remove", "path": "/spec/tolerations"},
        {"op": "add", "path": "/metadata", "value": {"labels": {"a~b/c": "1"}}},
    ]
    out = apply_patch(POD_SPEC, ops, PatchType.JSON)
    assert [c["name"] for c in out["spec"]["containers"]] == ["a", "b", "d"]
    assert out["spec"]["containers"][0]["image"] == "a:9" and "tolerations" not in out["spec"]
    for bad, msg in [
        ([{"op": "replace", "path": "/spec/nope", "value": 1}], "missing path"),
        ([{"op": "test", "path": "/spec/containers/0/name", "value": "z"}], "test failed"),
        ([{"op": "move", "path": "/spec"}], "unsupported"),
        ({"op": "add"}, "must be a list"),
    ]:
        with pytest.raises(InvalidObjectError, match=msg):
            apply_patch(POD_SPEC, bad, PatchType.JSON)


json_values = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.dictionaries(st.text("abc", max_size=2), inner, max_size=3),
    max_leaves=8,
)


@given(
    target=st.dictionaries(st.text("abc", max_size=2), json_values, max_size=3), patch=json_values
)
def test_merge_patch_is_idempotent(target: dict, patch: object) -> None:
    once = merge_patch(target, patch)
    assert merge_patch(once, patch) == once
