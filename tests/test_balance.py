"""Per-system loss weights for multi-system training (gncontrol.forward.balance) on real MuJoCo data."""

import dataclasses

import pytest
import torch

from envs.collect import collect
from gncontrol.body_state import STATE_SIZE
from gncontrol.checkpoints import load_checkpoint
from gncontrol.errors import InputError
from gncontrol.forward.balance import system_weights
from gncontrol.forward.graph_forward import ForwardModelConfig, build_forward_model
from gncontrol.forward.training import TrainConfig, fit_model_normalisers, train_forward_model
from gncontrol.forward.transitions import SystemTrajectories, sample_batch


@pytest.fixture(scope="module")
def systems():
    return [SystemTrajectories.from_arrays(t, collect(t, 6, steps=40, seed=2, progress=False))
            for t in ("pendulum-swingup", "cheetah-run")]


def model_for(systems):
    s = systems[0]
    cfg = ForwardModelConfig("gn", (s.static_nodes.shape[-1], s.static_edges.shape[-1], s.static_globals.shape[-1]),
                             latent=16, hidden=(16,), positions="per-system")
    model = build_forward_model(cfg)
    fit_model_normalisers(model, systems)
    return model


def test_weights_follow_the_batch_layout_and_count_every_system_equally(systems):
    model = model_for(systems)
    w = system_weights(model, systems, 10)
    batch = sample_batch(systems, 10, torch.Generator().manual_seed(0))
    assert w.shape == batch.next_nodes[:, :STATE_SIZE].shape  # 5 pendulums x 2 nodes, then 5 cheetahs x 8
    assert float(w.mean()) == pytest.approx(1.0)
    rows = [5 * s.num_nodes for s in systems]
    # each system's constant-prediction loss (its deltas' variance) counts the same: w x (the system's mean delta
    # variance over the moving features) x (its rows) is one constant across systems; unweighted, the systems'
    # contributions differ several-fold
    big = sample_batch(systems, 4000, torch.Generator().manual_seed(1))
    target = model.norm_delta(big.next_nodes[:, :STATE_SIZE] - big.state.nodes[:, :STATE_SIZE])
    moving = model.norm_delta.varies > 0
    parts = target.split([2000 * s.num_nodes for s in systems])
    scaled, plain = [], []
    for p, wk, r in zip(parts, w.split(rows), rows):
        assert torch.equal(wk, wk[:1, :1].expand_as(wk))  # one number per system
        var = float(p.var(0)[moving].mean())
        scaled.append(float(wk[0, 0]) * var * r)
        plain.append(var * r)
    assert max(scaled) / min(scaled) < 1.15
    assert max(plain) / min(plain) > 3


def test_training_with_balance_records_it_and_resume_must_match(systems, tmp_path):
    train = [s.split(0.25)[0] for s in systems]
    val = [s.split(0.25)[1] for s in systems]
    cfg = model_for(systems).config
    tc = TrainConfig(steps=20, batch_size=8, val_every=10**9, checkpoint_every=10, balance_systems=True)
    train_forward_model(cfg, train, val, tc, tmp_path, progress=False, stop_after=10)
    assert load_checkpoint(tmp_path / "model.pt", "forward_model")["train_config"]["balance_systems"] is True
    with pytest.raises(InputError, match="balance_systems"):
        train_forward_model(cfg, train, val, dataclasses.replace(tc, balance_systems=False), tmp_path,
                            progress=False, resume=True)
    model = train_forward_model(cfg, train, val, tc, tmp_path, progress=False, resume=True)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_a_batch_smaller_than_the_systems_is_refused(systems):
    with pytest.raises(InputError, match="batch_size 1"):
        system_weights(model_for(systems), systems, 1)


def test_train_cli_balances_several_data_files(tmp_path):
    from gncontrol.cli import main

    files = []
    for task in ("pendulum-swingup", "cartpole-swingup"):
        files.append(str(tmp_path / f"{task}.h5"))
        assert main(["collect", "--task", task, "--episodes", "3", "--steps", "20", "--out", files[-1]]) == 0
    out = tmp_path / "m"
    assert main(["train", "--data", *files, "--steps", "4", "--latent", "8", "--hidden", "8", "--batch-size", "4",
                 "--balance-systems", "--out", str(out)]) == 0
    assert load_checkpoint(out / "model.pt", "forward_model")["train_config"]["balance_systems"] is True
