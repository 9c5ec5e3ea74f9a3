"""Compiling an `mujoco.MjSpec` the way MuJoCo now asks, without deprecated compiler attributes.

dm_control's cheetah sets `<compiler settotalmass="14"/>`, which MuJoCo 3.17 still honours but
warns about on every compile ("compiler attribute 'settotalmass' is deprecated"). `compile_spec`
compiles without it and applies the same rescaling to the compiled model (mj_setTotalmass, then
mj_setConst for the derived constants), as the warning recommends; the model is the same.
"""

from __future__ import annotations

import mujoco

__all__ = ["compile_spec"]


def compile_spec(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """spec.compile(), with a `settotalmass` applied to the compiled model instead of by the compiler."""
    total = float(spec.compiler.settotalmass)
    if total <= 0:  # MuJoCo's default -1: no rescaling
        return spec.compile()
    spec.compiler.settotalmass = -1
    try:
        model = spec.compile()
    finally:
        spec.compiler.settotalmass = total
    mujoco.mj_setTotalmass(model, total)
    mujoco.mj_setConst(model, mujoco.MjData(model))
    return model
