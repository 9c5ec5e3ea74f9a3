"""Graph batch: validation, batching, tiling, concat/split, device and dtype handling."""

import pytest
import torch

from gncontrol.gn.graphs import Graph, batch, concat, split_features, tile, unbatch


def random_graph(n: int, e: int, fv=3, fe=2, fu=4, seed=0, dtype=torch.float32) -> Graph:
    g = torch.Generator().manual_seed(seed)
    return Graph.from_single(
        nodes=torch.randn(n, fv, generator=g, dtype=dtype),
        edges=torch.randn(e, fe, generator=g, dtype=dtype),
        globals=torch.randn(fu, generator=g, dtype=dtype),
        senders=torch.randint(0, max(n, 1), (e,), generator=g),
        receivers=torch.randint(0, max(n, 1), (e,), generator=g),
    )


def test_batch_unbatch_roundtrip_different_sizes():
    graphs = [random_graph(3, 4, seed=1), random_graph(5, 0, seed=2), random_graph(1, 2, seed=3)]
    b = batch(graphs).validate()
    assert b.num_graphs == 3
    assert b.n_node.tolist() == [3, 5, 1]
    assert b.node_graph_index().tolist() == [0, 0, 0, 1, 1, 1, 1, 1, 2]
    assert b.edge_graph_index().tolist() == [0, 0, 0, 0, 2, 2]
    assert int(b.senders[4:].min()) >= 8  # offset into the third graph
    for orig, back in zip(graphs, unbatch(b)):
        for f in ("nodes", "edges", "globals", "senders", "receivers", "n_node", "n_edge"):
            assert torch.equal(getattr(orig, f), getattr(back, f)), f


def test_tile_equals_batch_of_copies():
    g = random_graph(4, 6, seed=5)
    t = tile(g, 7).validate()
    ref = batch([g] * 7)
    for f in ("nodes", "edges", "globals", "senders", "receivers", "n_node", "n_edge"):
        assert torch.equal(getattr(t, f), getattr(ref, f)), f
    assert torch.equal(t.node_graph_index(), ref.node_graph_index())
    assert torch.equal(t.edge_graph_index(), ref.edge_graph_index())


def test_tile_needs_single_graph():
    with pytest.raises(ValueError, match="batch of one graph"):
        tile(batch([random_graph(2, 1), random_graph(2, 1)]), 3)


def test_concat_and_split_roundtrip():
    g = random_graph(3, 2)
    h = g.replace(nodes=torch.ones(3, 5), edges=torch.zeros(2, 1), globals=torch.ones(1, 2))
    c = concat([g, h])
    assert c.nodes.shape == (3, 8) and c.edges.shape == (2, 3) and c.globals.shape == (1, 6)
    a, b = split_features(c, [3, 5], [2, 1], [4, 2])
    assert torch.equal(a.nodes, g.nodes) and torch.equal(b.globals, h.globals)


def test_concat_rejects_different_topology():
    with pytest.raises(ValueError, match="same topology"):
        concat([random_graph(3, 2), random_graph(4, 2)])


def test_replace_topology_drops_cached_index():
    t = tile(random_graph(2, 1), 3)
    r = t.replace(n_node=torch.tensor([1, 2, 3]), nodes=torch.zeros(6, 3))
    assert r.node_graph_index().tolist() == [0, 1, 1, 2, 2, 2]


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(senders=torch.tensor([0, 9])), "senders index out of range"),
        (dict(receivers=torch.tensor([0])), "one entry per edge"),
        (dict(n_node=torch.tensor([2])), "sum\\(n_node\\)=2"),
        (dict(globals=torch.zeros(2, 4)), "globals 2"),
        (dict(nodes=torch.zeros(3)), "nodes must be a 2-D tensor"),
        (dict(senders=torch.tensor([0.0, 1.0])), "senders must be a 1-D integer"),
    ],
)
def test_validation_names_the_problem(change, message):
    g = random_graph(3, 2).replace(**change)
    with pytest.raises(ValueError, match=message):
        g.validate()


def test_validation_cross_graph_edge_and_nonfinite():
    b = batch([random_graph(2, 1, seed=1), random_graph(2, 1, seed=2)])
    bad = b.replace(senders=torch.tensor([0, 1]))  # second edge points into the first graph
    with pytest.raises(ValueError, match="different graph"):
        bad.validate()
    nan = b.replace(nodes=b.nodes.clone().index_fill_(0, torch.tensor([1]), float("nan")))
    nan.validate()  # finite check is opt-in
    with pytest.raises(ValueError, match="nodes contains NaN"):
        nan.validate(check_finite=True)


def test_to_casts_features_not_indices():
    g = random_graph(3, 2).to(dtype=torch.float64)
    assert g.nodes.dtype == torch.float64 and g.globals.dtype == torch.float64
    assert g.senders.dtype == torch.long and g.n_node.dtype == torch.long
    assert g.to("meta").nodes.device.type == "meta"
