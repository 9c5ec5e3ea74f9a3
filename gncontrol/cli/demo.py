"""`gncontrol demo`: the main job end to end on one task (default cartpole-swingup), as an online
model-based loop whose progress a user can follow.

    random-control data (from the task's start, plus near-upright starts where the task has a
    same-body balance task) -> a GN forward model -> rounds of {an MPC episode in the real
    environment through the current model; that episode added to the data; the model
    fine-tuned}, with the planner recipe measured for the task (DEMO_RECIPES).

No true-simulator data enters the model. Each round prints its return and the env steps used
so far; the closing summary (and OUT/summary.json) gives the return per round, the final
return (the last round's episode), random actions' return and the true-model CEM's return on
the same episode seed (measured in the same run; --no-reference skips it), env steps, plan
time per control step, real-time factor and wall time per phase. Writes to OUT: model.pt (the
final model: `gncontrol plan --model OUT/model.pt` uses it), summary.json, returns.png (return
per round; the final episode's reward over time beside the true-model planner's),
rollout_<task>.png, episode.gif, tb/ (TensorBoard).
"""

from __future__ import annotations

import argparse
import json
import time

from gncontrol.cli._common import add_config_argument, file_stem
from gncontrol.cli._mpc import add_planner_arguments
from gncontrol.cli._options import DEVICE_FORMS, device, nonnegative_int, positive_int
from gncontrol.errors import InputError

HELP = "the main job: random data, a GN model, rounds of MPC episodes that refine it, vs the true-model planner"

# Per-task defaults of the online loop and its planner (flags override them), measured (benchmarks/RESULTS.md,
# control table): cartpole, CEM 200 x 4 with a 1 s horizon and cost-to-go through a model at the decision time
# step (8 control steps per model step), 5 rounds: seeds 0-2 847.6 / 844.0 / 803.9 (after 3 rounds 852.8 / 634.5
# / 823.7) at 9 ms per control step on an idle core (the per-control-step model, horizon 25 x 4: 817.2 / 703.3 /
# 659.4 at 106-138 ms; gradient MPC 16 x 6: 497.7);
# pendulum, CEM 200 x 4 with a 1 s horizon on the smooth reward, 931 (ratio 1.01; gradient MPC 10 x 4: 739);
# cheetah, CEM 64 x 2 over 8 decisions x 4 through a model at 4 control steps per step trained on its own 4-step
# rollouts: 394.6 / 277.0 / 100.6 over seeds 0-2 (the one-step loss: 148.1 / 203.3 / 33.6) at 10 ms per control step;
# acrobot, cartpole's recipe without the balance data
# (CEM 200 x 4 over 12 decisions x 8, cost-to-go 25): 90.2 (75x random, 0.20 of the true-model CEM; gradient
# MPC 25 x 4: 0.9).
DEMO_RECIPES: dict[str, dict] = {
    "cartpole-swingup": dict(extra_data_tasks=("cartpole-balance",), planner="cem", samples=200, horizon=12,
                             action_repeat=8, control_steps=8, episodes=100, train_steps=8000, restarts=16,
                             iterations=4, terminal_weight=25.0, rounds=5, plan_reward=None),
    "pendulum-swingup": dict(extra_data_tasks=(), planner="cem", samples=200, horizon=25, action_repeat=4,
                             restarts=4, iterations=4, terminal_weight=0.0, rounds=2,
                             plan_reward="pendulum-swingup-smooth"),
    "acrobot-swingup": dict(extra_data_tasks=(), planner="cem", samples=200, horizon=12, action_repeat=8,
                            control_steps=8, episodes=100, train_steps=8000, restarts=8, iterations=4,
                            terminal_weight=25.0, rounds=2, plan_reward=None),
    "cheetah-run": dict(extra_data_tasks=(), planner="cem", samples=64, horizon=8, action_repeat=4, control_steps=4,
                        episodes=100, train_steps=8000, restarts=4, iterations=2, terminal_weight=0.0, rounds=2,
                        plan_reward=None, rollout_steps=4),
}
FALLBACK_RECIPE = dict(extra_data_tasks=(), horizon=12, action_repeat=4, restarts=4, iterations=8,
                       terminal_weight=0.0, rounds=2, plan_reward=None)
RECIPE_FILE = "demo_recipe.json"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol demo` (planner defaults come from the task's DEMO_RECIPES entry)."""
    add_config_argument(p)
    p.add_argument("--task", default="cartpole-swingup", help=f"task; tuned recipes: {', '.join(DEMO_RECIPES)}")
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--episodes", type=positive_int, default=None,
                   help="random-control episodes to collect (per start: the task's and the balance task's; "
                   "default: the recipe's, else 20)")
    p.add_argument("--episode-steps", type=positive_int, default=500, help="control steps per random episode")
    p.add_argument("--train-steps", type=positive_int, default=None,
                   help="training steps on the random data (default: the recipe's, else 4000)")
    p.add_argument("--finetune-steps", type=positive_int, default=1500,
                   help="fine-tuning steps after each round, on all data so far")
    p.add_argument("--rounds", type=positive_int, default=None,
                   help="MPC episodes in the real environment; the last is the final return (default: the recipe's)")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument("--latent", type=positive_int, default=64)
    p.add_argument("--hidden", type=positive_int, nargs="+", default=[64])
    add_planner_arguments(p)
    p.set_defaults(planner=None, horizon=None, action_repeat=None, iterations=None, restarts=None,
                   terminal_weight=None, plan_lr=None, keep_elites=None, noise_beta=None)
    p.add_argument("--control-steps", type=positive_int, default=None,
                   help="control steps per model step: k > 1 learns a model at the decision time step from random "
                   "controls held k steps (action repeat a multiple of k; default: the recipe's)")
    p.add_argument("--rollout-steps", type=positive_int, default=None,
                   help="train and fine-tune the GN on the error of its own rollout over this many model steps "
                   "(`gncontrol train --rollout-steps`; 1: the one-step loss; default: the recipe's, else 1)")
    p.add_argument("--mpc-steps", type=positive_int, default=None, help="control steps of each MPC episode "
                   "(default: the task's episode length)")
    p.add_argument("--no-reference", action="store_true", help="skip the true-model CEM episode")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed of the data, model and env episodes (>= 0)")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")
    p.add_argument("--threads", type=positive_int, default=1,
                   help="torch CPU threads (1: the demo's graphs are small, and extra OpenMP threads "
                   "slow small ops down, badly so on a busy machine)")


def recipe_for(args: argparse.Namespace) -> dict:
    """The task's DEMO_RECIPES entry with the user's flags (those not None) applied on top."""
    recipe = dict(DEMO_RECIPES.get(args.task.removeprefix("dmc:"), FALLBACK_RECIPE))  # dmc:cartpole-swingup too
    recipe.setdefault("planner", "gradient")
    recipe.setdefault("samples", None)
    recipe.setdefault("plan_lr", 0.1)
    recipe.setdefault("control_steps", 1)
    recipe.setdefault("episodes", 20)
    recipe.setdefault("train_steps", 4000)
    recipe.setdefault("rollout_steps", 1)
    recipe.setdefault("keep_elites", 0.0)
    recipe.setdefault("noise_beta", 0.0)
    for key in ("planner", "samples", "horizon", "action_repeat", "iterations", "restarts", "terminal_weight",
                "rounds", "plan_lr", "control_steps", "episodes", "train_steps", "rollout_steps", "keep_elites",
                "noise_beta"):
        if getattr(args, key, None) is not None:
            recipe[key] = getattr(args, key)
    return recipe


def agent_config(args: argparse.Namespace, recipe: dict, mpc_steps: int) -> object:
    """The online MPC agent's config (agents.mpc_agent.MPCAgentConfig) of the demo's options and recipe."""
    from agents.mpc_agent import MPCAgentConfig

    return MPCAgentConfig(
        task=args.task, random_episodes=recipe["episodes"], extra_data_tasks=tuple(recipe["extra_data_tasks"]),
        episode_steps=args.episode_steps, mpc_steps=mpc_steps, episode_seed=args.seed,
        plan_reward=recipe["plan_reward"], iterations=recipe["rounds"], train_steps=recipe["train_steps"],
        finetune_steps=args.finetune_steps, batch_size=args.batch_size, latent=args.latent,
        hidden=tuple(args.hidden), planner=recipe["planner"], horizon=recipe["horizon"],
        action_repeat=recipe["action_repeat"], plan_iterations=recipe["iterations"],
        restarts=recipe["restarts"], plan_lr=recipe["plan_lr"], terminal_weight=recipe["terminal_weight"],
        population=recipe["samples"] or 200, elites=max(2, (recipe["samples"] or 200) // 10),
        control_steps=recipe["control_steps"], rollout_steps=recipe["rollout_steps"], keep_elites=recipe["keep_elites"],
        noise_beta=recipe["noise_beta"], cuda_graph=args.cuda_graph, seed=args.seed)


def check_out(out, wanted: dict, defaults: dict | None = None) -> None:
    """Refuses an OUT that holds another demo (other options), so one demo never overwrites another's
    results by accident; records the options otherwise. The same options re-run fresh into OUT.
    `defaults`: the value an option added since OUT was written had then."""
    path = out / RECIPE_FILE
    if path.is_file():
        try:
            had = json.loads(path.read_text())
        except json.JSONDecodeError:
            raise InputError(f"{path} is corrupt: remove it with the rest of {out}, or use another --out") from None
        then = {**(defaults or {}), **had}
        differ = [f"{k} {then.get(k)!r} -> {v!r}" for k, v in wanted.items() if then.get(k) != v]
        if differ:
            raise InputError(f"{out} holds a demo made with other options ({'; '.join(differ)}): use another --out, "
                             f"or remove {out} to start fresh")
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(wanted, indent=2))


def run(args: argparse.Namespace) -> int:
    """Runs the online loop, the baselines and the outputs, and prints a closing summary."""
    import dataclasses

    import torch
    from torch.utils.tensorboard import SummaryWriter

    from agents.mpc_agent import run_online_mpc
    from envs.tasks import get_task, random_policy_return
    from gncontrol.cli._common import check_output_dir, resolve_device
    from gncontrol.cli._mpc import frame_recorder, save_gif

    out = check_output_dir(args.out, "--out")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    task = get_task(args.task)
    recipe = recipe_for(args)
    if not get_task(recipe["plan_reward"] or args.task).has_reward:  # before any collection or training
        raise InputError(f"the demo plans with a torch reward and --task {args.task} has none; a task without one "
                         "plans through `gncontrol plan --reward module:function` or `--reward-model`")
    if recipe["planner"] not in ("gradient", "cem"):
        raise InputError(f"the demo's online loop plans with --planner gradient or cem, got {recipe['planner']}")
    steps = args.mpc_steps or task.episode_length
    config = agent_config(args, recipe, steps)
    def plain(c) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(c).items()}

    check_out(out, plain(config), plain(type(config)()))
    t_start = time.time()
    print(f"demo {args.task}: {config.random_episodes} random episodes x {config.episode_steps} steps"
          f"{' (+ the same from ' + ', '.join(config.extra_data_tasks) + ')' if config.extra_data_tasks else ''}, "
          f"a GN (latent {config.latent}), then {config.iterations} rounds of {steps}-step {config.planner} MPC "
          f"episodes (horizon {config.horizon} x repeat {config.action_repeat}, cost-to-go weight "
          f"{config.terminal_weight:g}) that refine it; env seed {args.seed}")
    writer = SummaryWriter(str(out / "tb"))
    saved = {}

    def keep(model, sets):
        saved["model"], saved["sets"] = model, sets
        save_model(out / "model.pt", model, sets, config)

    render = None if args.no_video else (lambda env: frame_recorder(env, 2))
    rounds = run_online_mpc(config, device=device, writer=writer, progress=True, log=print, render_last=render,
                            on_model=keep)
    writer.close()
    final = rounds[-1]
    timings = {"data_and_training_s": rounds[0].model_seconds,
               "rounds_s": sum(r.episode_seconds + (r.model_seconds if r.iteration else 0) for r in rounds)}

    t0 = time.time()
    random_return = random_policy_return(task, steps, args.seed)
    reference = None if args.no_reference else reference_episode(task, config, steps, args.seed)
    timings["reference_s"] = time.time() - t0

    t0 = time.time()
    errors, plot = evaluate_model(saved["model"], task, args, device, out)
    timings["evaluate_s"] = time.time() - t0

    video = None
    if final.frames:
        video = save_gif(final.frames, out / "episode.gif", fps=int(round(1 / task.control_timestep / 2)))
    figure = plot_demo(rounds, random_return, reference, out / "returns.png", args.task)
    summary = {
        "task": args.task, "planner": recipe["planner"], "device": str(device), "recipe": recipe_json(recipe),
        "rounds": [{"round": r.iteration, "env_steps": r.env_steps, "return": r.episode_return,
                    "plan_time_per_step_s": r.plan_time_per_step, "episode_s": r.episode_seconds,
                    "model_s": r.model_seconds} for r in rounds],
        "final_return": final.episode_return, "random_return": random_return,
        "reference_return": reference["return"] if reference else None,
        "ratio_to_reference": final.episode_return / reference["return"] if reference and reference["return"]
        else None,
        "env_steps": final.env_steps, "mpc_steps": len(final.rewards),
        "plan_time_per_step_s": final.plan_time_per_step, "control_period_s": task.control_timestep,
        "real_time_factor": final.plan_time_per_step / task.control_timestep,
        "reference_plan_time_per_step_s": reference["plan_time_per_step"] if reference else None,
        **{("one_step_error" if h == 1 else f"rollout_{h}_error"): e for h, e in errors.items()},
        "timings_s": timings, "total_s": time.time() - t_start,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print_summary(summary, errors, out, [figure.name, plot.name] + ([video.name] if video else []))
    return 0


def save_model(path, model, sets, config) -> None:
    """The final model as a forward-model checkpoint (loadable by `gncontrol plan` / `evaluate`); sets[0] is the
    task's own data (named by config.task)."""
    import dataclasses

    from gncontrol.forward.training import save_forward_model

    save_forward_model(path, model, config.train_steps + config.finetune_steps * (config.iterations - 1),
                       systems=sets[:1], metadata={"made_by": "gncontrol demo", "agent": dataclasses.asdict(config)})


def reference_episode(task, config, steps: int, seed: int) -> dict:
    """The true-model CEM (same horizon, repeat and cost-to-go, 200 samples x 4 iterations) on the same episode."""
    import planners
    from envs.tasks import get_task
    from envs.true_model import TaskEnv, TrueModel

    model = TrueModel.from_task(task)
    planner = planners.make("cem", (task.action_low, task.action_high), planners.CEMConfig(
        horizon=config.horizon, population=200, elites=20, iterations=4, action_repeat=config.action_repeat, seed=seed,
        terminal_weight=config.terminal_weight))
    env = TaskEnv(task, seed=seed, true_model=model)
    reward = task.reward if config.plan_reward is None else get_task(config.plan_reward).reward
    print(f"reference: CEM through the true simulator on the same episode (env seed {seed})")
    res = planners.run_episode(env, planner, model, reward, max_steps=steps, tag="reference/cem")
    print(f"reference: return {res.episode_return:.1f}, planning {res.plan_time_per_step * 1000:.0f} ms per control "
          "step")
    return {"return": res.episode_return, "rewards": res.rewards, "plan_time_per_step": res.plan_time_per_step}


def evaluate_model(model, task, args, device, out) -> tuple[dict, object]:
    """1/20/100-control-step errors of the final model (constant model = 1) on 4 fresh random episodes (controls
    held for the model's time step; a k-step model rolls out round(h / k) steps), and a rollout plot."""
    from envs.collect import collect
    from gncontrol.forward.metrics import rollout_errors
    from gncontrol.forward.plots import plot_rollout
    from gncontrol.forward.transitions import SystemTrajectories

    k = model.control_steps
    held_out = SystemTrajectories.from_arrays(task.name, collect(task.name, 4, steps=min(args.episode_steps, 200),
                                                                 controller="ou", seed=args.seed + 99,
                                                                 progress=False, hold=k)).every(k)
    errors = {h * k: rollout_errors(model, held_out, h, 4, device)["mean"]
              for h in sorted({min(max(1, round(h / k)), held_out.episode_length) for h in (1, 20, 100)})}
    path = out / f"rollout_{file_stem(task.name)}.png"
    plot = plot_rollout(model, held_out, min(100, held_out.episode_length), path, device)
    return errors, plot


def plot_demo(rounds, random_return: float, reference: dict | None, path, task_name: str):
    """returns.png: return per round (beside random actions and the true-model CEM), and the final
    episode's reward over time beside the true-model planner's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 3.8))
    a.plot([r.iteration for r in rounds], [r.episode_return for r in rounds], "o-", label="MPC, learned GN")
    a.axhline(random_return, color="gray", ls="--", label="random actions")
    if reference:
        a.axhline(reference["return"], color="tab:green", ls=":", label="CEM, true simulator")
    a.set_xlabel("round (MPC episodes in the real environment)")
    a.set_ylabel("episode return")
    a.set_title(task_name)
    a.legend(fontsize=8)
    b.plot(rounds[-1].rewards, label="final round, learned GN", lw=0.8)
    if reference:
        b.plot(reference["rewards"], label="CEM, true simulator", lw=0.8, alpha=0.8)
    b.set_xlabel("control step")
    b.set_ylabel("reward")
    b.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def recipe_json(recipe: dict) -> dict:
    """The recipe as plain JSON values."""
    return {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()}


def print_summary(s: dict, errors: dict, out, files: list[str]) -> None:
    """The closing summary a user reads."""
    print("\n=== gncontrol demo summary ===")
    print(f"task {s['task']}, {s['planner']} MPC through the learned GN, total {s['total_s'] / 60:.1f} min "
          f"(data + training {s['timings_s']['data_and_training_s']:.0f} s, rounds {s['timings_s']['rounds_s']:.0f} s, "
          f"reference {s['timings_s']['reference_s']:.0f} s, evaluation {s['timings_s']['evaluate_s']:.0f} s)")
    print("return per round: " + ", ".join(f"{r['return']:.1f} ({r['env_steps']} env steps)" for r in s["rounds"]))
    ref = (f"; true-model CEM {s['reference_return']:.1f} (ratio {s['ratio_to_reference']:.2f})"
           if s["reference_return"] is not None else "")
    print(f"final return {s['final_return']:.1f} over {s['mpc_steps']} steps; random actions "
          f"{s['random_return']:.1f}{ref}; {s['env_steps']} env steps in all")
    print(f"planning time per control step {s['plan_time_per_step_s'] * 1000:.0f} ms "
          f"({s['real_time_factor']:.1f}x the {s['control_period_s'] * 1000:.0f} ms control period)")
    print("forward model on fresh random episodes (constant model = 1): "
          + ", ".join(f"{h}-step {e:.4f}" for h, e in errors.items()))
    print(f"outputs in {out}/: summary.json, model.pt, {', '.join(files)}, tb (tensorboard --logdir {out})")
