"""envs: MuJoCo / dm_control systems as graphs, tasks with torch rewards, data collection.

Modules (import what you need; nothing heavy is imported here):
    envs.mujoco_graph   MujocoGraph: any MjModel -> static graph + dynamic graph per step
    envs.tasks          get_task(name), list_tasks(), Task (torch rewards equal to the env's)
    envs.rewards        dm_control's reward formulas in torch
    envs.randomisation  per-episode masses, damping, gears, link lengths (ranges in RANGES)
    envs.held_out_system  one randomised system as a planner's real env, true model and static graph
    envs.collect        collect(): direct physics stepping, parallel, deterministic, resumable
    envs.gym_wrapper    TaskEnv: any task as a Gymnasium env (flat or graph observations)
    envs.particles      particle systems (NRI / Hamiltonian models)
    envs.rendering      MUJOCO_GL chosen before mujoco is imported; frames that degrade to None

Importing `envs` chooses MuJoCo's OpenGL backend when the user has not set MUJOCO_GL
(`envs.rendering.choose_gl_backend`), so rendering works on a headless machine.
"""

import logging

from envs.rendering import choose_gl_backend

choose_gl_backend()


class _SuiteSettotalmassFilter(logging.Filter):
    """Drops MuJoCo's deprecation warning for dm_control's own cheetah XML (`settotalmass`), which
    dm_control logs through absl on every cheetah env: the user did not cause it, and the model is
    unchanged (envs.specs.compile_spec does the same rescaling without the attribute)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "compiler attribute 'settotalmass' is deprecated" not in record.getMessage()


logging.getLogger("absl").addFilter(_SuiteSettotalmassFilter())
