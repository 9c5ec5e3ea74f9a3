"""System identification for control: MPC through identified models on systems whose parameters the
planner is not told, against the same planner through models that know them, or that assume them.

Per task, parameters are randomised per episode over ranges wide enough that one nominal model must fail
(SETUPS: cartpole's cart and pole masses 0.5-2x and pole length 0.5-2x; pendulum's mass 0.5-2x and length
0.5-1.5x; cheetah's link masses and joint damping 0.5-2x; the rest as envs.randomisation). All learned
models are at the decision time step (k control steps per model step, random controls held k steps:
`collect --hold k`, `train --control-steps k`) and get the same random-control data budget (the task's
start, plus its near-upright start where it has one, as the demo's recipe) and the same training steps:

  (a) true params  a GN given each system's true static graph (masses, lengths, damping), trained on the
                   randomised data with their true graphs
  (b) ID           the recurrent-GN encoder + GN (gncontrol.sysid) on the same data; at the start of each
                   episode it identifies the system from a window of W model steps (W x k control steps)
                   of random control in that episode, which counts in the return, then plans
  (b) ID own motion  the same model without a random prefix: it plans from the first step with the mean
                   latent of the training windows (gncontrol.sysid.mean_latent) and re-identifies from the
                   last W model steps of its own MPC motion every `--reidentify-every` control steps
  (c) no ID        a GN on the same randomised data told only the nominal static graph (it learns the
                   average system)
  (d) nominal      a GN on the same amount of nominal-system data
  true CEM         the same planner through the MuJoCo simulator of the system itself
  nominal CEM      the same planner through the MuJoCo simulator of the NOMINAL system: with perfect models,
                   how much knowing the parameters is worth (true CEM / nominal CEM); ranges where the two
                   plan alike cannot show identification paying off

Every controller runs the same CEM recipe on each of `--systems` held-out systems (their own seed), one
1000-step episode each from the same start state. Printed: mean and spread of the returns, ratios
ID / true params and ID / no ID. The models are kept under `--out` (OUT/TASK/gn_true|gn_noid|gn_nominal and
sysid*): a later run with the same settings and data (e.g. `--first-system 10` for fresh systems) loads them.

Mid-episode change (`--change-step`, default 500): on each held-out system, body `--change-body`'s mass
is multiplied by `--change-factor` at that control step. (a) is told the new parameters at the change;
(b) identify-once keeps its first latent; (b, online) re-identifies every `--reidentify-every` control
steps from the last W model steps of the episode itself (its own MPC actions). The return after the
change is compared.

    python -m benchmarks.system_id_control --quick                         # minutes: tiny budgets
    python -m benchmarks.system_id_control --tasks cartpole-swingup        # the issue's measurement
    python -m benchmarks.system_id_control --tasks cheetah-run --csv system_id_control_cheetah.csv
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import CSVRows, add_csv_argument, csv_path, machine

# per task: randomisation ranges (envs.randomisation.override_ranges), extra data start (or None), model step k,
# CEM recipe (the demo's and the control table's: samples x iterations over horizon decisions of k control
# steps, cost-to-go weight), the reward planned with (None: the task's), the body whose mass changes mid-episode
SETUPS = {
    "cartpole-swingup": dict(ranges={"mass": (0.5, 2.0), "length": (0.5, 2.0)}, extra="cartpole-balance",
                             control_steps=8, samples=100, iterations=3, horizon=12, terminal_weight=25.0,
                             plan_reward=None, change_body=1, rollout_steps=1),
    # pendulum: with the one-step loss, swing-ups through models at 4 control steps mostly fail even told the
    # true parameters; with --rollout-steps 4 some succeed, with a huge spread (docs/system_identification.md)
    "pendulum-swingup": dict(ranges={"mass": (0.5, 2.0), "length": (0.5, 1.5)}, extra=None, control_steps=4,
                             samples=100, iterations=3, horizon=25, terminal_weight=0.0,
                             plan_reward="pendulum-swingup-smooth", change_body=1, rollout_steps=1),
    "cheetah-run": dict(ranges={"mass": (0.5, 2.0), "damping": (0.5, 2.0)}, extra=None, control_steps=4,
                        samples=64, iterations=2, horizon=8, terminal_weight=0.0, plan_reward=None, change_body=1,
                        rollout_steps=4),
}
CONTROLLERS = ["(a) true params", "(b) ID", "(b) ID own motion", "(c) no ID", "(d) nominal", "true CEM",
               "nominal CEM"]
QUICK = dict(episodes=12, episode_steps=160, train_steps=60, systems=2, steps=200, window=4, samples=16,
             iterations=1, horizon=4, latent=16, change_step=100, reidentify_every=48)


def scale_range(text: str) -> tuple[str, tuple[float, float]]:
    """`--ranges` item "KEY=LOW,HIGH" -> (KEY, (LOW, HIGH)); a malformed item raises ArgumentTypeError, which
    argparse reports in one line (unknown keys are refused by envs.randomisation.override_ranges)."""
    key, _, bounds = text.partition("=")
    lo, _, hi = bounds.partition(",")
    try:
        pair = (float(lo), float(hi))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=LOW,HIGH, e.g. gear=0.5,2") from None
    if not key or not 0 < pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected KEY=LOW,HIGH with 0 < LOW <= HIGH")
    return key, pair


def collect_data(task: str, args: argparse.Namespace, randomise: bool, seed: int, ranges: dict):
    """SystemTrajectories at the model step: random controls held k steps from the task's start and from its
    extra start (near upright) if it has one, `args.episodes` in all (split over the starts), cached as HDF5
    under --data-dir (named by `ranges`, the randomisation in force)."""
    from envs.collect import collect
    from gncontrol.forward.datasets import load_trajectories
    from gncontrol.forward.transitions import SystemTrajectories

    setup, k = SETUPS[task], SETUPS[task]["control_steps"]
    starts = [task] + ([setup["extra"]] if setup["extra"] else [])
    episodes = args.episodes // len(starts)
    data = None
    for j, name in enumerate(starts):
        tag = "rand" + "-".join(f"{key}{lo:g}-{hi:g}" for key, (lo, hi) in sorted(ranges.items())) \
            if randomise else "nominal"
        path = Path(args.data_dir) / f"{name}_{tag}_{episodes}x{args.episode_steps}_hold{k}_s{seed + j}.h5"
        if not path.exists():
            collect(name, episodes, steps=args.episode_steps, seed=seed + j, out=path, randomise=randomise,
                    progress=False, hold=k)
        part = SystemTrajectories.from_arrays(task, load_trajectories(path)).every(k)
        data = part if data is None else data.joined(part)
    return data


def nominal_view(data, nominal):
    """`data` with every episode's static graph replaced by the nominal system's (no per-episode information)."""
    s = nominal.static

    def rep(x, n):
        return x.reshape(1, n, -1).expand(data.num_episodes, -1, -1).clone()

    return dataclasses.replace(data, static_nodes=rep(s.nodes, data.num_nodes),
                               static_edges=rep(s.edges, data.num_edges),
                               static_globals=s.globals.reshape(1, -1).expand(data.num_episodes, -1).clone())


def train_gn(data, args: argparse.Namespace, k: int, path: Path):
    """A GN forward model at k control steps per step, fitted for --train-steps (agents.model_learning) on the
    loss of its own --rollout-steps-step rollout (1: the one-step loss); kept at `path` (a forward-model
    checkpoint) with the settings and data that made it, and loaded instead of retrained by a later run with the
    same ones (a confirmation on further systems, --first-system, then costs only its episodes)."""
    from agents.model_learning import fit_model, new_model
    from gncontrol.forward.training import load_forward_model, save_forward_model

    made_by = {"train_steps": args.train_steps, "rollout_steps": args.rollout_steps, "batch_size": args.batch_size,
               "latent": args.latent, "seed": args.seed, "control_steps": k,
               "data": [list(data.states.shape), round(float(data.states.double().sum()), 6),
                        round(float(data.actions.double().sum()), 6)]}
    if path.exists():
        model, record = load_forward_model(path)
        if record["metadata"].get("made_by") == made_by:
            return model
    model = new_model(data, latent=args.latent, hidden=(args.latent,), seed=args.seed, control_steps=k)
    fit_model(model, [data], steps=args.train_steps, batch_size=args.batch_size, seed=args.seed,
              rollout_steps=args.rollout_steps)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_forward_model(path, model, args.train_steps, metadata={"made_by": made_by})
    return model.eval()


def train_sysid(data, args: argparse.Namespace, k: int, out: Path):
    """The system-ID model (encoder + GN) on the same data, steps and rollout loss (--rollout-steps as its
    horizon); resumes from out/model.pt."""
    from envs.mujoco_graph import position_mode
    from gncontrol.forward.training import TrainConfig
    from gncontrol.sysid.model import SystemIDConfig
    from gncontrol.sysid.training import load_system_id_model, train_system_id

    ckpt = out / "model.pt"
    if ckpt.exists():
        model, record = load_system_id_model(ckpt)
        if record["step"] >= args.train_steps:
            return model
    cfg = SystemIDConfig(forward_latent=args.latent, forward_hidden=(args.latent,), window=args.window,
                         control_steps=k, positions=position_mode(data.static_edges[0], data.senders))
    tcfg = TrainConfig(steps=args.train_steps, batch_size=args.batch_size, lr=1e-3, lr_final=1e-4,
                       val_every=10**9, checkpoint_every=max(1, args.train_steps // 4), seed=args.seed)
    return train_system_id(cfg, [data], [], tcfg, out, targets_per_window=8, progress=not args.quick,
                           resume=ckpt.exists(), horizon=args.rollout_steps).eval()


class Bound(torch.nn.Module):
    """A model bound to params that the benchmark may swap mid-episode (`step` ignores the planner's)."""

    differentiable = True

    def __init__(self, model, params):
        super().__init__()
        self.model, self.params, self.control_steps = model, params, model.control_steps

    def step(self, state, action, params=None):
        """Next states [B] under the bound params."""
        return self.model.step(state, action, self.params)


class Episode:
    """The real env of one held-out system for planners.run_episode, with the benchmark's hooks: a random
    identification prefix at reset, a parameter change at a control step, a sliding-window re-identification."""

    def __init__(self, system, seed: int, k: int, *, prefix_blocks: int = 0, identify=None, change=None,
                 reidentify_every: int = 0, window: int = 0, true_model=None):
        self.system, self.k, self.seed = system, k, seed
        self.env = system.env(seed=seed, true_model=true_model)
        self.prefix_blocks, self.identify, self.change = prefix_blocks, identify, change
        self.reidentify_every, self.window = reidentify_every, window
        self.prefix_rewards: list[float] = []

    def _record(self, state, action) -> None:
        self.t += 1
        if self.t % self.k == 0:  # block boundary: one model step
            self.states.append(state.nodes[:, :13])
            self.actions.append(action.reshape(-1))

    def _window(self, blocks: int):
        from gncontrol.sysid.model import IdentificationWindow

        states = torch.stack(self.states[-(blocks + 1):])[None]
        actions = torch.stack(self.actions[-blocks:])[None]
        return IdentificationWindow(states, actions, self.system.task.graph().graph_system())

    def reset(self):
        """The episode's start: the random prefix (held k steps) identifies the system when asked."""
        from gncontrol.sysid.model import held_random_controls

        task = self.system.task
        state, self.states, self.actions, self.prefix_rewards = held_random_controls(
            self.env, self.env.reset(), task.action_low, task.action_high, self.prefix_blocks, self.k,
            np.random.default_rng(self.seed))
        self.t = len(self.prefix_rewards)
        if self.identify is not None and self.prefix_blocks:
            self.identify(self._window(self.prefix_blocks))
        return state

    def step(self, action):
        """One control step; applies the change and re-identifies on their steps."""
        state, reward, done = self.env.step(action)
        self._record(state, action)
        t = self.t  # control steps of the episode (identification prefix included)
        if self.change is not None and t == self.change[0]:
            self.system.set_parameters(self.env, self.change[1])
            if self.change[2] is not None:
                self.change[2]()
        if self.reidentify_every and t % self.reidentify_every == 0 and len(self.actions) >= self.window:
            self.identify(self._window(self.window))
        return state, reward, done

    def render(self, size: int = 64):
        """No frames (the benchmark records none)."""
        return None


def run_controller(name: str, system, models: dict, args: argparse.Namespace, seed: int, k: int,
                   change=None) -> tuple[list[float], float]:
    """(rewards per control step including any identification prefix, plan ms per control step) of one episode."""
    import planners
    from envs.held_out_system import HeldOutSystem
    from gncontrol.sysid.model import IdentifiedModel, identify
    from planners import run_episode

    task, setup = system.task, SETUPS[system.task.name]
    planner = planners.make("cem", (task.action_low, task.action_high), horizon=args.horizon,
                            action_repeat=k, seed=seed, iterations=args.iterations, samples=args.samples,
                            elites=max(2, args.samples // 10), terminal_weight=setup["terminal_weight"])
    hooks = dict(change=None)
    true_model = None
    if name == "true CEM":
        true_model = model = system.true_model()
    elif name == "nominal CEM":  # a perfect simulator of the nominal system: do the ranges matter at all?
        true_model = model = HeldOutSystem(task.name).true_model()
    elif name == "(a) true params":
        model = Bound(models["true"], system.graph_system())
        if change is not None:
            hooks["change"] = (change[0], change[1], lambda: setattr(model, "params", system.graph_system()))
    elif name.startswith("(b)"):
        sysid = models["sysid"]
        model = IdentifiedModel(sysid, None)

        def set_latent(window):
            with torch.no_grad():
                model.latent = identify(sysid, window)

        hooks.update(prefix_blocks=args.window, identify=set_latent, window=args.window)
        if "online" in name:
            hooks["reidentify_every"] = args.reidentify_every
        if "own motion" in name:
            model.latent = models["prior"]
            hooks.update(prefix_blocks=0, reidentify_every=args.reidentify_every)
    else:
        model = Bound(models["noid" if name.startswith("(c)") else "nominal"], models["nominal_system"])
    if change is not None and hooks["change"] is None:
        hooks["change"] = (change[0], change[1], None)
    env = Episode(system, seed, k, true_model=true_model, **hooks)
    steps = args.steps - hooks.get("prefix_blocks", 0) * k  # the prefix's steps are the episode's too
    res = run_episode(env, planner, model, system.reward(setup["plan_reward"]), max_steps=steps, progress=False)
    return env.prefix_rewards + list(res.rewards), 1000 * res.plan_time_per_step


def changed(parameters: dict, body: int, factor: float) -> dict:
    """The parameters with body `body`'s mass scale multiplied by `factor`."""
    out = {key: list(v) for key, v in parameters.items()}
    out["mass_scale"][body] *= factor
    return out


def train_models(task: str, rand, nominal_data, nominal, args: argparse.Namespace, k: int) -> dict:
    """The models the controllers use, on their data, same steps: true-parameter GN, no-ID GN, nominal GN,
    system-ID model (and its mean latent over the training windows, the own-motion controller's prior)."""
    change = bool(args.change_step)
    needed = {"true": change or "(a) true params" in args.controllers, "noid": "(c) no ID" in args.controllers,
              "nominal": "(d) nominal" in args.controllers,
              "sysid": change or any(c.startswith("(b)") for c in args.controllers)}
    models = {"nominal_system": nominal}
    for name, data in (("true", rand), ("noid", nominal_view(rand, nominal)), ("nominal", nominal_data),
                       ("sysid", rand)):
        if not needed[name]:
            continue
        t0 = time.perf_counter()
        sysid_dir = "sysid" if args.rollout_steps == 1 else f"sysid_h{args.rollout_steps}"
        models[name] = train_sysid(data, args, k, Path(args.out) / task / sysid_dir) if name == "sysid" \
            else train_gn(data, args, k, Path(args.out) / task / f"gn_{name}" / "model.pt")
        print(f"[{task}] model {name}: {time.perf_counter() - t0:.0f} s", flush=True)
    if "(b) ID own motion" in args.controllers:
        from gncontrol.sysid import mean_latent

        models["prior"] = mean_latent(models["sysid"], rand, args.window, seed=args.seed)
    return models


def main(argv: list[str] | None = None) -> int:
    """Trains the four models per task, runs every controller on the held-out systems, prints the tables."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="tiny data, models and episodes (a smoke run)")
    ap.add_argument("--tasks", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--episodes", type=int, default=400, help="random-control episodes per task, split over "
                    "its starts (cartpole: 200 from the swing-up start, 200 near upright)")
    ap.add_argument("--episode-steps", type=int, default=500)
    ap.add_argument("--train-steps", type=int, default=8000, help="training steps of every model")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rollout-steps", type=int, default=None, help="every model's loss over its own rollout of "
                    "this many model steps (1: the one-step loss; default: the task's, SETUPS)")
    ap.add_argument("--latent", type=int, default=64)
    ap.add_argument("--window", type=int, default=12, help="identification window, model steps")
    ap.add_argument("--systems", type=int, default=10, help="held-out systems per task")
    ap.add_argument("--first-system", type=int, default=0, help="index of the first held-out system (the same "
                    "draw: systems F..F+N-1 of a run with --systems F+N, each with its own seed), so a later run "
                    "can measure fresh systems without rerunning the earlier ones")
    ap.add_argument("--steps", type=int, default=1000, help="control steps per episode")
    ap.add_argument("--samples", type=int, default=None, help="CEM population (default: the task's, SETUPS)")
    ap.add_argument("--iterations", type=int, default=None, help="CEM iterations (default: the task's)")
    ap.add_argument("--horizon", type=int, default=None, help="decisions per plan (default: the task's)")
    ap.add_argument("--controllers", nargs="+", choices=CONTROLLERS, default=CONTROLLERS)
    ap.add_argument("--ranges", nargs="+", type=scale_range, default=[], metavar="KEY=LOW,HIGH",
                    help="randomisation ranges over the task's (SETUPS), e.g. gear=0.5,2 mass=0.25,4 (keys: mass, "
                    "damping, gear, length, mass[j])")
    ap.add_argument("--change-step", type=int, default=500, help="mid-episode change at this control step (0: off)")
    ap.add_argument("--change-factor", type=float, default=3.0)
    ap.add_argument("--reidentify-every", type=int, default=96, help="online ID: control steps between windows")
    ap.add_argument("--data-dir", default="runs/sysid_control_data")
    ap.add_argument("--out", default="runs/bench_sysid_control")
    ap.add_argument("--seed", type=int, default=0)
    add_csv_argument(ap, "system_id_control")
    args = ap.parse_args(argv)
    args.ranges = dict(args.ranges)
    for name in ("episodes", "episode_steps", "train_steps", "batch_size", "latent", "window", "systems", "steps",
                 "samples", "iterations", "reidentify_every", "rollout_steps"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.first_system < 0:
        ap.error(f"--first-system must be >= 0, got {args.first_system}")
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.out, args.data_dir = args.out + "_quick", args.data_dir + "_quick"
    torch.set_num_threads(1)
    print(f"machine: {machine()}")
    print(f"config: {vars(args)}")

    from envs.held_out_system import HeldOutSystem, sample_systems
    from envs.randomisation import override_ranges

    rows = CSVRows(csv_path(args, "system_id_control"))
    given = argparse.Namespace(**vars(args))
    for task in args.tasks:
        setup, k = SETUPS[task], SETUPS[task]["control_steps"]
        for name in ("samples", "iterations", "horizon", "rollout_steps"):  # the task's recipe unless given
            setattr(args, name, getattr(given, name) or setup[name])
        ranges = {**setup["ranges"], **args.ranges}
        override_ranges(task, **ranges)
        ranges_text = " ".join(f"{key}={lo:g},{hi:g}" for key, (lo, hi) in sorted(ranges.items()))  # each row's
        print(f"[{task}] ranges {ranges}; model step {k} control steps, rollout loss over "
              f"{args.rollout_steps} model steps; CEM {args.samples} x "
              f"{args.iterations}, {args.horizon} decisions x {k}", flush=True)
        t0 = time.perf_counter()
        rand = collect_data(task, args, randomise=True, seed=args.seed, ranges=ranges)
        nominal_data = collect_data(task, args, randomise=False, seed=args.seed + 100, ranges=ranges)
        nominal = HeldOutSystem(task).graph_system()
        print(f"[{task}] data: {rand.num_episodes} randomised + {nominal_data.num_episodes} nominal episodes "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        models = train_models(task, rand, nominal_data, nominal, args, k)

        first = args.first_system
        systems = sample_systems(task, first + args.systems, seed=10_000 + args.seed)[first:]
        returns: dict[str, list[float]] = {c: [] for c in args.controllers}
        for i, params in enumerate(systems, start=first):
            system_seed = 20_000 + i
            line = []
            for name in args.controllers:
                rewards, ms = run_controller(name, HeldOutSystem(task, params), models, args, system_seed, k)
                returns[name].append(float(np.sum(rewards)))
                rows.add({"table": "held-out", "task": task, "system": i, "controller": name,
                          "return": returns[name][-1], "plan_ms": round(ms, 1), **scales(params),
                          "train_steps": args.train_steps, "episodes": args.episodes, "window": args.window,
                          "rollout_steps": args.rollout_steps,
                          "ranges": ranges_text})
                line.append(f"{name} {returns[name][-1]:.1f}")
            print(f"[{task}] system {i} {scales(params)}: " + ", ".join(line), flush=True)
        print(f"\n| task | controller | mean return over {args.systems} systems | std | min | / (a) true params |")
        print("|---|---|---|---|---|---|")
        ref = np.mean(returns.get("(a) true params", [np.nan]))
        for name, rets in returns.items():
            print(f"| {task} | {name} | {np.mean(rets):.1f} | {np.std(rets):.1f} | {np.min(rets):.1f} | "
                  f"{np.mean(rets) / ref:.2f} |")
        for name in ("(b) ID", "(b) ID own motion"):
            if name in returns and "(c) no ID" in returns:
                print(f"{name} / true params {np.mean(returns[name]) / ref:.3f}; / no ID "
                      f"{np.mean(returns[name]) / np.mean(returns['(c) no ID']):.3f}")

        if args.change_step:
            body = setup["change_body"]
            after = {c: [] for c in ("(a) true params", "(b) ID once", "(b) ID online")}
            for i, params in enumerate(systems, start=first):
                new = changed(params, body, args.change_factor)
                line = []
                for name in after:
                    system = HeldOutSystem(task, params)
                    rewards, _ = run_controller(name, system, models, args, 20_000 + i, k,
                                                change=(args.change_step, new))
                    after[name].append(float(np.sum(rewards[args.change_step:])))
                    rows.add({"table": "change", "task": task, "system": i, "controller": name,
                              "return_after_change": after[name][-1], "return": float(np.sum(rewards)),
                              "change_step": args.change_step, "change_body": body,
                              "change_factor": args.change_factor, "reidentify_every": args.reidentify_every,
                              **scales(params)})
                    line.append(f"{name} {after[name][-1]:.1f}")
                print(f"[{task}] change system {i}: " + ", ".join(line), flush=True)
            ref = np.mean(after["(a) true params"])
            print(f"\n| task | controller | return after the change (mean over {args.systems}) | std | "
                  "/ (a) told the change |")
            print("|---|---|---|---|---|")
            for name, rets in after.items():
                print(f"| {task} | {name} | {np.mean(rets):.1f} | {np.std(rets):.1f} | {np.mean(rets) / ref:.2f} |")
    rows.save()
    return 0


def scales(params: dict) -> dict:
    """The varying parameter scales of a system as flat CSV columns (mass_1, length_2, ...)."""
    out = {}
    for key, values in params.items():
        for j, v in enumerate(values):
            if abs(v - 1.0) > 1e-12:
                out[f"{key.replace('_scale', '')}_{j}"] = round(float(v), 3)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
