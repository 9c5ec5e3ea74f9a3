"""Small tensor functions compiled once per shape by inductor, called without Dynamo's per-call machinery.

A planner calls the fused GN step (gncontrol.forward.fast_path) hundreds of times per plan on the same shapes.
`torch.compile` serves that, but every call of a compiled region pays Dynamo's frame evaluation, guard checks on
every input and AOTAutograd's runtime wrappers: measured here at ~55 us per call of the fused step's forward
(116 us through the kernel alone vs 172 us through `torch.compile`, cartpole, batch 16), as much as half its
arithmetic. Here a function is traced once per input signature (shapes, strides, dtypes, devices and the
caller's static key) with `make_fx` and compiled by `torch._inductor.compile` (C++ wrapper on CPU), and the
caller holds the compiled callable for a whole rollout: a call is one C++ entry with the tensors positional.

The caller guarantees what Dynamo's guards would check: the key must name everything the traced function
reads besides its tensor inputs (static ints, flags, the layout of nested inputs); tensors must not be captured
by the traced function (they would be baked in as constants of the first call's values). `cache_info()` counts
compilations (tests and benchmarks).

    call, structure = compiled_for(key, fn, tensors)   # fn(*tensors) -> any tree of tensors and constants
    outputs = call(*tensors)                            # a flat list of the tree's tensors, in order
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

Tensor = torch.Tensor

__all__ = ["TreeTemplate", "compiled_for", "cache_info", "clear_cache"]

_CACHE: dict = {}
_INFO = {"compiled": 0, "hits": 0}


class TreeTemplate:
    """A tree of tensors and constants with its tensors taken out: rebuilds the tree from other tensors put in
    their place (the traced function's outputs from the compiled callable's flat list; a caller's nested
    arguments from the tensors it passes flat)."""

    def __init__(self, leaves: list, spec: Any):
        self.spec = spec
        self.is_tensor = [isinstance(x, Tensor) for x in leaves]
        self.constants = tuple(None if t else x for x, t in zip(leaves, self.is_tensor))

    @classmethod
    def of(cls, tree: Any) -> tuple[list, TreeTemplate]:
        """(the tree's tensors in order, its template)."""
        leaves, spec = tree_flatten(tree)
        return [x for x in leaves if isinstance(x, Tensor)], cls(leaves, spec)

    @property
    def key(self) -> tuple:
        """Hashable: the tree's layout and constants (what a compiled function traced from it depends on)."""
        return self.spec, self.constants

    def rebuild(self, tensors: Sequence[Tensor]) -> Any:
        """The tree with these tensors in the tensor positions (and the template's constants elsewhere)."""
        it = iter(tensors)
        return tree_unflatten([next(it) if t else c for t, c in zip(self.is_tensor, self.constants)], self.spec)


def _signature(tensors: Sequence[Tensor]) -> tuple:
    return tuple((tuple(t.shape), t.stride(), t.dtype, t.device) for t in tensors)


def compiled_for(key: Any, fn: Callable[..., Any], tensors: Sequence[Tensor],
                 options: dict | None = None) -> tuple[Callable[..., list], TreeTemplate]:
    """(call, structure): fn compiled for these tensors' signature, or the cached one for (key, signature).

    fn(*tensors) may return any tree (tuples, lists, ints); call(*tensors) returns the tree's tensors as a flat
    list and `structure.rebuild` the tree. Compiled under no_grad (the result records no autograd graph).
    """
    full_key = (key, _signature(tensors))
    entry = _CACHE.get(full_key)
    if entry is None:
        from torch._inductor import config as inductor_config
        from torch.fx.experimental.proxy_tensor import make_fx

        holder: dict = {}

        def flat(*ts: Tensor) -> list:
            outputs, holder["structure"] = TreeTemplate.of(fn(*ts))
            return outputs

        example = list(tensors)
        with torch.no_grad():
            graph = make_fx(flat, tracing_mode="fake")(*example)
            patch = {"cpp_wrapper": True} if all(t.device.type == "cpu" for t in example) else {}
            with inductor_config.patch({**patch, **(options or {})}):
                call = torch._inductor.compile(graph, example)
        entry = _CACHE[full_key] = (call, holder["structure"])
        _INFO["compiled"] += 1
    else:
        _INFO["hits"] += 1
    return entry


def cache_info() -> dict:
    """{"compiled": functions compiled so far, "hits": lookups served from the cache, "entries": cached}."""
    return {**_INFO, "entries": len(_CACHE)}


def clear_cache() -> None:
    """Drops every compiled function (the next call of each signature compiles again)."""
    _CACHE.clear()
