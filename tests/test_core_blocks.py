"""GN blocks and modules: equivariance, batching equivalence, gradients, empty graphs."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gncontrol.gn.blocks import GraphSizes, aggregate
from gncontrol.gn.graphs import Graph, batch, concat, unbatch
from gncontrol.gn.modules import (
    DeepSets,
    EncodeProcessDecode,
    GraphIndependent,
    GraphNetwork,
    InteractionNetwork,
    RecurrentGraphNetwork,
    RelationNetwork,
)
from gncontrol.gn.nn import mlp, mlp_factory

SIZES = GraphSizes(nodes=3, edges=2, globals=4)


def make_mlp(i, o):
    return mlp(i, [16], o)


def all_modules(reducer="sum"):
    f = mlp_factory([16], 5)
    return {
        "GraphNetwork": GraphNetwork(SIZES, f, f, f, reducer=reducer),
        "GraphIndependent": GraphIndependent(SIZES, f, f, f),
        "InteractionNetwork": InteractionNetwork(SIZES, f, f, reducer=reducer),
        "RelationNetwork": RelationNetwork(SIZES, f, f, reducer=reducer),
        "DeepSets": DeepSets(SIZES, f, f, reducer=reducer),
        "EncodeProcessDecode": EncodeProcessDecode(SIZES, 8, GraphSizes(2, 3, 1), make_mlp, 2,
                                                   reducer=reducer),
        "Recurrent": RecurrentGraphNetwork(SIZES, GraphSizes(4, 4, 4), make_mlp, reducer=reducer),
    }


def run(module, graph):
    out = module(graph)
    return out[0] if isinstance(out, tuple) else out


def random_graph(n, e, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return Graph.from_single(
        torch.randn(n, 3, generator=g, dtype=dtype), torch.randn(e, 2, generator=g, dtype=dtype),
        torch.randn(4, generator=g, dtype=dtype),
        torch.randint(0, n, (e,), generator=g), torch.randint(0, n, (e,), generator=g))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 7), e=st.integers(0, 12), seed=st.integers(0, 10_000),
       reducer=st.sampled_from(["sum", "mean", "max"]))
def test_permutation_equivariance(n, e, seed, reducer):
    """Permuting nodes and edges permutes the outputs the same way; globals are invariant."""
    torch.manual_seed(0)
    g = random_graph(n, e, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    pn = torch.randperm(n, generator=gen)
    pe = torch.randperm(e, generator=gen)
    inv_n = torch.argsort(pn)
    permuted = g.replace(nodes=g.nodes[pn], edges=g.edges[pe], senders=inv_n[g.senders[pe]],
                         receivers=inv_n[g.receivers[pe]])
    for name, module in all_modules(reducer).items():
        module = module.double()
        a, b = run(module, g), run(module, permuted)
        assert torch.allclose(a.nodes[pn], b.nodes, atol=1e-10), name
        assert torch.allclose(a.edges[pe], b.edges, atol=1e-10), name
        assert torch.allclose(a.globals, b.globals, atol=1e-10), name


@pytest.mark.parametrize("reducer", ["sum", "mean", "max"])
def test_batching_equivalence_float64(reducer):
    """A batch of graphs of different sizes gives the outputs of each graph alone (1e-6)."""
    torch.manual_seed(0)
    graphs = [random_graph(n, e, s) for s, (n, e) in enumerate([(3, 4), (6, 0), (1, 1), (5, 9)])]
    for name, module in all_modules(reducer).items():
        module = module.double()
        joint = unbatch(run(module, batch(graphs)))
        for single, part in zip(graphs, joint):
            alone = run(module, single)
            for f in ("nodes", "edges", "globals"):
                assert torch.allclose(getattr(alone, f), getattr(part, f), atol=1e-6), (name, f)


def test_gradients_reach_every_parameter():
    graph = batch([random_graph(4, 5, 1, torch.float32), random_graph(3, 2, 2, torch.float32)])
    for name, module in all_modules().items():
        out = run(module, graph)
        loss = out.nodes.square().sum() + out.edges.square().sum() + out.globals.square().sum()
        if isinstance(module, RecurrentGraphNetwork):  # two steps so GRU hidden paths are used
            out2, _ = module(graph, out)
            loss = out2.nodes.sum() + out2.edges.sum() + out2.globals.sum() + loss
        loss.backward()
        for pname, p in module.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}.{pname} got no gradient"


def test_graphs_without_edges():
    g = batch([random_graph(3, 0, 1, torch.float32), random_graph(2, 0, 2, torch.float32)])
    for name, module in all_modules().items():
        out = run(module, g)
        assert out.edges.shape[0] == 0, name
        assert torch.isfinite(out.nodes).all() and torch.isfinite(out.globals).all(), name


def test_aggregate_reducers_and_empty_groups():
    v = torch.tensor([[1.0], [3.0], [-2.0]])
    idx = torch.tensor([0, 0, 2])
    assert aggregate(v, idx, 3, "sum").flatten().tolist() == [4.0, 0.0, -2.0]
    assert aggregate(v, idx, 3, "mean").flatten().tolist() == [2.0, 0.0, -2.0]
    assert aggregate(v, idx, 3, "max").flatten().tolist() == [3.0, 0.0, -2.0]
    with pytest.raises(ValueError, match="unknown reducer 'median'"):
        aggregate(v, idx, 3, "median")


def test_blocks_need_an_input_and_check_sizes():
    from gncontrol.gn.blocks import EdgeBlock
    with pytest.raises(ValueError, match="at least one input"):
        EdgeBlock(SIZES, mlp_factory([4], 2), False, False, False, False)
    gn = GraphNetwork(SIZES, mlp_factory([4], 2), mlp_factory([4], 2), mlp_factory([4], 2))
    wrong = random_graph(3, 2, 0, torch.float32).replace(nodes=torch.zeros(3, 7))
    with pytest.raises(ValueError, match="EdgeBlock was built for nodes with 3 features, got 7"):
        gn(wrong)


def test_module_on_device_and_dtype():
    """Modules and graphs move together; output keeps device and dtype."""
    gn = GraphNetwork(SIZES, mlp_factory([4], 2), mlp_factory([4], 2), mlp_factory([4], 2))
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    gn = gn.to(dev, torch.float64)
    out = gn(random_graph(3, 2, 0).to(dev, torch.float64))
    assert out.nodes.dtype == torch.float64 and out.nodes.device.type == dev


def test_recurrent_mean_update_is_the_running_mean_of_its_messages():
    """update="mean": after K steps the hidden graph is exactly the mean of the K GN messages."""
    torch.manual_seed(0)
    net = RecurrentGraphNetwork(SIZES, GraphSizes(4, 4, 4), make_mlp, update="mean").double()
    graphs = [random_graph(5, 6, seed) for seed in range(4)]
    hidden, messages = None, []
    for k, g in enumerate(graphs):
        h_in = net.initial_state(g) if hidden is None else hidden
        messages.append(net.core(concat([g, h_in])))
        _, hidden = net(g, hidden, k)
    for field in ("nodes", "edges", "globals"):
        mean = torch.stack([getattr(m, field) for m in messages]).mean(0)
        assert torch.allclose(getattr(hidden, field), mean, atol=1e-12), field
    with pytest.raises(ValueError, match="unknown recurrent update 'lstm'"):
        RecurrentGraphNetwork(SIZES, GraphSizes(4, 4, 4), make_mlp, update="lstm")
