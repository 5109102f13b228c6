"""Patch semantics checked against the specifications' own examples, not against our code.

- JSON merge patch: the examples of RFC 7386 (section 3 and Appendix A).
- JSON patch: the examples of RFC 6902 Appendix A.
- Strategic merge patch: the exercises of the Kubernetes documentation, "Update API
  Objects in Place Using kubectl patch" (kubernetes.io/docs/tasks/manage-kubernetes-objects/
  update-api-object-kubectl-patch/: list merge keys, a list without a patch strategy,
  ``$retainKeys``) and the ``$patch`` directives of the Strategic Merge Patch design
  (kubernetes/community, contributors/devel/sig-api-machinery/strategic-merge-patch.md).

The test API server (tests/k8s/apiserver.py) must pass every fixture, over HTTP too. The
simulator's own implementation (apps.k8s.patching) runs the same fixtures; where it
departs from Kubernetes the test says so (strict xfail), so a fix shows up at once.
"""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from apps.k8s.kinds import Kind
from apps.k8s.patching import PatchType, apply_patch
from tests.k8s.apiserver import ApiServer
from tests.k8s.strategic_merge import PatchError, json_merge, json_patch, strategic_merge_patch

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"

# -- RFC 7386 ------------------------------------------------------------------------------
RFC7386_SECTION3 = (
    {
        "title": "Goodbye!",
        "author": {"givenName": "John", "familyName": "Doe"},
        "tags": ["example", "sample"],
        "content": "This will be unchanged",
    },
    {
        "title": "Hello!",
        "phoneNumber": "+01-123-456-7890",
        "author": {"familyName": None},
        "tags": ["example"],
    },
    {
        "title": "Hello!",
        "author": {"givenName": "John"},
        "tags": ["example"],
        "content": "This will be unchanged",
        "phoneNumber": "+01-123-456-7890",
    },
)
# Appendix A, the rows whose target and patch are objects (a Kubernetes patch always is).
RFC7386_APPENDIX_A = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]

# -- RFC 6902 Appendix A ------------------------------------------------------------------
RFC6902_APPENDIX_A = [
    (
        "A.1",
        {"foo": "bar"},
        [{"op": "add", "path": "/baz", "value": "qux"}],
        {"baz": "qux", "foo": "bar"},
    ),
    (
        "A.2",
        {"foo": ["bar", "baz"]},
        [{"op": "add", "path": "/foo/1", "value": "qux"}],
        {"foo": ["bar", "qux", "baz"]},
    ),
    ("A.3", {"baz": "qux", "foo": "bar"}, [{"op": "remove", "path": "/baz"}], {"foo": "bar"}),
    (
        "A.4",
        {"foo": ["bar", "qux", "baz"]},
        [{"op": "remove", "path": "/foo/1"}],
        {"foo": ["bar", "baz"]},
    ),
    (
        "A.5",
        {"baz": "qux", "foo": "bar"},
        [{"op": "replace", "path": "/baz", "value": "boo"}],
        {"baz": "boo", "foo": "bar"},
    ),
    (
        "A.6",
        {"foo": {"bar": "baz", "waldo": "fred"}, "qux": {"corge": "grault"}},
        [{"op": "move", "from": "/foo/waldo", "path": "/qux/thud"}],
        {"foo": {"bar": "baz"}, "qux": {"corge": "grault", "thud": "fred"}},
    ),
    (
        "A.7",
        {"foo": ["all", "grass", "cows", "eat"]},
        [{"op": "move", "from": "/foo/1", "path": "/foo/3"}],
        {"foo": ["all", "cows", "eat", "grass"]},
    ),
    (
        "A.8",
        {"baz": "qux", "foo": ["a", 2, "c"]},
        [
            {"op": "test", "path": "/baz", "value": "qux"},
            {"op": "test", "path": "/foo/1", "value": 2},
        ],
        {"baz": "qux", "foo": ["a", 2, "c"]},
    ),
    (
        "A.10",
        {"foo": "bar"},
        [{"op": "add", "path": "/child", "value": {"grandchild": {}}}],
        {"foo": "bar", "child": {"grandchild": {}}},
    ),
    ("A.14", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": 10}], {"/": 9, "~1": 10}),
    (
        "A.16",
        {"foo": ["bar"]},
        [{"op": "add", "path": "/foo/-", "value": ["abc", "def"]}],
        {"foo": ["bar", ["abc", "def"]]},
    ),
]
RFC6902_ERRORS = [
    ("A.9", {"baz": "qux"}, [{"op": "test", "path": "/baz", "value": "bar"}]),
    ("A.12", {"foo": "bar"}, [{"op": "add", "path": "/baz/bat", "value": "qux"}]),
    ("A.15", {"/": 9, "~1": 10}, [{"op": "test", "path": "/~01", "value": "10"}]),
]

# -- the Kubernetes documentation's kubectl patch exercises ---------------------------------
DEPLOYMENT_PATCH = {  # application/deployment-patch.yaml
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "patch-demo"},
    "spec": {
        "replicas": 2,
        "selector": {"matchLabels": {"app": "nginx"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [{"name": "patch-demo-ctr", "image": "nginx"}],
                "tolerations": [{"effect": "NoSchedule", "key": "dedicated", "value": "test-team"}],
            },
        },
    },
}
DEPLOYMENT_RETAINKEYS = {  # application/deployment-retainkeys.yaml
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "retainkeys-demo"},
    "spec": {
        "selector": {"matchLabels": {"app": "nginx"}},
        "strategy": {"rollingUpdate": {"maxSurge": "30%"}},
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {"containers": [{"name": "retainkeys-demo-ctr", "image": "nginx"}]},
        },
    },
}


def _pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def _with_pod_spec(base: dict[str, Any], **fields: Any) -> dict[str, Any]:
    out = copy.deepcopy(base)
    _pod_spec(out).update(fields)
    return out


def _replace_pod_spec(base: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["spec"]["template"]["spec"] = spec
    return out


def _with_strategy(base: dict[str, Any], strategy: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    out["spec"]["strategy"] = strategy
    return out


TOLERATIONS = _pod_spec(DEPLOYMENT_PATCH)["tolerations"]
# (id, live object, patch, expected object)
K8S_DOCS_STRATEGIC = [
    (
        # patch-file.yaml: "The output shows that the PodSpec in the Deployment has two
        # Containers" -- merged by the merge key `name` (the docs list redis first).
        "docs-containers-merged-by-name",
        DEPLOYMENT_PATCH,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "patch-demo-ctr-2", "image": "redis"}]}
                }
            }
        },
        _with_pod_spec(
            DEPLOYMENT_PATCH,
            containers=[
                {"name": "patch-demo-ctr-2", "image": "redis"},
                {"name": "patch-demo-ctr", "image": "nginx"},
            ],
        ),
    ),
    (
        # patch-file-tolerations.yaml: "the tolerations list in the PodSpec was replaced,
        # not merged ... Tolerations ... does not have a patchStrategy key in its field tag."
        "docs-tolerations-replaced",
        DEPLOYMENT_PATCH,
        {
            "spec": {
                "template": {
                    "spec": {
                        "tolerations": [{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}]
                    }
                }
            }
        },
        _with_pod_spec(
            DEPLOYMENT_PATCH,
            tolerations=[{"effect": "NoSchedule", "key": "disktype", "value": "ssd"}],
        ),
    ),
    (
        # patch-file-no-retainkeys.yaml: a plain merge keeps rollingUpdate (which the API's
        # validation then refuses with type Recreate).
        "docs-strategy-without-retainkeys",
        DEPLOYMENT_RETAINKEYS,
        {"spec": {"strategy": {"type": "Recreate"}}},
        _with_strategy(
            DEPLOYMENT_RETAINKEYS, {"rollingUpdate": {"maxSurge": "30%"}, "type": "Recreate"}
        ),
    ),
    (
        # patch-file-retainkeys.yaml: "the strategy object in the Deployment does not contain
        # the rollingUpdate key anymore".
        "docs-retainkeys",
        DEPLOYMENT_RETAINKEYS,
        {"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}},
        _with_strategy(DEPLOYMENT_RETAINKEYS, {"type": "Recreate"}),
    ),
    (
        # kubectl patch reference: "Update a container's image; spec.containers[*].name is
        # required because it's a merge key".
        "docs-container-image-by-merge-key",
        DEPLOYMENT_PATCH,
        {
            "spec": {
                "template": {
                    "spec": {"containers": [{"name": "patch-demo-ctr", "image": "new image"}]}
                }
            }
        },
        _with_pod_spec(
            DEPLOYMENT_PATCH,
            containers=[{"name": "patch-demo-ctr", "image": "new image"}],
        ),
    ),
    (
        # SMP design: "Delete a map from a list" with `$patch: delete` and the merge key.
        "design-patch-delete-list-item",
        _with_pod_spec(
            DEPLOYMENT_PATCH,
            containers=[
                {"name": "nginx", "image": "nginx-1.0"},
                {"name": "log-tailer", "image": "log-tailer-1.0"},
            ],
        ),
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "nginx", "image": "nginx-1.0"},
                            {"$patch": "delete", "name": "log-tailer"},
                        ]
                    }
                }
            }
        },
        _with_pod_spec(DEPLOYMENT_PATCH, containers=[{"name": "nginx", "image": "nginx-1.0"}]),
    ),
    (
        # SMP design: "Replace a map": `$patch: replace` drops every field the patch omits.
        "design-patch-replace-map",
        DEPLOYMENT_PATCH,
        {
            "spec": {
                "template": {
                    "spec": {
                        "$patch": "replace",
                        "containers": [{"name": "nginx", "image": "nginx-1.0"}],
                    }
                }
            }
        },
        _replace_pod_spec(
            DEPLOYMENT_PATCH, {"containers": [{"name": "nginx", "image": "nginx-1.0"}]}
        ),
    ),
    (
        # SMP design: "Replace a list": a `$patch: replace` item replaces the whole list.
        "design-patch-replace-list",
        DEPLOYMENT_PATCH,
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {"name": "nginx", "image": "nginx-1.0"},
                            {"$patch": "replace"},
                        ]
                    }
                }
            }
        },
        _with_pod_spec(DEPLOYMENT_PATCH, containers=[{"name": "nginx", "image": "nginx-1.0"}]),
    ),
    (
        # SMP design: a null deletes a field of a list item merged by key.
        "design-null-deletes-a-field",
        _with_pod_spec(
            DEPLOYMENT_PATCH,
            containers=[{"name": "patch-demo-ctr", "image": "nginx", "args": ["-v"]}],
        ),
        {
            "spec": {
                "template": {"spec": {"containers": [{"name": "patch-demo-ctr", "args": None}]}}
            }
        },
        _with_pod_spec(DEPLOYMENT_PATCH, containers=[{"name": "patch-demo-ctr", "image": "nginx"}]),
    ),
]
# Fixtures on other kinds: a Service's ports merge by `port` (not containerPort); finalizers
# are a merged list of primitives; `$deleteFromPrimitiveList` removes from one.
SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "web", "finalizers": ["a", "b"]},
    "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]},
}
K8S_OTHER_KINDS = [
    (
        "service-ports-merge-by-port",
        SERVICE,
        {"spec": {"ports": [{"port": 443, "name": "https"}]}},
        {
            **SERVICE,
            "spec": {
                "selector": {"app": "web"},
                "ports": [{"port": 443, "name": "https"}, {"name": "http", "port": 80}],
            },
        },
    ),
    (
        "finalizers-delete-from-primitive-list",
        SERVICE,
        {"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}},
        {**SERVICE, "metadata": {"name": "web", "finalizers": ["b"]}},
    ),
]
ALL_STRATEGIC = K8S_DOCS_STRATEGIC + K8S_OTHER_KINDS
# Where the simulator's strategic merge (apps.k8s.patching) departs from Kubernetes.
SIM_DIVERGES: dict[str, str] = {}  # none left: list order, $retainKeys, a `$patch: replace`
# list item, Service ports by `port` and $deleteFromPrimitiveList were fixed in apps.k8s.patching


@pytest.mark.parametrize(("target", "patch", "expected"), [RFC7386_SECTION3, *RFC7386_APPENDIX_A])
def test_merge_patch_follows_rfc_7386(
    target: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(target)
    assert json_merge(target, patch) == expected
    assert target == before  # the live object is not modified in place


@pytest.mark.parametrize(
    ("section", "doc", "ops", "expected"),
    RFC6902_APPENDIX_A,
    ids=[c[0] for c in RFC6902_APPENDIX_A],
)
def test_json_patch_follows_rfc_6902(
    section: str, doc: dict[str, Any], ops: list[Any], expected: dict[str, Any]
) -> None:
    assert json_patch(doc, ops) == expected


@pytest.mark.parametrize(
    ("section", "doc", "ops"), RFC6902_ERRORS, ids=[c[0] for c in RFC6902_ERRORS]
)
def test_json_patch_errors_of_rfc_6902(section: str, doc: dict[str, Any], ops: list[Any]) -> None:
    with pytest.raises(PatchError):
        json_patch(doc, ops)


@pytest.mark.parametrize(
    ("label", "live", "patch", "expected"), ALL_STRATEGIC, ids=[c[0] for c in ALL_STRATEGIC]
)
def test_strategic_merge_follows_the_kubernetes_documentation(
    label: str, live: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = copy.deepcopy(live)
    assert strategic_merge_patch(live, patch) == expected
    assert live == before


def test_retainkeys_must_list_every_patched_field() -> None:
    # "All fields in the $retainKeys list must be a superset or the same as the fields
    # present in the patch."
    with pytest.raises(PatchError, match=r"\$retainKeys"):
        strategic_merge_patch(
            DEPLOYMENT_RETAINKEYS,
            {
                "spec": {
                    "strategy": {
                        "$retainKeys": ["type"],
                        "type": "Recreate",
                        "rollingUpdate": {"maxSurge": 1},
                    }
                }
            },
        )


def test_a_list_item_without_its_merge_key_is_refused() -> None:
    with pytest.raises(PatchError, match="does not contain declared merge key: name"):
        strategic_merge_patch(
            DEPLOYMENT_PATCH, {"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}
        )


@pytest.mark.parametrize(
    ("label", "live", "patch", "expected"),
    [
        pytest.param(
            *case,
            marks=[pytest.mark.xfail(strict=True, reason=f"simulator {SIM_DIVERGES[case[0]]}")]
            if case[0] in SIM_DIVERGES
            else [],
            id=case[0],
        )
        for case in ALL_STRATEGIC
    ],
)
def test_the_simulators_strategic_merge_on_the_same_fixtures(
    label: str, live: dict[str, Any], patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert apply_patch(live, patch, PatchType.STRATEGIC) == expected


# -- the same fixtures over HTTP, through the test API server ------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[ApiServer]:
    with ApiServer() as srv:
        yield srv


def _send(server: ApiServer, path: str, body: Any, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        server.url + path,
        data=json.dumps(body).encode(),
        method="PATCH",
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def _stored(server: ApiServer, live: dict[str, Any], name: str) -> None:
    obj = copy.deepcopy(live)
    obj["metadata"] = {**obj["metadata"], "name": name, "namespace": "shop"}
    kind = Kind.DEPLOYMENT if obj["kind"] == "Deployment" else Kind.SERVICE
    server.call(lambda: server.handler.put(kind, obj))


def _strip_server_fields(obj: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    for key in ("uid", "resourceVersion", "namespace"):
        out["metadata"].pop(key, None)
    return out


@pytest.mark.parametrize(
    ("label", "live", "patch", "expected"), ALL_STRATEGIC, ids=[c[0] for c in ALL_STRATEGIC]
)
def test_the_api_server_applies_the_fixtures_over_http(
    server: ApiServer,
    label: str,
    live: dict[str, Any],
    patch: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    _stored(server, live, label)
    plural = "deployments" if live["kind"] == "Deployment" else "services"
    prefix = "/apis/apps/v1" if live["kind"] == "Deployment" else "/api/v1"
    status, body = _send(server, f"{prefix}/namespaces/shop/{plural}/{label}", patch, STRATEGIC)
    assert status == 200, body
    want = copy.deepcopy(expected)
    want["metadata"] = {**want["metadata"], "name": label}
    assert _strip_server_fields(body) == want


def test_the_api_server_routes_by_content_type(server: ApiServer) -> None:
    _stored(server, DEPLOYMENT_PATCH, "routing")
    path = "/apis/apps/v1/namespaces/shop/deployments/routing"
    new = [{"name": "patch-demo-ctr-3", "image": "gcr.io/google-samples/hello-app:2.0"}]
    # The docs' JSON merge patch (patch-file-2.yaml): "your list of one Container replaced
    # the existing containers list".
    status, body = _send(server, path, {"spec": {"template": {"spec": {"containers": new}}}}, MERGE)
    assert status == 200 and _pod_spec(body)["containers"] == new
    # kubectl patch reference: a JSON patch with positional arrays.
    op = [{"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "new"}]
    status, body = _send(server, path, op, JSON)
    assert status == 200 and _pod_spec(body)["containers"][0]["image"] == "new"
    status, body = _send(server, path, [{"op": "test", "path": "/spec/replicas", "value": 3}], JSON)
    assert status == 422 and body["reason"] == "Invalid"
    status, body = _send(server, path, {"spec": {}}, "application/x-www-form-urlencoded")
    assert status == 415 and body["reason"] == "UnsupportedMediaType"
