"""The global maritime network shipped by ``searoute``, as a directed weighted graph.

Nodes are the waypoints of searoute's marnet (lon, lat) plus its ports (UN/LOCODE,
name, country); edges are the sea lanes in both directions, weighted by length in km
(or its inverse, or 1). Everything is read from the installed package's data
modules, never from the network.

Construction choices (documented, deterministic):

- waypoints at longitude -180 and +180 with the same latitude are one place, and so
  are a waypoint east of 180 and its twin at ``lon - 360``: they are merged (searoute links them with 0 km "pacific_ocean" edges, which then vanish);
- lanes whose searoute ``passage`` is excluded (by default ``northwest``, as searoute
  routes) are left out; lanes between the same two waypoints keep the shortest;
- every port is linked both ways to its nearest waypoint (great-circle distance),
  as searoute snaps ports to the network; ports farther than ``max_port_link_km``
  from any waypoint (inland places in searoute's port list, such as Madrid) are
  left out, and naming one for personalization says so;
- lengths are clamped to at least ``MIN_LANE_KM`` so that inverse weights stay finite.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

from apps.pagerank.exceptions import UnknownPortError
from apps.pagerank.settings import LaneWeight

EARTH_RADIUS_KM = 6371.0088
MIN_LANE_KM = 1.0
MAX_PORT_LINK_KM = 300.0  # default: ports farther from the network are left out
WAYPOINT, PORT = "waypoint", "port"


@dataclass(frozen=True)
class MaritimeGraph:
    """Nodes (waypoints first, then ports) and directed lanes of the maritime network."""

    lon: npt.NDArray[np.float64]
    lat: npt.NDArray[np.float64]
    kind: list[str]
    name: list[str]
    locode: list[str]
    country: list[str]
    src: npt.NDArray[np.int64]
    dst: npt.NDArray[np.int64]
    length_km: npt.NDArray[np.float64]
    passage: list[str]
    far_ports: dict[str, tuple[str, float]] = field(default_factory=dict)  # key -> (label, km)

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return len(self.lon)

    @property
    def n_ports(self) -> int:
        """Number of ports."""
        return self.kind.count(PORT)

    def weights(self, mode: LaneWeight | str) -> npt.NDArray[np.float64]:
        """Edge weights for ``mode``: length, inverse length or 1."""
        m = LaneWeight(mode)
        if m is LaneWeight.LENGTH:
            return self.length_km.copy()
        if m is LaneWeight.INVERSE:
            return 1.0 / self.length_km
        return np.ones(len(self.src))

    def label(self, i: int) -> str:
        """A readable label: ``Rotterdam (NLRTM)`` or ``waypoint 12.40N 43.75E``."""
        if self.kind[i] == PORT:
            return f"{self.name[i]} ({self.locode[i]})"
        lat, lon = self.lat[i], self.lon[i]
        where = f"{abs(lat):.2f}{'N' if lat >= 0 else 'S'} {abs(lon):.2f}{'E' if lon >= 0 else 'W'}"
        ports = self._attached().get(i, [])
        near = ""
        if ports:
            near = f" near {self.name[ports[0]]}" + (
                f" +{len(ports) - 1}" if len(ports) > 1 else ""
            )
        return f"{self.passage_of(i) or 'waypoint'} {where}{near}"

    def short_label(self, i: int) -> str:
        """A map label: the port's name, the chokepoint's name, or the nearest port's."""
        if self.kind[i] == PORT:
            return self.name[i]
        ports = self._attached().get(i, [])
        return self.passage_of(i) or (self.name[ports[0]] if ports else "")

    def _attached(self) -> dict[int, list[int]]:
        """Ports linked to each waypoint, nearest first."""
        cache: dict[int, list[int]] | None = self.__dict__.get("_attached_cache")
        if cache is None:
            pairs: dict[int, list[tuple[float, int]]] = {}
            for s, d, km in zip(
                self.src.tolist(), self.dst.tolist(), self.length_km.tolist(), strict=True
            ):
                if self.kind[s] == PORT and self.kind[d] != PORT:
                    pairs.setdefault(d, []).append((km, s))
            cache = {w: [p for _, p in sorted(v)] for w, v in pairs.items()}
            object.__setattr__(self, "_attached_cache", cache)
        return cache

    def passage_of(self, i: int) -> str:
        """The searoute passage (chokepoint) a waypoint's lanes belong to, or ''."""
        return self._passages().get(i, "")

    def _passages(self) -> dict[int, str]:
        cache: dict[int, str] | None = self.__dict__.get("_passage_cache")
        if cache is None:
            cache = {}
            for s, d, p in zip(self.src.tolist(), self.dst.tolist(), self.passage, strict=True):
                if p and p not in ("segment", "segment2", "pacific_ocean"):
                    cache.setdefault(s, p)
                    cache.setdefault(d, p)
            object.__setattr__(self, "_passage_cache", cache)
        return cache

    def resolve_ports(self, queries: Iterable[str]) -> list[int]:
        """Node ids of ports given by LOCODE or by name (case- and accent-insensitive:
        ``São Tomé`` finds searoute's ``Sao Tome``).

        Raises:
            UnknownPortError: a query matches no port (close names suggested), or a
                name matches several ports (their LOCODEs listed).
        """
        by_code: dict[str, int] = {}
        by_name: dict[str, list[int]] = {}
        for i, k in enumerate(self.kind):
            if k == PORT:
                by_code[self.locode[i].upper()] = i
                by_name.setdefault(name_key(self.name[i]), []).append(i)
        out: list[int] = []
        for q in queries:
            key = q.strip()
            if key.upper() in by_code:
                out.append(by_code[key.upper()])
                continue
            hits = by_name.get(name_key(key), [])
            if len(hits) == 1:
                out.append(hits[0])
                continue
            if len(hits) > 1:
                options = ", ".join(f"{self.locode[i]} ({self.country[i]})" for i in hits)
                raise UnknownPortError(
                    f"port name {q!r} is ambiguous: {options}; give its LOCODE instead"
                )
            far = self.far_ports.get(name_key(key))
            if far is not None:
                raise UnknownPortError(
                    f"port {q!r} ({far[0]}) is {far[1]:.0f} km from the sea network, beyond "
                    "max_port_link_km, so it is not in the graph"
                )
            names = sorted({self.name[i] for i in by_code.values()})
            close = difflib.get_close_matches(key, names, n=5, cutoff=0.75)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise UnknownPortError(f"unknown port {q!r}: no port has this name or UN/LOCODE{hint}")
        return out


def name_key(name: str) -> str:
    """A port name as lookups compare it: accents dropped (NFKD without combining marks),
    case folded."""
    decomposed = unicodedata.normalize("NFKD", name)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def _unit(lon: npt.NDArray[np.float64], lat: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    lo, la = np.radians(lon), np.radians(lat)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def haversine_km(
    lon1: npt.ArrayLike, lat1: npt.ArrayLike, lon2: npt.ArrayLike, lat2: npt.ArrayLike
) -> npt.NDArray[np.float64]:
    """Great-circle distances in km."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    out: npt.NDArray[np.float64] = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0, 1)))
    return out


def _key(p: Sequence[float]) -> tuple[float, float]:
    lon = float(p[0])
    if lon > 180.0:  # searoute writes some Bering Sea waypoints east of 180
        lon = round(lon - 360.0, 6)
    return (180.0 if lon == -180.0 else lon, float(p[1]))


def load_maritime(
    exclude_passages: Iterable[str] = ("northwest",), max_port_link_km: float = MAX_PORT_LINK_KM
) -> MaritimeGraph:
    """Build the maritime graph from the ``searoute`` package's data (offline).

    Args:
        exclude_passages: searoute passages whose lanes are left out.
        max_port_link_km: ports farther than this from every waypoint are left out.
    """
    from searoute.data.marnet_dict import edge_list as marnet_edges
    from searoute.data.ports_dict import node_list as port_nodes

    excluded = set(exclude_passages)
    ids: dict[tuple[float, float], int] = {}
    best: dict[tuple[int, int], tuple[float, str]] = {}
    for u, nbrs in marnet_edges.items():
        ku = _key(u)
        iu = ids.setdefault(ku, len(ids))
        for v, data in nbrs.items():
            kv = _key(v)
            iv = ids.setdefault(kv, len(ids))
            passage = str(data.get("passage") or "")
            if iu == iv or passage in excluded:
                continue
            length = float(data.get("weight") or 0.0)
            if length <= 0:
                length = float(haversine_km(ku[0], ku[1], kv[0], kv[1]))
            old = best.get((iu, iv))
            if old is None or length < old[0]:
                best[(iu, iv)] = (max(length, MIN_LANE_KM), passage)
    coords = np.array(list(ids), dtype=np.float64)
    n_way = len(coords)
    lon, lat = coords[:, 0].copy(), coords[:, 1].copy()
    edges = sorted(best.items())
    src = [e[0][0] for e in edges]
    dst = [e[0][1] for e in edges]
    lane_km = [e[1][0] for e in edges]
    lane_passage = [e[1][1] for e in edges]
    # ports, each linked both ways to its nearest waypoint (only waypoints with a lane)
    used = np.zeros(n_way, dtype=bool)
    used[src] = True
    used[dst] = True
    way_ids = np.flatnonzero(used)
    tree = cKDTree(_unit(lon[way_ids], lat[way_ids]))
    ports = sorted(port_nodes.items(), key=lambda kv: str(kv[1].get("port")))
    p_lon = np.array([float(k[0]) for k, _ in ports])
    p_lat = np.array([float(k[1]) for k, _ in ports])
    _, nearest = tree.query(_unit(p_lon, p_lat))
    near = way_ids[np.asarray(nearest)]
    raw = haversine_km(p_lon, p_lat, lon[near], lat[near])
    keep = raw <= max_port_link_km
    far_ports: dict[str, tuple[str, float]] = {}
    for (_, d), km in zip(
        [pd for pd, k in zip(ports, keep.tolist(), strict=True) if not k],
        raw[~keep].tolist(),
        strict=True,
    ):
        label = f"{d.get('name')}, {d.get('port')}"
        far_ports[name_key(str(d.get("name") or ""))] = (label, km)
        far_ports[name_key(str(d.get("port") or ""))] = (label, km)
    ports = [pd for pd, k in zip(ports, keep.tolist(), strict=True) if k]
    p_lon, p_lat, near = p_lon[keep], p_lat[keep], near[keep]
    dist = np.maximum(raw[keep], MIN_LANE_KM)
    kind = [WAYPOINT] * n_way + [PORT] * len(ports)
    name = [""] * n_way + [str(d.get("name") or "") for _, d in ports]
    locode = [""] * n_way + [str(d.get("port") or "") for _, d in ports]
    country = [""] * n_way + [str(d.get("cty") or "") for _, d in ports]
    for j in range(len(ports)):
        pid = n_way + j
        src += [pid, int(near[j])]
        dst += [int(near[j]), pid]
        lane_km += [float(dist[j])] * 2
        lane_passage += ["", ""]
    lengths = np.asarray(lane_km, dtype=np.float64)
    assert all(math.isfinite(v) and v >= MIN_LANE_KM for v in lengths.tolist())
    return MaritimeGraph(
        lon=np.concatenate([lon, p_lon]),
        lat=np.concatenate([lat, p_lat]),
        kind=kind,
        name=name,
        locode=locode,
        country=country,
        src=np.asarray(src, dtype=np.int64),
        dst=np.asarray(dst, dtype=np.int64),
        length_km=lengths,
        passage=lane_passage,
        far_ports=far_ports,
    )


def lane_flows(
    graph: MaritimeGraph, weights: npt.NDArray[np.float64], ranks: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Rank flow along each lane: ``x[u] * w(u, v) / out_weight(u)`` (what crosses it per step)."""
    out = np.bincount(graph.src, weights=weights, minlength=graph.n_nodes)
    safe = np.where(out > 0, out, 1.0)
    flows: npt.NDArray[np.float64] = ranks[graph.src] * weights / safe[graph.src]
    return flows


def passage_flows(graph: MaritimeGraph, flows: npt.NDArray[np.float64]) -> dict[str, float]:
    """Rank flow through each named chokepoint (lanes of one searoute passage), largest first."""
    total: dict[str, float] = {}
    for p, f in zip(graph.passage, flows.tolist(), strict=True):
        if p and p not in ("segment", "segment2", "pacific_ocean"):
            total[p] = total.get(p, 0.0) + f
    return dict(sorted(total.items(), key=lambda kv: -kv[1]))
