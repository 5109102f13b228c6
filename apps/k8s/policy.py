"""The write allowlist of both backends: verbs, resources and namespaces."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from apps.k8s.actions import ApiOp
from apps.k8s.exceptions import ActionRefusedError
from apps.k8s.kinds import kind_info
from apps.k8s.settings import K8sSettings

ANY_NAMESPACE = "*"  # in ``write_namespaces``: every namespace but the protected ones
PROTECTED_NAMESPACES = frozenset({"kube-system", "kube-public", "kube-node-lease"})


@dataclass(frozen=True)
class WritePolicy:
    """Which writes the healer may send: ``"<verb> <resource>"`` rules, verbs and namespaces."""

    rules: frozenset[str]
    verbs: frozenset[str]
    namespaces: frozenset[str]
    allow_cluster_scoped: bool
    protected: frozenset[str] = PROTECTED_NAMESPACES  # only writable when listed by name

    @classmethod
    def permissive(cls) -> WritePolicy:
        """Every action's writes in every namespace but the protected ones (the simulator's default)."""
        return cls.from_settings(K8sSettings(write_namespaces=[ANY_NAMESPACE]))

    @classmethod
    def from_settings(cls, settings: K8sSettings) -> WritePolicy:
        """The policy the settings describe."""
        return cls(
            rules=frozenset(" ".join(r.split()) for r in settings.write_rules),
            verbs=frozenset(settings.allowed_verbs),
            namespaces=frozenset(settings.write_namespaces),
            allow_cluster_scoped=settings.allow_node_operations,
        )

    def refusal(self, op: ApiOp) -> str | None:
        """Why ``op`` is refused, or None if it is allowed."""
        if op.verb.value not in self.verbs:
            return f"verb {op.verb.value!r} is not allowed (allowed: {sorted(self.verbs)})"
        if op.rule not in self.rules:
            return f"'{op.rule}' is not in the write allowlist"
        if kind_info(op.kind).namespaced:
            if (
                ANY_NAMESPACE in self.namespaces
                and op.namespace in self.protected
                and op.namespace not in self.namespaces
            ):
                return f"namespace {op.namespace!r} is protected (name it in write_namespaces to allow it)"
            if op.namespace not in self.namespaces and ANY_NAMESPACE not in self.namespaces:
                return (
                    f"namespace {op.namespace!r} is not in the write allowlist "
                    f"{sorted(self.namespaces)}"
                )
        elif not self.allow_cluster_scoped:
            return f"cluster-scoped writes ({op.resource}) are not allowed"
        return None

    def check(self, ops: Iterable[ApiOp]) -> None:
        """Raise :class:`ActionRefusedError` naming every refused request, before any is sent."""
        refused = [f"{op.describe()}: {why}" for op in ops if (why := self.refusal(op))]
        if refused:
            raise ActionRefusedError("write refused by the allowlist: " + "; ".join(refused))
