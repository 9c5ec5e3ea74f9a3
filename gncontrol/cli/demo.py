"""`gncontrol demo`: the main job end to end on one task (default cartpole-swingup).

collect random-control data -> train the GN forward model -> evaluate it against the
constant baseline -> gradient MPC through the learned model in the real environment, and a
random policy on the same episode for comparison. Writes to OUT: data.h5, model/ (checkpoint
and TensorBoard logs), rollout_<task>.png, episode.gif, returns.png, summary.json.
Re-running with the same OUT reuses the data and resumes training where it stopped.
"""

from __future__ import annotations

import argparse
import json
import time

from gncontrol.cli._common import add_config_argument
from gncontrol.cli._mpc import add_planner_arguments
from gncontrol.cli._options import DEVICE_FORMS, device, nonnegative_int, positive_int
from gncontrol.errors import InputError

HELP = "collect data, train a GN model, evaluate it and run gradient MPC with it (the main job)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol demo` (defaults: about 10 minutes on a 2-core CPU)."""
    add_config_argument(p)
    p.add_argument("--task", default="cartpole-swingup")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--episodes", type=positive_int, default=100, help="random-control episodes to collect")
    p.add_argument("--episode-steps", type=positive_int, default=500, help="control steps per collected episode")
    p.add_argument("--controller", default="ou", choices=["uniform", "ou"],
                   help="random controls for the data (ou: temporally correlated, reaches more states)")
    p.add_argument("--train-steps", type=positive_int, default=4000,
                   help="training steps in total (a re-run with the same OUT resumes towards this)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--latent", type=positive_int, default=64)
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[64])
    add_planner_arguments(p)
    p.add_argument("--mpc-steps", type=positive_int, default=None, help="control steps of the MPC episode "
                   "(default: the task's episode length)")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1: the demo's graphs are small, and extra OpenMP threads "
                   "slow small ops down, badly so on a busy machine)")


RECIPE = "demo_recipe.json"
DATA_OPTIONS = ("task", "episodes", "episode_steps", "controller", "seed")
MODEL_OPTIONS = ("latent", "hidden", "batch_size")


def check_reuse(out, args: argparse.Namespace) -> None:
    """Refuses to reuse OUT's data and model when they were made with other options; records them otherwise.

    Why: a re-run into the same OUT with another --task (or sizes) would otherwise train on the old
    task's data or die in a size-mismatch traceback. --train-steps may grow (training resumes).
    """
    wanted = {k: getattr(args, k) for k in DATA_OPTIONS + MODEL_OPTIONS}
    path = out / RECIPE
    if path.is_file():
        try:
            had = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise InputError(f"{path} is corrupt: remove it with the rest of {out}, or use another --out") from None
        differ = [f"--{k.replace('_', '-')} {had.get(k)!r} -> {wanted[k]!r}" for k in wanted if had.get(k) != wanted[k]]
        if differ:
            raise InputError(f"{out} holds a demo made with other options ({'; '.join(differ)}): use another --out, "
                             f"or remove {out} to start fresh")
    elif (out / "data.h5").exists() or (out / "model" / "model.pt").exists():
        raise InputError(f"{out} holds demo data or a model but no {RECIPE} saying how they were made: use "
                         f"another --out, or remove {out} to start fresh")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2))


def run(args: argparse.Namespace) -> int:
    """Runs the whole pipeline and prints a closing summary."""
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from envs.collect import collect
    from envs.tasks import get_task, random_policy_return
    from envs.true_model import TaskEnv
    from gncontrol.cli._common import check_output_dir, load_systems, resolve_device
    from gncontrol.cli._mpc import (
        frame_recorder,
        make_planner,
        plot_returns,
        save_gif,
    )
    from gncontrol.cli.train import model_config_for
    from gncontrol.forward_metrics import rollout_errors
    from gncontrol.models.graph_forward import ConstantModel
    from gncontrol.plots import plot_rollout
    from gncontrol.training import TrainConfig, train_forward_model
    from planners import run_episode

    out = check_output_dir(args.out, "--out")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    task = get_task(args.task)
    out.mkdir(parents=True, exist_ok=True)
    t_start = time.time()
    timings: dict[str, float] = {}

    check_reuse(out, args)

    # 1. data
    data_path = out / "data.h5"
    t0 = time.time()
    if data_path.exists():
        print(f"[1/4] reusing {data_path} (same task, episodes, steps, controller and seed: {out / RECIPE})")
    else:
        print(f"[1/4] collecting {args.episodes} episodes x {args.episode_steps} steps of {args.task} "
              f"({args.controller} random controls)")
        collect(args.task, args.episodes, steps=args.episode_steps, controller=args.controller,
                seed=args.seed, out=data_path)
    timings["collect_s"] = time.time() - t0
    (system_data,) = load_systems([str(data_path)])
    train_set, val_set = system_data.split(0.1)

    # 2. model
    t0 = time.time()
    print(f"[2/4] training the GN forward model for {args.train_steps} steps on {device}")
    cfg = model_config_for("gn", args.latent, args.hidden, [system_data])
    train_cfg = TrainConfig(steps=args.train_steps, batch_size=args.batch_size, lr=1e-3, lr_final=1e-4,
                            val_every=max(1, args.train_steps // 4), seed=args.seed,
                            checkpoint_every=max(1, args.train_steps // 4))
    model = train_forward_model(cfg, [train_set], [val_set], train_cfg, out / "model", device=device,
                                resume=True, metadata={"data": str(data_path)}).eval()
    timings["train_s"] = time.time() - t0

    # 3. evaluation against the constant baseline
    t0 = time.time()
    print("[3/4] evaluating on held-out episodes (error relative to the constant model)")
    errors = {}
    horizons = sorted({min(h, val_set.episode_length) for h in (1, 20, 100)})  # what the episodes allow
    for h in horizons:
        errors[h] = rollout_errors(model, val_set, h, starts_per_episode=4, device=device)["mean"]
        print(f"      {h:3d}-step normalised error: GN {errors[h]:.4f}   (constant model: "
              f"{rollout_errors(ConstantModel(), val_set, h, 1)['mean']:.1f})")
    plot = plot_rollout(model, val_set, min(100, val_set.episode_length), out / f"rollout_{args.task}.png",
                        device)
    timings["evaluate_s"] = time.time() - t0

    # 4. MPC in the real environment
    t0 = time.time()
    steps = args.mpc_steps or task.episode_length
    params = task.graph().graph_system(device)
    env = TaskEnv(task, seed=args.seed + 1, device=device)
    planner = make_planner(args.planner, task, args, device)
    print(f"[4/4] {args.planner} MPC with the learned model for {steps} control steps "
          f"(horizon {args.horizon} x repeat {args.action_repeat})")
    frames_every = 2
    writer = SummaryWriter(str(out / "tb_mpc"))
    result = run_episode(env, planner, model, task.reward, params=params, max_steps=steps, writer=writer,
                         render=None if args.no_video else frame_recorder(env, frames_every), tag=f"mpc/{args.task}")
    writer.close()
    timings["mpc_s"] = time.time() - t0
    random_return = random_policy_return(task, steps, args.seed + 1)
    frames = [f for f in result.frames if f is not None]
    video = save_gif(frames, out / "episode.gif", fps=int(round(1 / task.control_timestep / frames_every))) \
        if frames else None
    returns_plot = plot_returns(result.rewards, random_return, out / "returns.png",
                                f"{args.planner} MPC, learned GN model")

    summary = {
        "task": args.task, "planner": args.planner, "device": str(device),
        **{("one_step_error" if h == 1 else f"rollout_{h}_error"): e for h, e in errors.items()},
        "mpc_return": result.episode_return, "random_return": random_return,
        "return_ratio_vs_random": result.episode_return / max(random_return, 1e-9),
        "mpc_steps": result.steps, "plan_time_per_step_s": result.plan_time_per_step,
        "control_period_s": task.control_timestep,
        "real_time_factor": result.plan_time_per_step / task.control_timestep,
        "timings_s": timings, "total_s": time.time() - t_start,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print("\n=== gncontrol demo summary ===")
    print(f"task {args.task}, planner {args.planner}, total {summary['total_s'] / 60:.1f} min")
    print("forward model (held-out, relative to constant model = 1): "
          + ", ".join(f"{h}-step {e:.4f}" for h, e in errors.items()))
    print(f"return over {result.steps} steps: MPC {result.episode_return:.1f} vs random policy "
          f"{random_return:.1f} ({summary['return_ratio_vs_random']:.1f}x)")
    print(f"planning time per control step {result.plan_time_per_step * 1000:.0f} ms "
          f"({summary['real_time_factor']:.1f}x the {task.control_timestep * 1000:.0f} ms control period)")
    print(f"outputs in {out}/: summary.json, {plot.name}, {returns_plot.name}"
          + (f", {video.name}" if video else "") + ", model/tb and tb_mpc (tensorboard --logdir "
          f"{out})")
    return 0
