"""Forward+backward throughput of gncontrol's GraphNetwork vs PyTorch Geometric's MetaLayer.

Both compute the same function with the SAME weights (the MLP modules are shared):
    e' = phi_e([e, v_receiver, v_sender, u])
    v' = phi_v([sum of received e', v, u])
    u' = phi_u([sum of e', sum of v', u])
Outputs are checked to agree to 1e-5 before timing. Timings alternate between the two
implementations (ABAB...) and report medians, so load on the machine hits both alike.

    python benchmarks/gn_throughput.py            # both workloads
    python benchmarks/gn_throughput.py --quick    # fewer repetitions
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch
from torch import nn

from gncontrol.blocks import GraphSizes
from gncontrol.graphs import Graph, tile
from gncontrol.modules import GraphNetwork
from gncontrol.nn import mlp

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


def time_interleaved(fns: dict, reps: int, warmup: int = 3) -> dict[str, float]:
    """Median seconds per call of each function, calls alternating between them."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def run_workload(n: int, batch: int, reps: int, device: torch.device) -> tuple[float, float, float]:
    """Returns (ours graphs/s, pyg graphs/s, max abs output difference)."""
    torch.manual_seed(0)
    make = lambda o: (lambda i: mlp(i, [HIDDEN], o))  # noqa: E731
    gn = GraphNetwork(SIZES, make(LATENT), make(LATENT), make(LATENT)).to(device)
    pyg = build_pyg(gn).to(device)
    g = tile(chain_graph(n, device), batch)
    edge_index = torch.stack([g.senders, g.receivers])
    node_batch = g.node_graph_index()

    ours = gn(g)
    x, ea, u = pyg(g.nodes, edge_index, g.edges, g.globals, node_batch)
    diff = max((ours.nodes - x).abs().max().item(), (ours.edges - ea).abs().max().item(),
               (ours.globals - u).abs().max().item())
    if diff > 1e-5:
        raise RuntimeError(f"outputs disagree by {diff:.2e} (> 1e-5): not the same function")

    def step_ours():
        out = gn(g)
        (out.nodes.sum() + out.edges.sum() + out.globals.sum()).backward()

    def step_pyg():
        x, ea, u = pyg(g.nodes, edge_index, g.edges, g.globals, node_batch)
        (x.sum() + ea.sum() + u.sum()).backward()

    t = time_interleaved({"ours": step_ours, "pyg": step_pyg}, reps)
    return batch / t["ours"], batch / t["pyg"], diff


def main() -> None:
    """Prints configuration, machine, graphs/s of both, and the ratio ours / PyG."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repetitions")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import torch_geometric

    reps = 10 if args.quick else 40
    device = torch.device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"device {device}; torch {torch.__version__}, torch_geometric {torch_geometric.__version__}")
    print(f"config: node/edge/global in {tuple(SIZES)}, MLPs 1x{HIDDEN} hidden -> {LATENT}, "
          f"sum aggregation, forward+backward, median of {reps} interleaved reps")
    print(f"{'workload':42s} {'ours g/s':>12s} {'MetaLayer g/s':>14s} {'ratio':>7s} {'max|diff|':>10s}")
    for name, (n, batch) in WORKLOADS.items():
        ours, pyg, diff = run_workload(n, batch, reps, device)
        print(f"{name:42s} {ours:12.0f} {pyg:14.0f} {ours / pyg:7.2f} {diff:10.1e}")


if __name__ == "__main__":
    main()
