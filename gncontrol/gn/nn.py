"""Small network factories handed to GN blocks (graph_nets style: functions injected)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

ModuleFactory = Callable[[int], nn.Module]

__all__ = ["ModuleFactory", "mlp", "mlp_factory", "output_size"]


def mlp(in_size: int, hidden: Sequence[int], out_size: int, activation: type[nn.Module] = nn.ReLU,
        layer_norm: bool = False) -> nn.Sequential:
    """An MLP in_size -> hidden... -> out_size; optional LayerNorm on the output."""
    layers: list[nn.Module] = []
    sizes = [in_size, *hidden]
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), activation()]
    layers.append(nn.Linear(sizes[-1], out_size))
    if layer_norm:
        layers.append(nn.LayerNorm(out_size))
    return nn.Sequential(*layers)


def mlp_factory(hidden: Sequence[int], out_size: int, activation: type[nn.Module] = nn.ReLU,
                layer_norm: bool = False) -> ModuleFactory:
    """A factory `in_size -> MLP` for GN blocks, which know their input size only when built."""

    def make(in_size: int) -> nn.Module:
        return mlp(in_size, hidden, out_size, activation, layer_norm)

    return make


def output_size(module: nn.Module, in_size: int) -> int:
    """The feature size `module` returns for a [1, in_size] input (probed once, no grad)."""
    param = next(module.parameters(), None)
    kw = {} if param is None else {"dtype": param.dtype, "device": param.device}
    with torch.no_grad():
        return int(module(torch.zeros(1, in_size, **kw)).shape[-1])
