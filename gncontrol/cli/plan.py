"""`gncontrol plan`: MPC in the real environment with a learned model or the true simulator."""

from __future__ import annotations

import argparse
import json

from gncontrol.cli._common import add_config_argument
from gncontrol.cli._mpc import add_planner_arguments
from gncontrol.cli._options import DEVICE_FORMS, device, nonnegative_int, positive_int
from gncontrol.errors import InputError

HELP = "run MPC in the real environment with a learned model (CKPT) or the true simulator"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol plan`."""
    add_config_argument(p)
    p.add_argument("--task", default="cartpole-swingup", help="task: a name from `gncontrol tasks`, or "
                   "dmc:DOMAIN-TASK, gym:ENV_ID, xml:PATH")
    p.add_argument("--model", required=True, nargs="+", help="checkpoint from `gncontrol train` (or from "
                   "`gncontrol train-sysid` with --identify-steps), or 'true' for the true MuJoCo simulator (the "
                   "upper bound; sampling planners and MCTS only); several checkpoints plan through their "
                   "ensemble (see --ensemble-rollout)")
    from gncontrol.ensemble import ROLLOUTS

    p.add_argument("--ensemble-rollout", choices=ROLLOUTS, default="members",
                   help="ensemble: average the members' returns, each rolled out on its own (PETS), or roll out "
                   "the mean of the members' next states once")
    p.add_argument("--identify-steps", type=nonnegative_int, default=0,
                   help="with a system-ID checkpoint: identify the system once from this many steps of random "
                   "control in the real environment, then plan with the inferred latent graph (0: off)")
    p.add_argument("--refine-steps", type=nonnegative_int, default=0, help="with --identify-steps: refine the latent "
                   "graph by this many Adam steps on the window's own transitions (gncontrol.sysid.model.refine;"
                   " 0: off)")
    p.add_argument("--reward", default=None, help="plan for another registered task's reward on the same "
                   "body (e.g. --task cheetah-run --reward cheetah-run-backward), or for your own: module:function "
                   "or file.py:function, reward(state [B, N, 13], action [B, A]) -> [B] in torch")
    p.add_argument("--reward-model", default=None, help="plan with a learned reward (reward.pt from `gncontrol "
                   "train-reward`) for a task with no torch reward; the return is still the env's own")
    p.add_argument("--allow-other-system", action="store_true", help="use a checkpoint on a system it was not "
                   "trained on (zero-shot, e.g. a SwimmerN of an unseen N); refused otherwise")
    add_planner_arguments(p)
    p.add_argument("--steps", type=positive_int, default=None, help="control steps (default: the episode length)")
    p.add_argument("--episodes", type=positive_int, default=1)
    p.add_argument("--out", default="runs/plan")
    p.add_argument("--no-video", action="store_true")
    p.add_argument("--record", default=None, help="append every episode (body states, actions, the task's "
                   "rewards) to this HDF5 dataset, e.g. true-model planner episodes as expert data for "
                   "`gncontrol train --data`")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="seed (>= 0)")
    p.add_argument("--device", type=device, default="cpu", help=f"torch device: {DEVICE_FORMS}")
    p.add_argument("--threads", type=positive_int, default=1, help="torch CPU threads")
    p.add_argument("--compile", action="store_true", help="compile the learned model's forward rollouts "
                   "(torch.compile, gncontrol.forward.compiled): about 10 s once per shape, then CEM / MPPI / random "
                   "shooting plan about 1.2x faster on a CPU (benchmarks/RESULTS.md); for the gradient planner, "
                   "whose rollouts need their backward, each fused GN step's forward and backward is compiled "
                   "instead (gncontrol.forward.fast_path.compile_step, about 10 s once per shape, then about "
                   "1.8x faster)")


def _same_system_tasks(task) -> list[str]:
    """Registered tasks built from the same environment family (dm_control domain / swimmer size) as `task`."""
    from envs.tasks import get_task, list_tasks

    def key(t):
        f = t.env_factory
        return getattr(f, "func", f), tuple(getattr(f, "args", ()))[:1]

    return [n for n in list_tasks() if key(get_task(n)) == key(task)]


def check_reward_task(task, reward_task) -> None:
    """Refuses (one InputError line) a --reward task whose system is not --task's.

    Why the names and not the body count: acrobot and cartpole both have 3 bodies, walker and
    cheetah 8, so a count lets a reward read another system's bodies as its own.
    """
    from envs.tasks import same_system, system_names

    if same_system(task, reward_task):
        return
    bodies = lambda t: ", ".join(system_names(t)[0][1:])  # noqa: E731  (the world body is in every model)
    raise InputError(f"--reward {reward_task.name} rewards another system than --task {task.name} (bodies "
                     f"{bodies(reward_task)} vs {bodies(task)}); rewards for {task.name}'s system: "
                     f"{', '.join(_same_system_tasks(task))}")


def with_reward_model(task, path: str, allow_other: bool = False):
    """`task` planning with the learned reward in `path` (checked to be of the task's system)."""
    from envs.tasks import get_task, same_system
    from gncontrol.forward.reward_model import load_reward_model
    from gncontrol.system_signature import check_trained_on, signature_of

    model, record = load_reward_model(path)
    check_trained_on(record, task.name, signature_of(task.graph().graph_system()), source=f"--reward-model {path}",
                     allow_other=allow_other)
    trained = str(record.get("task", ""))
    # the topology alone cannot tell walker from cheetah (both 8 bodies in the same tree): compare body names too
    if not allow_other and trained != task.name and not same_system(get_task(trained), task):
        raise InputError(f"--reward-model {path} was trained on {trained}, not on {task.name} (other bodies); pass "
                         "--allow-other-system to use it anyway")
    return task.with_reward(model, in_env=False, spec=f"learned:{path}")


def identify_in_env(checkpoint: str, task, steps: int, seed: int, device, refine_steps: int = 0):
    """(system-ID model, latent GraphSystem) from `steps` of uniform random control in the real env.

    The window comes from its own episode of the same system; the latent graph is then reused
    for every planning episode (identify once, plan from new start states).
    """
    import numpy as np
    import torch

    from envs.true_model import TaskEnv
    from gncontrol.sysid.model import IdentificationWindow, held_random_controls, identify, refine
    from gncontrol.sysid.training import load_system_id_model

    model, _ = load_system_id_model(checkpoint, device)
    k = model.control_steps  # a model of k control steps per step: each random control held k steps
    if steps < k:
        raise InputError(f"--identify-steps {steps} is shorter than one step of this model ({k} control steps)")
    env = TaskEnv(task, seed=seed + 10_000, device=device)
    try:
        _, states, actions, _ = held_random_controls(env, env.reset(), task.action_low, task.action_high, steps // k,
                                                     k, np.random.default_rng(seed))
    except InputError:
        raise InputError(f"--identify-steps {steps} is longer than an episode of {task.name}") from None
    actions = [a.to(device) for a in actions]
    window = IdentificationWindow(torch.stack(states)[None], torch.stack(actions)[None],
                                  task.graph().graph_system(device))
    return model, refine(model, window, identify(model, window), refine_steps)


def run(args: argparse.Namespace) -> int:
    """Runs the episodes; prints return and planning time; writes summary.json, GIF, TensorBoard."""
    import numpy as np
    import torch
    from torch.utils.tensorboard import SummaryWriter

    from envs.tasks import get_task
    from envs.true_model import TaskEnv, TrueModel
    from gncontrol.cli._common import check_output_dir, check_output_file, resolve_device
    from gncontrol.cli._mpc import frame_recorder, make_planner, save_gif
    from gncontrol.ensemble import EnsembleModel
    from gncontrol.forward.training import load_forward_model
    from gncontrol.system_signature import check_trained_on, signature_of
    from planners import run_episode

    out = check_output_dir(args.out, "--out")
    if args.record:
        check_output_file(args.record, "--record")
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    from envs.user_rewards import is_reward_spec

    if args.reward and is_reward_spec(args.reward):  # the user's function: the task's own system by construction
        task = reward_task = get_task(args.task, reward=args.reward)
    else:
        task = get_task(args.task)
        reward_task = get_task(args.reward) if args.reward else task
        check_reward_task(task, reward_task)
    if args.reward_model:
        if args.reward:
            raise InputError("give --reward or --reward-model, not both")
        reward_task = with_reward_model(task, args.reward_model, args.allow_other_system)
    reward_task.check_has_reward()
    true = args.model == ["true"]
    if args.cuda_graph and args.planner != "gradient":
        raise InputError(f"--cuda-graph records the gradient planner's iteration; --planner {args.planner} has none "
                         "to record (use --planner gradient, or --compile for the sampling planners' rollouts)")
    if args.refine_steps and not args.identify_steps:
        raise InputError("--refine-steps refines an identified system: give --identify-steps too")
    if len(args.model) > 1 and ("true" in args.model or args.identify_steps > 0):
        raise InputError("an ensemble (several --model checkpoints) takes forward-model checkpoints only, "
                         "not 'true' or --identify-steps")
    if true:
        model, params = TrueModel.from_task(task, device=device), None
        if args.planner == "gradient":
            raise InputError("the true simulator is not differentiable: use --planner cem|mppi|random|mcts")
    elif args.identify_steps > 0:
        model, params = identify_in_env(args.model[0], task, args.identify_steps, args.seed, device,
                                        args.refine_steps)
        print(f"identified {args.task} from {args.identify_steps} steps of random control")
    else:
        params = task.graph().graph_system(device)
        models = []
        for path in args.model:
            member, record = load_forward_model(path, device)
            check_trained_on(record, task.name, signature_of(params), source=f"--model {path}",
                             allow_other=args.allow_other_system)
            models.append(member)
        model = models[0] if len(models) == 1 else EnsembleModel(models, args.ensemble_rollout)
    if args.compile:
        if true or len(args.model) > 1:
            raise InputError("--compile compiles one learned forward model: not 'true' or an ensemble")
        if args.planner == "gradient":
            from gncontrol.forward import fast_path

            fast_path.compile_step(True)
            print("--compile: the gradient planner's rollouts need their backward: compiling each fused GN step "
                  "(forward and backward) instead of the whole rollout")
        else:
            from gncontrol.forward.compiled import compiled

            model = compiled(model)
    from planners.base import model_time_step

    model_time_step(model, args.action_repeat)  # a model of k control steps per step needs --action-repeat k*m
    out.mkdir(parents=True, exist_ok=True)
    writer = SummaryWriter(str(out / "tb"))
    steps = args.steps or task.episode_length
    results = []
    for ep in range(args.episodes):
        env = TaskEnv(task, seed=args.seed + ep, true_model=model if true else None, device=device)
        planner = make_planner(args.planner, task, args, device)
        render = None if args.no_video or ep > 0 else frame_recorder(env)
        res = run_episode(env, planner, model, env.episode_reward(reward_task), params=params, max_steps=steps,
                          writer=writer, render=render, tag=f"plan/episode{ep}")
        results.append(res)
        if args.record:
            from envs.collect import record_episode

            record_episode(args.record, args.task, res.state_array()[..., :13].numpy(), res.actions.numpy(),
                           seed=args.seed, episode=ep, controller=f"mpc:{args.planner}:{'+'.join(args.model)}",
                           target=task.read_target(env.env.physics))
        print(f"episode {ep}: return {res.episode_return:.1f} over {res.steps} steps, planning "
              f"{res.plan_time_per_step * 1000:.0f} ms per control step")
        frames = [f for f in res.frames if f is not None]
        if frames:
            save_gif(frames, out / "episode.gif", fps=int(round(1 / task.control_timestep / 2)))
    writer.close()
    returns = [r.episode_return for r in results]
    per_step = float(np.mean([r.plan_time_per_step for r in results]))
    summary = {"task": args.task, "reward": reward_task.name, "model": " ".join(args.model), "planner": args.planner,
               "returns": returns, "mean_return": float(np.mean(returns)), "plan_time_per_step_s": per_step,
               "real_time_factor": per_step / task.control_timestep, "horizon": args.horizon,
               "action_repeat": args.action_repeat}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"mean return {summary['mean_return']:.1f}; planning {per_step * 1000:.0f} ms per control step = "
          f"{summary['real_time_factor']:.1f}x the control period; outputs in {out}/")
    return 0
