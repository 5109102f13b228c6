"""The searoute maritime network: construction, port lookup, exact ranks vs networkx."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from apps.pagerank.engine import PageRankParams, run_pagerank
from apps.pagerank.exceptions import UnknownPortError
from apps.pagerank.maritime import PORT, lane_flows, load_maritime, passage_flows
from apps.pagerank.pipeline import maritime_partitions, port_personalization
from apps.pagerank.reference import networkx_pagerank


@pytest.fixture(scope="module")
def graph():
    return load_maritime()


def test_graph_is_built_from_the_package(graph) -> None:
    assert graph.n_ports > 3000 and graph.n_nodes - graph.n_ports > 9000
    assert len(graph.src) > 35_000
    assert (graph.length_km >= 1.0).all() and np.isfinite(graph.length_km).all()
    assert (graph.src != graph.dst).all()  # no self-loop: the antimeridian twins are merged
    assert graph.lon.min() >= -180 and graph.lon.max() <= 180
    pairs = set(zip(graph.src.tolist(), graph.dst.tolist(), strict=True))
    assert len(pairs) == len(graph.src)  # one lane per ordered pair
    assert all((d, s) in pairs for s, d in pairs)  # every lane both ways
    assert "northwest" not in graph.passage and "suez" in graph.passage
    with_nw = load_maritime(exclude_passages=())
    assert "northwest" in with_nw.passage and len(with_nw.src) > len(graph.src)


def test_ports_resolve_by_name_or_locode(graph) -> None:
    [rtm] = graph.resolve_ports(["Rotterdam"])
    assert graph.kind[rtm] == PORT and graph.locode[rtm] == "NLRTM"
    assert graph.resolve_ports(["nlrtm", " ROTTERDAM "]) == [rtm, rtm]
    assert graph.resolve_ports(["São Tomé"]) == graph.resolve_ports(["Sao Tome"])  # accents
    with pytest.raises(
        UnknownPortError, match=r"unknown port 'Rotterdamm'.*did you mean Rotterdam"
    ):
        graph.resolve_ports(["Rotterdamm"])
    with pytest.raises(UnknownPortError, match=r"'Georgetown' is ambiguous: .*GYGEO"):
        graph.resolve_ports(["Georgetown"])
    with pytest.raises(
        UnknownPortError, match=r"'Madrid' \(Madrid, ESMAD\) is \d+ km from the sea"
    ):
        graph.resolve_ports(["Madrid"])  # inland: beyond max_port_link_km
    assert "Madrid" in load_maritime(max_port_link_km=5000).name


def test_waypoints_are_labelled_by_their_ports(graph) -> None:
    [rtm] = graph.resolve_ports(["NLRTM"])
    [hub] = graph.dst[graph.src == rtm].tolist()
    assert graph.kind[hub] != PORT and " near " in graph.label(hub)


@pytest.mark.parametrize("weight", ["length", "inverse", "none"])
def test_maritime_ranks_equal_networkx(graph, tmp_path: Path, weight: str) -> None:
    parts = maritime_partitions(graph, weight, tmp_path / "g", 6)
    res = run_pagerank(parts, PageRankParams(tol=1e-12))
    ref = networkx_pagerank(graph.src, graph.dst, graph.weights(weight), graph.n_nodes, tol=1e-12)
    assert np.abs(res.ranks - ref).sum() < 1e-12


def test_personalized_from_rotterdam(graph, tmp_path: Path) -> None:
    parts = maritime_partitions(graph, "inverse", tmp_path / "g", 4)
    pers = port_personalization(graph, ["NLRTM"])
    res = run_pagerank(parts, PageRankParams(personalization=pers, tol=1e-12))
    [rtm] = graph.resolve_ports(["NLRTM"])
    assert rtm in np.argsort(-res.ranks)[:3]  # its own waypoint may collect more
    ports = np.array([k == PORT for k in graph.kind])
    assert int(np.argmax(np.where(ports, res.ranks, 0))) == rtm
    ref = networkx_pagerank(
        graph.src,
        graph.dst,
        graph.weights("inverse"),
        graph.n_nodes,
        personalization={rtm: 1.0},
        tol=1e-12,
    )
    assert np.abs(res.ranks - ref).sum() < 1e-12
    flows = lane_flows(graph, graph.weights("inverse"), res.ranks)
    assert (
        abs(flows.sum() - (res.ranks[np.bincount(graph.src, minlength=graph.n_nodes) > 0]).sum())
        < 1e-9
    )
    choke = passage_flows(graph, flows)
    assert "gibraltar" in choke and list(choke.values()) == sorted(choke.values(), reverse=True)
    with pytest.raises(UnknownPortError):
        port_personalization(graph, ["Atlantis"])
