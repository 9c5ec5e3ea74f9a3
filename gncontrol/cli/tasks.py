"""`gncontrol tasks`: the registered tasks and the schemes that name any other MuJoCo system."""

from __future__ import annotations

import argparse

HELP = "list the registered tasks and the dmc: / gym: / xml: names every --task accepts"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `gncontrol tasks`."""
    p.add_argument("--all", action="store_true", help="also list every dm_control suite task and Gymnasium "
                   "MuJoCo env by its dmc: / gym: name")


def run(args: argparse.Namespace) -> int:
    """Prints one task per line: name, whether it has a torch reward a planner can use."""
    from envs.tasks import SCHEMES, get_task, list_tasks

    print("registered tasks (torch reward equal to the env's unless marked):")
    for name in list_tasks():
        t = get_task(name)
        print(f"  {name}" + ("" if t.env_reward else "  (a reward of its own, no env twin)"))
    print("any other system, by scheme (a planner needs --reward module:function unless a torch twin exists):")
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
