"""Planning speed: the fixed-topology fast path (gncontrol.forward.fast_path) vs the generic Graph path.

For the cartpole, cheetah and swimmer6 GN forward models (random weights, latent 64, MLP hidden
[64] unless given): ms per model step, forward (no grad) and forward+backward (d/d actions and
states of the rolled-out states), at several batch sizes, for both paths and their ratio; then
the planning workload: forward+backward of planners.base.predicted_return with task.reward over
16 cartpole graphs x 100 steps, as the gradient planner runs it (weights requiring grad as a
loaded model's do, and frozen). Steps are timed inside a T-step rollout (what planners run).
Both paths use the same model; outputs are checked to agree before timing; timings alternate
between the paths (ABAB...) and report medians, so load on the machine hits both alike.

The FLOP count is the MLP matmuls of the model's function (every Linear at its full input width,
x2 FLOPs per multiply-add; backward = 2x forward with weights requiring grad, 1x frozen), and is
compared with this CPU's single-thread sgemm peak, measured in the same run ([4096,128]x[128,128]).

The compiled path (gncontrol.forward.compiled, `plan --compile`): the same forward rollouts (no grad, what
CEM / MPPI / random shooting run) as one torch.compile region per shape; its compile time (the first call)
and its ms per step beside the eager fast path's, timed interleaved with it (`--no-compile` skips it);
then one CEM episode of the demo's cartpole recipe (200 x 4 over 12 decisions x 8 control steps, through
a GN at 8 control steps per model step, random weights) eager and compiled: ms per control step,
real-time factor (control period 10 ms), the compile's share, and whether both planned the same actions.

Gradient MPC episode: 16 restarts x 6 iterations over 12 decisions x 8 through the same kind of GN, the ordinary
planner against its iteration recorded as a CUDA graph and replayed (`GradientConfig.cuda_graph`,
planners.graph_capture): ms per control step and whether both returned the same. On a CPU there is no graph and
the row measures the host-free iteration run eagerly; `--device cuda` runs every section on the GPU (timings
synchronise it) and measures the graph.

    python -m benchmarks.plan_speed --quick        # about a minute
    python -m benchmarks.plan_speed                # batches 1, 16, 256, 4096
    python -m benchmarks.plan_speed --quick --device cuda   # the same on a GPU, with the CUDA-graph planner
Writes benchmarks/results/plan_speed.csv.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import torch

from benchmarks._timing import device_sync, interleaved
from benchmarks.common import RESULTS, write_csv
from envs.tasks import get_task
from gncontrol.forward import fast_path
from gncontrol.forward.graph_forward import ForwardModelConfig, GNForwardModel
from planners.base import predicted_return

SYSTEMS = ["cartpole-swingup", "cheetah-run", "swimmer6"]
OUT = RESULTS / "plan_speed.csv"


def generic(fn):
    """fn run with the fast path switched off."""
    def run():
        with fast_path.generic_path():
            return fn()
    return run


def sgemm_peak(reps: int, device: str = "cpu") -> float:
    """FLOP/s of a [4096,128] x [128,128] float32 matmul on `device` (median; on a CPU with the set threads)."""
    a, b = torch.randn(4096, 128, device=device), torch.randn(128, 128, device=device)
    t = interleaved({"mm": lambda: a @ b}, reps, warmup=3, sync=device_sync(device))["mm"]
    return 2 * 4096 * 128 * 128 / t


def build(task_name: str, latent: int, hidden: tuple[int, ...], seed: int = 0, control_steps: int = 1,
          device: str = "cpu"):
    """(task, MujocoGraph, one-graph GraphSystem, GN model with random weights and default normalisers, state),
    the last three on `device`; `control_steps` k > 1: a model at the decision time step (one model step per k
    control steps)."""
    task = get_task(task_name)
    graph = task.graph()
    system = graph.graph_system()
    s = system.static
    torch.manual_seed(seed)
    model = GNForwardModel(ForwardModelConfig("gn", (s.nodes.shape[1], s.edges.shape[1], s.globals.shape[1]),
                                              latent=latent, hidden=hidden, control_steps=control_steps))
    env = task.make_env(seed=seed)
    env.reset()
    start = torch.as_tensor(graph.body_states(env.physics), dtype=torch.float32)[None]
    return task, graph, system.to(device), model.to(device), start.to(device)


def step_flops(model: GNForwardModel, n: int, e: int, dynamic_only: bool = False) -> int:
    """Forward FLOPs of one model step on one graph: 2 x multiply-adds of every Linear of the five MLPs.

    dynamic_only: without the first layers' static-graph columns, which the fast path computes once
    per rollout (what it actually multiplies per step).
    """
    fv, fe, fu = model.static_sizes
    rows = [(model.gn1.edge_block.edge_model, e, fe + 2 * fv + fu), (model.gn1.node_block.node_model, n, fv + fu),
            (model.gn1.global_block.global_model, 1, fu), (model.gn2[0].edge_model, e, fe + 2 * fv + fu),
            (model.gn2[1].node_model, n, fv + fu)]
    total = 0
    for mlp, r, static in rows:
        linears = [m for m in mlp if isinstance(m, torch.nn.Linear)]
        for i, m in enumerate(linears):
            width = m.in_features - (static if dynamic_only and i == 0 else 0)
            total += 2 * r * width * m.out_features
    return total


def step_rows(task_name, model, graph, system, start, batch, steps, reps):
    """Per-step ms of (fast, generic) forward and forward+backward inside a `steps`-step rollout at `batch`."""
    from gncontrol.dynamics import rollout

    gen = torch.Generator().manual_seed(1)
    states = start.expand(batch, -1, -1).contiguous()
    actions = (torch.rand(batch, steps, graph.action_dim, generator=gen) * 2 - 1).to(start.device)

    def fwd():
        with torch.no_grad():
            return rollout(model, graph.dynamic_graph(states, actions[:, 0]), actions, system)

    def fwd_bwd():
        s = states.clone().requires_grad_(True)
        a = actions.clone().requires_grad_(True)
        out = rollout(model, graph.dynamic_graph(s, a[:, 0]), a, system)
        sum(o.nodes.sum() for o in out).backward()

    fast_out, gen_out = fwd()[-1].nodes, generic(fwd)()[-1].nodes
    diff = float((fast_out - gen_out).abs().max())
    scale = max(1.0, float(gen_out.abs().max()))
    if not diff <= 1e-4 * scale:
        raise RuntimeError(f"{task_name} batch {batch}: fast and generic paths differ by {diff:.2e}")
    t = interleaved({"fast_fwd": fwd, "generic_fwd": generic(fwd), "fast_fb": fwd_bwd,
                     "generic_fb": generic(fwd_bwd)}, reps, sync=device_sync(start.device))
    return {k: v / steps * 1e3 for k, v in t.items()}, diff


def compiled_rows(model, graph, system, start, batch, steps, reps):
    """(compile seconds, {"compiled": ms per step, "fast": ms per step}, max |diff|) of forward-only rollouts."""
    import time

    from gncontrol.dynamics import rollout
    from gncontrol.forward.compiled import compiled

    gen = torch.Generator().manual_seed(1)
    states = start.expand(batch, -1, -1).contiguous()
    actions = (torch.rand(batch, steps, graph.action_dim, generator=gen) * 2 - 1).to(start.device)
    wrapped = compiled(model)

    def run(m):
        def fwd():
            with torch.no_grad():
                return rollout(m, graph.dynamic_graph(states, actions[:, 0]), actions, system)
        return fwd

    t0 = time.perf_counter()
    out = run(wrapped)()[-1].nodes
    seconds = time.perf_counter() - t0
    diff = float((out - run(model)()[-1].nodes).abs().max())
    t = interleaved({"compiled": run(wrapped), "fast": run(model)}, reps, sync=device_sync(start.device))
    return seconds, {k: v / steps * 1e3 for k, v in t.items()}, diff


def cem_episode_rows(latent: int, hidden: tuple[int, ...], steps: int, device: str = "cpu") -> list[dict]:
    """One CEM episode (the demo's cartpole recipe) eager, then compiled twice (the first pays the compile):
    rows of ms per control step, real-time factor and return."""
    import planners
    from gncontrol.forward.compiled import compiled

    task, _, system, model, _ = build("cartpole-swingup", latent, hidden, control_steps=8, device=device)
    model.eval()

    wrapped, rows = compiled(model), []
    for label, m in (("eager", model), ("compiled, first episode (with the compile)", wrapped),
                     ("compiled", wrapped)):
        planner = planners.make("cem", (task.action_low, task.action_high), horizon=12, action_repeat=8, seed=0,
                                iterations=4, samples=200, elites=20, terminal_weight=25.0, device=device)
        rows.append(episode_row(task, planner, m, system, steps, device, f"CEM episode ({label})", 200,
                                "compiled" if m is wrapped else "fast", label))
    return rows


def episode_row(task, planner, model, system, steps: int, device: str, workload: str, batch: int, path: str,
                label: str) -> dict:
    """One `steps`-step episode (env seed 0) of `planner` through `model`, printed under `label`: its CSV row (ms of
    planning per control step, real-time factor, return)."""
    from envs.true_model import TaskEnv
    from planners import run_episode

    res = run_episode(TaskEnv(task, seed=0, device=device), planner, model, task.reward, params=system,
                      max_steps=steps, progress=False)
    ms, ret = 1e3 * res.plan_time_per_step, float(sum(res.rewards))
    rtf = ms / (1e3 * task.control_timestep)
    print(f"  {label:48s} {ms:7.2f} ms per control step (real-time factor {rtf:.2f}), return {ret:.4f}")
    return {"workload": workload, "system": task.name, "batch": batch, "steps": steps, "path": path,
            "plan_ms_per_control_step": round(ms, 2), "real_time_factor": round(rtf, 3), "return": round(ret, 4)}


def gradient_episode_rows(latent: int, hidden: tuple[int, ...], steps: int, device: str = "cpu") -> list[dict]:
    """One gradient-MPC episode (16 restarts x 6 iterations over 12 decisions x 8 control steps, cost-to-go 25,
    through a cartpole GN at 8 control steps per model step, random weights) with the ordinary planner (after one
    unreported warm-up episode), then twice with its iteration as a CUDA graph (`cuda_graph=True`,
    planners.graph_capture; the first episode records it; off a GPU the same host-free iteration runs eagerly):
    rows of ms per control step and return."""
    import planners

    task, _, system, model, _ = build("cartpole-swingup", latent, hidden, control_steps=8, device=device)
    model.eval()
    rows = []
    made = {graph: planners.make("gradient", (task.action_low, task.action_high), horizon=12, action_repeat=8, seed=0,
                                 iterations=6, restarts=16, terminal_weight=25.0, device=device, cuda_graph=graph)
            for graph in (False, True)}
    # a first eager episode warms the process up (first calls, caches) and is not reported; the second graph
    # episode replays what the first recorded
    episode_row(task, made[False], model, system, steps, device, "", 16, "fast", "warm-up (not reported)")
    for label, graph in (("eager", False), ("CUDA graph, first episode (with the recording)", True),
                         ("CUDA graph", True)):
        rows.append(episode_row(task, made[graph], model, system, steps, device, f"gradient MPC episode ({label})",
                                16, "cuda_graph" if graph else "fast", label))
    return rows


def planning(task, model, graph, system, start, batch, steps, reps, frozen: bool, compile_step: bool = False):
    """Seconds of (fast, generic[, compiled]) forward+backward of predicted_return (task.reward), batch x steps;
    compile_step: also the fast path with its fused step compiled (fast_path.compile_step), its first call's
    seconds under "compile_s"."""
    state = graph.dynamic_graph(start, torch.zeros(1, graph.action_dim, device=start.device))
    gen = torch.Generator().manual_seed(2)
    plans = (torch.rand(batch, steps, graph.action_dim, generator=gen) * 2 - 1).to(start.device)
    model.requires_grad_(not frozen)

    def work():
        a = plans.clone().requires_grad_(True)
        ret = predicted_return(model, task.reward, state, a, system)
        ret.sum().backward()
        return ret.detach(), a.grad

    def compiled_work():
        fast_path.compile_step(True)
        try:
            return work()
        finally:
            fast_path.compile_step(False)

    runs = {"fast": work, "generic": generic(work)}
    (rf, gf), (rg, gg) = work(), generic(work)()
    outputs = [(rf, gf)]
    if compile_step:
        start_s = time.perf_counter()
        outputs.append(compiled_work())
        compile_s = time.perf_counter() - start_s
        runs["compiled"] = compiled_work
    diff = max(max(float((r - rg).abs().max()), float((g - gg).abs().max())) for r, g in outputs)
    if not diff <= 1e-4 * max(1.0, float(rg.abs().max()), float(gg.abs().max())):
        raise RuntimeError(f"planning: fast / compiled and generic returns/gradients differ by {diff:.2e}")
    t = interleaved(runs, reps, sync=device_sync(start.device))
    if compile_step:
        t["compile_s"] = compile_s
    model.requires_grad_(True)
    return t, diff


def main(argv: list[str] | None = None) -> None:
    """Prints configuration, machine, per-step and planning timings; writes the CSV."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="batches 1, 16, 256 and fewer repetitions")
    ap.add_argument("--systems", nargs="+", default=SYSTEMS)
    ap.add_argument("--batches", nargs="+", type=int, default=None)
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--hidden", nargs="+", type=int, default=[64])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--reps", type=int, default=None, help="timed repetitions per measurement")
    ap.add_argument("--plan-batch", type=int, default=16)
    ap.add_argument("--plan-steps", type=int, default=100)
    ap.add_argument("--no-compile", dest="compile", action="store_false", help="skip the compiled path's rows")
    ap.add_argument("--device", default="cpu", help="cpu or cuda: where the models run (on cuda also the gradient "
                    "planner's CUDA-graph episode); timings synchronise the device")
    ap.add_argument("--csv", "--out", dest="out", metavar="PATH", type=Path, default=OUT,
                    help="rows CSV, relative to benchmarks/results/ unless absolute (default: plan_speed.csv)")
    args = ap.parse_args(argv)
    try:
        device = str(torch.device(args.device))
    except RuntimeError:
        raise SystemExit(f"--device must be a torch device such as cpu or cuda, got {args.device!r}") from None
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device is visible to torch here")
    torch.set_num_threads(args.threads)
    batches = args.batches or ([1, 16, 256] if args.quick else [1, 16, 256, 4096])
    reps = args.reps or (3 if args.quick else 7)
    hidden = tuple(args.hidden)

    peak = sgemm_peak(max(reps, 5), device)
    on_gpu = device.startswith("cuda")
    where = torch.cuda.get_device_name(device) if on_gpu else f"{torch.get_num_threads()} torch thread(s)"
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"device {device} ({where}); sgemm peak {peak / 1e9:.1f} GFLOP/s ([4096,128]x[128,128])")
    print(f"config: GN forward models, random weights, default normalisers, latent {args.latent}, MLP hidden "
          f"{list(hidden)}, float32; per-step times = a rollout's time / its steps (20; 5 at B > 256); median of "
          f"{reps} interleaved reps")
    rows = []
    print(f"\n{'system':18s} {'B':>5s} {'fwd gen ms':>10s} {'fwd fast':>9s} {'ratio':>6s} "
          f"{'f+b gen ms':>10s} {'f+b fast':>9s} {'ratio':>6s} {'f+b fast GFLOP/s':>16s} {'%peak':>6s}")
    print("(GFLOP/s, %peak: the model's nominal MLP FLOPs, forward+backward = 3x forward, over the fast path's time)")
    for name in args.systems:
        task, graph, system, model, start = build(name, args.latent, hidden, device=device)
        flops = step_flops(model, graph.num_nodes, graph.num_edges)
        for b in batches:
            steps = 20 if b <= 256 else 5  # a short planning horizon (the gradient planner's default is 20)
            t, diff = step_rows(name, model, graph, system, start, b, steps, reps)
            fb_rate = 3 * flops * b / (t["fast_fb"] / 1e3)
            print(f"{name:18s} {b:5d} {t['generic_fwd']:10.3f} {t['fast_fwd']:9.3f} "
                  f"{t['generic_fwd'] / t['fast_fwd']:6.2f} {t['generic_fb']:10.3f} {t['fast_fb']:9.3f} "
                  f"{t['generic_fb'] / t['fast_fb']:6.2f} {fb_rate / 1e9:16.2f} {100 * fb_rate / peak:6.1f}")
            for path in ("generic", "fast"):
                rows.append({"workload": "step", "system": name, "batch": b, "steps": steps, "path": path,
                             "fwd_ms": round(t[f"{path}_fwd"], 4), "fwd_bwd_ms": round(t[f"{path}_fb"], 4),
                             "ratio_fwd": round(t["generic_fwd"] / t["fast_fwd"], 3),
                             "ratio_fwd_bwd": round(t["generic_fb"] / t["fast_fb"], 3),
                             "flops_fwd_bwd": 3 * flops * b, "max_abs_diff": f"{diff:.1e}"})

    if args.compile:
        print("\ncompiled forward rollouts (no grad, as the sampling planners run them) vs the eager fast path")
        print(f"{'system':18s} {'B':>5s} {'compile s':>9s} {'fast ms':>8s} {'compiled':>9s} {'ratio':>6s} "
              f"{'vs generic':>10s}")
        for name in args.systems:
            task, graph, system, model, start = build(name, args.latent, hidden, device=device)
            for b in batches:
                steps = 20 if b <= 256 else 5
                seconds, t, diff = compiled_rows(model, graph, system, start, b, steps, reps)
                if not diff <= 1e-4 * max(1.0, float(start.abs().max())):
                    raise RuntimeError(f"{name} batch {b}: compiled and eager rollouts differ by {diff:.2e}")
                generic_ms = next(r["fwd_ms"] for r in rows if r["workload"] == "step" and r["system"] == name
                                  and r["batch"] == b and r["path"] == "generic")
                print(f"{name:18s} {b:5d} {seconds:9.1f} {t['fast']:8.3f} {t['compiled']:9.3f} "
                      f"{t['fast'] / t['compiled']:6.2f} {generic_ms / t['compiled']:10.2f}")
                rows.append({"workload": "step (compiled, forward)", "system": name, "batch": b, "steps": steps,
                             "path": "compiled", "fwd_ms": round(t["compiled"], 4), "fwd_bwd_ms": "",
                             "ratio_fwd": round(generic_ms / t["compiled"], 3), "ratio_fwd_bwd": "",
                             "flops_fwd_bwd": "", "max_abs_diff": f"{diff:.1e}", "compile_s": round(seconds, 1),
                             "ratio_to_fast": round(t["fast"] / t["compiled"], 3)})

        steps = 200 if args.quick else 1000
        print(f"\nCEM episode, cartpole-swingup, 200 x 4 over 12 decisions x 8 (a GN at 8 control steps per model "
              f"step), {steps} control steps")
        episode = cem_episode_rows(args.latent, hidden, steps, device)
        same = episode[0]["return"] == episode[2]["return"]
        speedup = episode[0]["plan_ms_per_control_step"] / episode[2]["plan_ms_per_control_step"]
        print(f"  compiled / eager: {speedup:.2f}x per control step; same return: {same}")
        rows += episode

    steps = 200 if args.quick else 1000
    print(f"\ngradient MPC episode, cartpole-swingup, 16 restarts x 6 iterations over 12 decisions x 8 (a GN at 8 "
          f"control steps per model step), {steps} control steps: the ordinary planner vs its iteration as a CUDA "
          f"graph{'' if device.startswith('cuda') else ' (no GPU here: the same host-free iteration, eagerly)'}")
    episode = gradient_episode_rows(args.latent, hidden, steps, device)
    speedup = episode[0]["plan_ms_per_control_step"] / episode[2]["plan_ms_per_control_step"]
    same = abs(episode[0]["return"] - episode[2]["return"]) <= 1e-3 * max(1.0, abs(episode[0]["return"]))
    print(f"  CUDA graph / eager: {speedup:.2f}x per control step; same return: {same}")
    rows += episode

    task, graph, system, model, start = build("cartpole-swingup", args.latent, hidden, device=device)
    per_run = args.plan_batch * args.plan_steps
    flops = step_flops(model, graph.num_nodes, graph.num_edges) * per_run
    dyn = step_flops(model, graph.num_nodes, graph.num_edges, dynamic_only=True) * per_run
    print(f"\nplanning workload: forward+backward of predicted_return (task.reward), {args.plan_batch} cartpole "
          f"graphs x {args.plan_steps} steps; MLP matmul FLOPs forward {flops / 1e6:.1f} M (the model's function), "
          f"{dyn / 1e6:.1f} M without the static columns the fast path computes once")
    for frozen in (False, True):
        t, diff = planning(task, model, graph, system, start, args.plan_batch, args.plan_steps, reps, frozen,
                           compile_step=args.compile)
        k = 2 if frozen else 3  # backward: grad of inputs (+ grad of weights)
        total = flops * k
        label = "weights frozen" if frozen else "weights require grad"
        ratio = t["generic"] / t["fast"]
        print(f"  {label:22s} generic {t['generic'] * 1e3:8.1f} ms   fast {t['fast'] * 1e3:8.1f} ms  ratio {ratio:5.2f}"
              f"   max|diff| {diff:.1e}")
        print(f"  {'':22s} FLOP floor at sgemm peak: {total / peak * 1e3:.1f} ms (the function), "
              f"{dyn * k / peak * 1e3:.1f} ms (fast path's own matmuls); the fast path runs at "
              f"{100 * total / t['fast'] / peak:.1f}% / {100 * dyn * k / t['fast'] / peak:.1f}% of peak, "
              f"the generic at {100 * total / t['generic'] / peak:.1f}%")
        if "compiled" in t:
            print(f"  {'':22s} compiled fused step (fast_path.compile_step) {t['compiled'] * 1e3:8.1f} ms  ratio "
                  f"{t['generic'] / t['compiled']:5.2f} to the generic path, {t['fast'] / t['compiled']:5.2f} to the "
                  f"eager fast path; first call (with the compile) {t['compile_s']:.1f} s")
        for path in [p for p in ("generic", "fast", "compiled") if p in t]:
            rows.append({"workload": f"plan ({label})", "system": "cartpole-swingup", "batch": args.plan_batch,
                         "steps": args.plan_steps, "path": path, "fwd_ms": "",
                         "fwd_bwd_ms": round(t[path] * 1e3, 3), "ratio_fwd": "",
                         "ratio_fwd_bwd": round(t["generic"] / t[path], 3), "flops_fwd_bwd": total,
                         "max_abs_diff": f"{diff:.1e}",
                         "compile_s": round(t["compile_s"], 1) if path == "compiled" else ""})
    write_csv(args.out, rows)
    print(f"\nwrote {args.out} (sgemm peak {peak / 1e9:.1f} GFLOP/s, {torch.get_num_threads()} thread(s))")


if __name__ == "__main__":
    main()
