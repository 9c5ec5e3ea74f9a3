"""Forward+backward throughput of gncontrol's GraphNetwork vs PyTorch Geometric's MetaLayer.

Three implementations compute the same function with the SAME weights (the MLP modules are
shared): the generic Graph path, the fixed-topology fast path (gncontrol.forward.fast_path: dense
[B, N, F] tensors, static gathers, first layers split per input; B copies of one graph), and
PyG's MetaLayer (skipped when torch_geometric, the optional `bench` extra, is not installed):
    e' = phi_e([e, v_receiver, v_sender, u])
    v' = phi_v([sum of received e', v, u])
    u' = phi_u([sum of e', sum of v', u])
Outputs are checked to agree to 1e-5 before timing. Timings alternate between the
implementations (ABC ABC ...) and report medians, so load on the machine hits all alike.

    python -m benchmarks.gn_throughput            # both workloads
    python -m benchmarks.gn_throughput --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import platform

import torch
from torch import nn

from benchmarks._timing import interleaved
from benchmarks.common import CSVRows, add_csv_argument, csv_path
from gncontrol.forward import fast_path
from gncontrol.gn.blocks import GraphSizes
from gncontrol.gn.graphs import Graph, tile
from gncontrol.gn.modules import GraphNetwork
from gncontrol.gn.nn import mlp
from gncontrol.systems import GraphSystem

WORKLOADS = {
    # name: (nodes per graph, edges as a chain with both directions?, batch)
    "cartpole-like (3 nodes, 4 edges) x 4096": (3, 4096),
    "swimmer-like (16 nodes, 30 edges) x 512": (16, 512),
}
SIZES = GraphSizes(nodes=32, edges=16, globals=8)
HIDDEN, LATENT = 128, 128


def chain_graph(n: int, device: torch.device) -> Graph:
    """One chain of n bodies with two directed edges per joint (2(n-1) edges)."""
    s = list(range(n - 1)) + list(range(1, n))
    r = list(range(1, n)) + list(range(n - 1))
    g = torch.Generator().manual_seed(n)
    return Graph.from_single(
        torch.randn(n, SIZES.nodes, generator=g), torch.randn(len(s), SIZES.edges, generator=g),
        torch.randn(SIZES.globals, generator=g), torch.tensor(s), torch.tensor(r)).to(device)


def build_pyg(gn: GraphNetwork):
    """A MetaLayer whose edge/node/global models reuse `gn`'s MLPs (same weights)."""
    from torch_geometric.nn import MetaLayer
    from torch_geometric.utils import scatter

    edge_mlp = gn.edge_block.edge_model
    node_mlp = gn.node_block.node_model
    global_mlp = gn.global_block.global_model

    class EdgeModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = edge_mlp

        def forward(self, src, dst, edge_attr, u, batch):
            return self.mlp(torch.cat([edge_attr, dst, src, u[batch]], dim=1))

    class NodeModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = node_mlp

        def forward(self, x, edge_index, edge_attr, u, batch):
            agg = scatter(edge_attr, edge_index[1], dim=0, dim_size=x.size(0), reduce="sum")
            return self.mlp(torch.cat([agg, x, u[batch]], dim=1))

    class GlobalModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.mlp = global_mlp

        def forward(self, x, edge_index, edge_attr, u, batch):
            b = u.size(0)
            e_agg = scatter(edge_attr, batch[edge_index[0]], dim=0, dim_size=b, reduce="sum")
            v_agg = scatter(x, batch, dim=0, dim_size=b, reduce="sum")
            return self.mlp(torch.cat([e_agg, v_agg, u], dim=1))

    return MetaLayer(EdgeModel(), NodeModel(), GlobalModel())


def dense_gn(gn: GraphNetwork, one: Graph, batch: int):
    """A function g -> (nodes, edges, globals) running `gn` on the fast path for `batch` copies of `one`."""
    topo = fast_path.topology_of(GraphSystem.single(one, [-1] * one.edges.shape[0], 0))
    n, e = one.nodes.shape[0], one.edges.shape[0]

    def run(g: Graph):
        dense = fast_path.DenseGraph(((g.nodes.view(batch, n, -1), False),), ((g.edges.view(batch, e, -1), False),),
                                     ((g.globals, False),))
        out = fast_path.graph_network(gn, dense, topo, batch, {})
        return out.nodes[0][0], out.edges[0][0], out.globals[0][0]

    return run


def run_workload(n: int, batch: int, reps: int, device: torch.device, with_pyg: bool) -> dict[str, float]:
    """Graphs/s of each implementation, and the max abs output difference to the generic path."""
    torch.manual_seed(0)
    make = lambda o: (lambda i: mlp(i, [HIDDEN], o))  # noqa: E731
    gn = GraphNetwork(SIZES, make(LATENT), make(LATENT), make(LATENT)).to(device)
    one = chain_graph(n, device)
    g = tile(one, batch)
    dense = dense_gn(gn, one, batch)
    ours = gn(g)
    diffs = []
    x, ea, u = dense(g)
    diffs.append(max((ours.nodes - x.reshape(ours.nodes.shape)).abs().max().item(),
                     (ours.edges - ea.reshape(ours.edges.shape)).abs().max().item(),
                     (ours.globals - u).abs().max().item()))

    def step_ours():
        out = gn(g)
        (out.nodes.sum() + out.edges.sum() + out.globals.sum()).backward()

    def step_dense():
        x, ea, u = dense(g)
        (x.sum() + ea.sum() + u.sum()).backward()

    fns = {"ours": step_ours, "fast": step_dense}
    if with_pyg:
        pyg = build_pyg(gn).to(device)
        edge_index = torch.stack([g.senders, g.receivers])
        node_batch = g.node_graph_index()
        x, ea, u = pyg(g.nodes, edge_index, g.edges, g.globals, node_batch)
        diffs.append(max((ours.nodes - x).abs().max().item(), (ours.edges - ea).abs().max().item(),
                         (ours.globals - u).abs().max().item()))

        def step_pyg():
            x, ea, u = pyg(g.nodes, edge_index, g.edges, g.globals, node_batch)
            (x.sum() + ea.sum() + u.sum()).backward()

        fns["pyg"] = step_pyg
    diff = max(diffs)
    if diff > 1e-5:
        raise RuntimeError(f"outputs disagree by {diff:.2e} (> 1e-5): not the same function")
    t = interleaved(fns, reps, warmup=3)
    return {**{k: batch / v for k, v in t.items()}, "diff": diff}


def main(argv: list[str] | None = None) -> None:
    """Prints configuration, machine, graphs/s of each implementation, and the ratios fast / ours and ours / PyG;
    writes the rows as CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    add_csv_argument(ap, "gn_throughput")
    args = ap.parse_args(argv)
    rows = CSVRows(csv_path(args, "gn_throughput"))
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        import torch_geometric
        pyg_version = torch_geometric.__version__
    except ImportError:  # the optional `bench` extra
        pyg_version = None

    reps = 10 if args.quick else 40
    device = torch.device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}; torch {torch.__version__}, torch_geometric {pyg_version or 'not installed (skipped)'}")
    print(f"config: node/edge/global in {tuple(SIZES)}, MLPs 1x{HIDDEN} hidden -> {LATENT}, "
          f"sum aggregation, forward+backward, median of {reps} interleaved reps")
    print(f"{'workload':42s} {'ours g/s':>12s} {'fast g/s':>12s} {'MetaLayer g/s':>14s} {'fast/ours':>9s} "
          f"{'ours/PyG':>9s} {'max|diff|':>10s}")
    for name, (n, batch) in WORKLOADS.items():
        r = run_workload(n, batch, reps, device, pyg_version is not None)
        pyg = f"{r['pyg']:14.0f}" if "pyg" in r else f"{'-':>14s}"
        ratio = f"{r['ours'] / r['pyg']:9.2f}" if "pyg" in r else f"{'-':>9s}"
        print(f"{name:42s} {r['ours']:12.0f} {r['fast']:12.0f} {pyg} {r['fast'] / r['ours']:9.2f} {ratio} "
              f"{r['diff']:10.1e}")
        rows.add({"workload": name, "ours_graphs_per_s": r["ours"], "fast_graphs_per_s": r["fast"],
                  "metalayer_graphs_per_s": r.get("pyg", ""), "fast_over_ours": r["fast"] / r["ours"],
                  "ours_over_pyg": r["ours"] / r["pyg"] if "pyg" in r else "", "max_abs_diff": r["diff"],
                  "reps": reps, "device": str(device), "threads": torch.get_num_threads(),
                  "torch_geometric": pyg_version or ""})
    rows.save()


if __name__ == "__main__":
    main()
