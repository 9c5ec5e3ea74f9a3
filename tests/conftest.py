"""Shared pytest setup: headless MuJoCo rendering and a fixed torch thread count."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

# One thread: the test workloads are tiny, and on a loaded 2-core machine a second OpenMP
# thread makes small ops up to 30x slower (measured: 7 ms vs 203 ms per GN training step).
torch.set_num_threads(1)
