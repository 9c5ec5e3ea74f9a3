"""MPC pieces shared by `gncontrol plan` and `gncontrol demo`: planner factory, baselines, outputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gncontrol.cli._options import LR_MAX, fraction, learning_rate, nonnegative_float, nonnegative_int, positive_int

__all__ = ["add_planner_arguments", "make_planner", "save_gif", "plot_returns", "frame_recorder"]


def add_planner_arguments(p: argparse.ArgumentParser, horizon: int = 12, iterations: int = 8) -> None:
    """Planner options common to the commands that run MPC."""
    p.add_argument("--planner", default="gradient", choices=["gradient", "cem", "mppi", "random", "mcts"])
    p.add_argument("--horizon", type=positive_int, default=horizon, help="planned decisions")
    p.add_argument("--action-repeat", type=positive_int, default=4, help="control steps each decision is held")
    p.add_argument("--iterations", type=positive_int, default=iterations,
                   help="optimisation steps per replanning (gradient, cem, mppi)")
    p.add_argument("--restarts", type=positive_int, default=4, help="gradient planner: plans optimised together")
    p.add_argument("--plan-lr", type=learning_rate, default=0.1, help="gradient planner: Adam step size (on the "
                   f"pre-squash plan variables), in (0, {LR_MAX:g}]")
    p.add_argument("--warm-restarts", type=nonnegative_int, default=0, help="gradient planner: restarts started "
                   "from the warm-start plan plus Gaussian noise (--warm-noise half-ranges) instead of uniform random "
                   "plans, in [0, --restarts) (0: none)")
    p.add_argument("--warm-noise", type=nonnegative_float, default=0.2,
                   help="gradient planner: noise std of the warm restarts, in half-ranges, >= 0 (0: exact copies)")
    p.add_argument("--no-warm-start", dest="warm_start", action="store_false",
                   help="gradient planner: every replanning starts cold (restart 0 at the box centre) instead of "
                   "from the previous plan shifted by one decision")
    p.add_argument("--smoothness", type=nonnegative_float, default=0.0,
                   help="gradient planner: weight of the action-rate penalty (squared changes between decisions), "
                   ">= 0 (0: off)")
    p.add_argument("--action-noise", type=nonnegative_float, default=0.0,
                   help="gradient planner: robust objective, the mean return over --noise-samples copies of each "
                   "plan with Gaussian action noise of this many half-ranges, >= 0 (0: off)")
    p.add_argument("--noise-samples", type=positive_int, default=4,
                   help="gradient planner: noisy copies per plan with --action-noise")
    p.add_argument("--terminal-weight", type=nonnegative_float, default=0.0,
                   help="gradient and CEM planners: add this many times the last step's reward (a cost-to-go "
                   "beyond the horizon), >= 0 (0: off)")
    p.add_argument("--cuda-graph", action="store_true",
                   help="gradient planner: record one iteration (rollout, backward, Adam step) as a CUDA graph once "
                   "and replay it, with no host sync between iterations (planners.graph_capture; recorded again when "
                   "the weights change); without a CUDA device the same iteration runs eagerly")
    p.add_argument("--samples", type=positive_int, default=None,
                   help="sampling planners: action sequences per iteration (default: the planner's)")
    p.add_argument("--keep-elites", type=fraction(hi_open=False), default=0.0,
                   help="CEM (iCEM): this fraction of the elites joins the next iteration's population and, "
                   "shifted by one decision, the next control step's, in [0, 1] (0: off)")
    p.add_argument("--noise-beta", type=nonnegative_float, default=0.0,
                   help="CEM (iCEM): colored sampling noise along the horizon, power ~ 1/f**beta, >= 0 (0: white; "
                   "iCEM uses 2-2.5 on locomotion)")


def make_planner(name: str, task, args: argparse.Namespace, device):
    """A planner of the given kind from the command's options (`planners.make`; --samples sizes the
    sampling planners' populations and MCTS's expansions)."""
    import planners

    return planners.make(name, (task.action_low, task.action_high), horizon=args.horizon,
                         action_repeat=args.action_repeat, seed=args.seed, device=device, iterations=args.iterations,
                         samples=args.samples, restarts=args.restarts, lr=args.plan_lr, smoothness=args.smoothness,
                         warm_restarts=args.warm_restarts, warm_noise=args.warm_noise,
                         action_noise=args.action_noise, noise_samples=args.noise_samples,
                         warm_start=args.warm_start, terminal_weight=args.terminal_weight,
                         keep_elites=args.keep_elites, noise_beta=args.noise_beta, cuda_graph=args.cuda_graph)


def save_gif(frames, path: Path, fps: int) -> Path | None:
    """Writes frames [H, W, 3] as an animated GIF (imageio); None if imageio is missing."""
    try:
        import imageio.v2 as imageio
    except ImportError:  # pragma: no cover - gymnasium[mujoco] brings imageio
        return None
    imageio.mimsave(path, frames, duration=1000 / fps, loop=0)
    return path


def plot_returns(mpc_rewards: list[float], random_return: float, path: Path, label: str) -> Path:
    """Cumulative reward of the MPC episode beside the random policy's final return."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(np.cumsum(mpc_rewards), label=label)
    ax.axhline(random_return, color="gray", ls="--", label="random policy (final return)")
    ax.set_xlabel("control step")
    ax.set_ylabel("cumulative reward")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def frame_recorder(env, every: int = 2, size: int = 96):
    """A render callback for planners.run_episode that keeps every `every`-th frame (else None)."""
    counter = {"t": 0}

    def render():
        counter["t"] += 1
        return env.render(size) if counter["t"] % every == 0 else None

    return render
