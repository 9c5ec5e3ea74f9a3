"""`gncontrol tasks`: the registered tasks and the schemes that name any other MuJoCo system."""

from __future__ import annotations

import argparse

HELP = "list the registered tasks and the dmc: / gym: / xml: names every --task accepts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol tasks`."""
    p.add_argument("--all", action="store_true", help="also list every dm_control suite task and Gymnasium "
                   "MuJoCo env by its dmc: / gym: name")
    p.add_argument("--show", metavar="TASK", default=None, help="describe one task instead: its graph's size, "
                   "its reward, and what its body graph leaves out (tendons, targets, contacts, ...)")


def run(args: argparse.Namespace) -> int:
    """Prints one task per line: name, whether it has a torch reward a planner can use."""
    from envs.tasks import SCHEMES, get_task, list_tasks

    if args.show:
        return _show(get_task(args.show))
    print("registered tasks (torch reward equal to the env's unless marked):")
    for name in list_tasks():
        t = get_task(name)
        print(f"  {name}" + ("" if t.env_reward else "  (a reward of its own, no env twin)"))
    print("any other system, by scheme (a planner needs --reward module:function unless a torch twin exists; "
          "gym: envs have Gymnasium's reward terms in torch):")
    for text in SCHEMES.values():
        print(f"  {text}")
    if args.all:
        from dm_control import suite

        print("dm_control suite:")
        for domain, task in sorted(suite.ALL_TASKS):
            print(f"  dmc:{domain}-{task}")
        import gymnasium as gym

        print("Gymnasium MuJoCo envs:")
        for env_id, spec in sorted(gym.registry.items()):
            if "mujoco" in str(spec.entry_point) and env_id.endswith("-v5"):
                print(f"  gym:{env_id}")
    return 0


def _show(task) -> int:
    """Prints one task's graph size, reward and the parts of its model the body graph does not carry."""
    from envs.graph_coverage import omissions

    g = task.graph()
    reward = task.reward_spec or task.reward_builder or "none (give --reward or --reward-model)"
    print(f"{task.name}: {g.num_nodes} bodies (nodes, the world included), {g.num_edges} edges (joints), "
          f"{task.action_dim} actions; {task.episode_length} steps of {task.control_timestep:g} s; "
          f"torch reward: {reward}")
    missing = omissions(g)
    print("the body graph leaves out:" if missing else "the body graph carries the whole model")
    for line in missing:
        print(f"  - {line}")
    return 0
