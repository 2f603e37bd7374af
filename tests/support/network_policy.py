"""Kubernetes NetworkPolicy semantics (networking.k8s.io/v1), for checking rendered manifests.

Implements the API reference's rules: a pod is isolated for a direction once any policy of
its namespace selects it with that policy type; an isolated pod admits a connection only if
some selecting policy has a rule whose peers and ports both match it (no ``from``/``to``: any
peer; no ``ports``: any port). Peers: ``podSelector`` alone means the policy's namespace,
``namespaceSelector`` alone every pod of the selected namespaces, both together the pods they
select jointly, ``ipBlock`` an address range (here: the endpoints outside the cluster).
A connection needs the source's egress and the destination's ingress to allow it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Endpoint:
    """A pod (``namespace`` set) or an address outside the cluster (``ip`` set)."""

    name: str
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    ip: str = ""

    @property
    def is_pod(self) -> bool:
        return bool(self.namespace)


def pod(name: str, namespace: str, labels: Mapping[str, str] | None = None) -> Endpoint:
    # Every namespace carries kubernetes.io/metadata.name (Kubernetes >= 1.21).
    return Endpoint(name, namespace, dict(labels or {}), {"kubernetes.io/metadata.name": namespace})


def selects(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A LabelSelector: matchLabels and matchExpressions (In, NotIn, Exists, DoesNotExist)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        matched = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not matched:
            return False
    return True


def _peer_matches(peer: Mapping[str, Any], policy_namespace: str, other: Endpoint) -> bool:
    if "ipBlock" in peer:
        if other.is_pod:
            return False
        block = peer["ipBlock"]
        address = ipaddress.ip_address(other.ip)
        inside = address in ipaddress.ip_network(block["cidr"])
        excluded = any(address in ipaddress.ip_network(c) for c in block.get("except", []))
        return inside and not excluded
    if not other.is_pod:
        return False
    if "namespaceSelector" in peer:
        if not selects(peer["namespaceSelector"], other.namespace_labels):
            return False
    elif other.namespace != policy_namespace:
        return False
    return selects(peer.get("podSelector"), other.labels)


def _port_matches(ports: list[dict[str, Any]] | None, port: int, protocol: str) -> bool:
    if not ports:
        return True
    for entry in ports:
        if entry.get("protocol", "TCP") != protocol:
            continue
        low = entry.get("port")
        if low is None:
            return True
        if not isinstance(low, int):
            raise ValueError(f"named port {low!r}: resolve it to a number first")
        if low <= port <= entry.get("endPort", low):
            return True
    return False


def _direction_allows(
    policies: Iterable[Mapping[str, Any]],
    subject: Endpoint,
    other: Endpoint,
    port: int,
    protocol: str,
    direction: str,
) -> bool:
    """Whether ``subject``'s policies let ``other`` in (Ingress) or out to it (Egress)."""
    if not subject.is_pod:
        return True  # outside the cluster: no policy applies
    rule_key, peer_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    isolated = False
    for policy in policies:
        namespace = policy["metadata"]["namespace"]
        spec = policy["spec"]
        if namespace != subject.namespace or not selects(spec["podSelector"], subject.labels):
            continue
        types = spec.get("policyTypes") or (
            ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
        )
        if direction not in types:
            continue
        isolated = True
        for rule in spec.get(rule_key) or []:
            peers = rule.get(peer_key)
            peer_ok = not peers or any(_peer_matches(p, namespace, other) for p in peers)
            if peer_ok and _port_matches(rule.get("ports"), port, protocol):
                return True
    return not isolated


def allowed(
    policies: Iterable[Mapping[str, Any]],
    source: Endpoint,
    destination: Endpoint,
    port: int,
    protocol: str = "TCP",
) -> bool:
    """Whether ``source`` may open a connection to ``destination``'s ``port``."""
    policies = list(policies)
    return _direction_allows(
        policies, source, destination, port, protocol, "Egress"
    ) and _direction_allows(policies, destination, source, port, protocol, "Ingress")
