"""Shared pytest setup: MuJoCo's OpenGL backend chosen as for a user, and a fixed torch thread count."""

import torch

import envs  # noqa: F401 - chooses MUJOCO_GL (as any user command does) before a test imports mujoco

# One thread: the test workloads are tiny, and on a loaded 2-core machine a second OpenMP
# thread makes small ops up to 30x slower (measured: 7 ms vs 203 ms per GN training step).
torch.set_num_threads(1)
