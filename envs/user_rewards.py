"""A user's torch reward from `module:function` or `path/file.py:function`, checked before any work.

The function is `reward(state, action) -> [B]`: `state` the body states [B, N, 13] (per body:
position 3, quaternion wxyz 4, linear velocity 3, angular velocity 3; node 0 is the world body,
in MuJoCo's body order), `action` [B, A]; torch throughout, so gradient planners differentiate
it. `load_reward(spec)` imports it; `checked_reward(fn, graph, spec)` calls it once on a batch
of two states, so a wrong signature or output shape is one clear line, not a traceback mid-plan.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gncontrol.errors import InputError

__all__ = ["load_reward", "checked_reward", "is_reward_spec"]


def is_reward_spec(text: str) -> bool:
    """True when `text` names a function (`module:function` or `file.py:function`), not a task."""
    head, sep, tail = text.rpartition(":")
    return bool(sep and head and tail.isidentifier() and not head.startswith(("dmc", "gym", "xml")))


def load_reward(spec: str) -> Callable:
    """The function `spec` names (`package.module:function` or `path/to/file.py:function`)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr:
        raise InputError(f"--reward {spec!r}: give module:function or path/file.py:function")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name)
            if not path.is_file():
                raise InputError(f"--reward {spec!r}: file {module_name} not found")
            name = f"gncontrol_user_reward_{abs(hash(str(path.resolve())))}"
            mod_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except InputError:
        raise
    except Exception as e:  # the user's module failed to import: its error, in one line
        raise InputError(f"--reward {spec!r}: importing {module_name} failed: {type(e).__name__}: {e}") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise InputError(f"--reward {spec!r}: {module_name} has no function {attr!r}")
    try:
        inspect.signature(fn).bind(None, None)
    except TypeError:
        raise InputError(f"--reward {spec!r}: {attr} must take (state, action), has {inspect.signature(fn)}") from None
    except ValueError:  # builtins without a signature: left to the call check
        pass
    return fn


def checked_reward(fn: Callable, graph: Any, spec: str) -> Callable:
    """`fn` after one call on two reference states [2, N, 13] and zero actions [2, A] returned a [2] tensor."""
    import numpy as np

    model = graph.model
    import mujoco

    data = mujoco.MjData(model)
    mujoco.mj_forward(model, data)
    state = torch.from_numpy(np.repeat(graph.body_states(data)[None], 2, axis=0))
    action = torch.zeros(2, graph.action_dim, dtype=state.dtype)
    try:
        out = fn(state, action)
    except Exception as e:
        raise InputError(f"--reward {spec!r} failed on states [2, {graph.num_nodes}, 13] and actions "
                         f"[2, {graph.action_dim}]: {type(e).__name__}: {e}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2,):
        got = f"shape {tuple(out.shape)}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise InputError(f"--reward {spec!r} must return a torch tensor [B] (one reward per state); on B = 2 "
                         f"states it returned {got}")
    return fn
