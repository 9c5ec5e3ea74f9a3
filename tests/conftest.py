"""Shared pytest setup: headless MuJoCo rendering and a fixed torch thread count."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")

import torch  # noqa: E402

torch.set_num_threads(min(2, torch.get_num_threads()))
