"""gncontrol.forward.static_kernels: a function compiled once per signature gives its eager outputs and tree."""

import pytest
import torch

from gncontrol.forward import static_kernels


def small(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> tuple:
    """A tree of tensors and constants, as the fused step returns."""
    h = torch.relu(torch.addmm(b, x, w))
    return h.sum(0), [h, (x * 2, 3)], x.shape[0]


def test_compiled_outputs_tree_and_cache():
    gen = torch.Generator().manual_seed(0)
    x, w, b = torch.randn(5, 4, generator=gen), torch.randn(4, 3, generator=gen), torch.randn(3, generator=gen)
    before = static_kernels.cache_info()
    call, structure = static_kernels.compiled_for(("small", 1), small, [x, w, b])
    flat = call(x, w, b)
    got, want = structure.rebuild(flat), small(x, w, b)
    assert len(flat) == 3 and got[2] == 5 and got[1][1][1] == 3
    for a, e in ((got[0], want[0]), (got[1][0], want[1][0]), (got[1][1][0], want[1][1][0])):
        torch.testing.assert_close(a, e, rtol=0, atol=1e-6)
    # new values of the same signature: no recompilation, the new values' result (nothing baked in)
    x2 = torch.randn(5, 4, generator=gen)
    again, _ = static_kernels.compiled_for(("small", 1), small, [x2, w, b])
    assert again is call
    torch.testing.assert_close(again(x2, w, b)[0], small(x2, w, b)[0], rtol=0, atol=1e-6)
    info = static_kernels.cache_info()
    assert info["hits"] - before["hits"] == 1


@pytest.mark.slow
def test_another_shape_or_key_compiles_its_own_entry():
    """Slow tier: two more compilations."""
    x, w, b = torch.randn(5, 4), torch.randn(4, 3), torch.randn(3)
    call, _ = static_kernels.compiled_for(("small", 1), small, [x, w, b])
    before = static_kernels.cache_info()["compiled"]
    other_shape, _ = static_kernels.compiled_for(("small", 1), small, [torch.randn(2, 4), w, b])
    other_key, _ = static_kernels.compiled_for(("small", 2), small, [x, w, b])
    assert static_kernels.cache_info()["compiled"] - before == 2
    assert other_shape is not call and other_key is not call
    torch.testing.assert_close(other_shape(torch.ones(2, 4), w, b)[0], small(torch.ones(2, 4), w, b)[0], rtol=0,
                               atol=1e-6)
