"""GN / recurrent / MLP forward models on real MuJoCo data: learning, metrics, resume, DDP."""

import os
import subprocess
import sys

import pytest
import torch

from gncontrol.checkpoints import load_checkpoint
from gncontrol.forward.graph_forward import ConstantModel, ForwardModelConfig, build_forward_model
from gncontrol.forward.metrics import rollout_errors
from gncontrol.forward.training import TrainConfig, fit_model_normalisers, load_forward_model, train_forward_model
from gncontrol.forward.transitions import SystemTrajectories, sample_batch


@pytest.fixture(scope="module")
def pendulum():
    from envs.collect import collect

    data = collect("pendulum-swingup", 16, steps=60, seed=3, progress=False)
    return SystemTrajectories.from_arrays("pendulum-swingup", data).split(0.25)


def config(data, kind="gn"):
    sizes = (data.static_nodes.shape[-1], data.static_edges.shape[-1], data.static_globals.shape[-1])
    return ForwardModelConfig(kind, sizes, latent=32, hidden=(32,), recurrent_hidden=16,
                              num_nodes=data.num_nodes, num_edges=data.num_edges)


def fast_config(**kw):
    base = dict(steps=400, batch_size=32, lr=3e-3, lr_final=3e-4, noise_std=0.0, val_every=10**9,
                checkpoint_every=10**9)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("kind", ["gn", pytest.param("mlp", marks=pytest.mark.slow), "recurrent"])
def test_training_lowers_loss_tenfold(pendulum, kind, tmp_path):
    train, val = pendulum
    torch.manual_seed(0)
    fresh = build_forward_model(config(train, kind))
    fit_model_normalisers(fresh, [train])
    b = sample_batch([train], 256, torch.Generator().manual_seed(1))
    before = fresh.loss(b.state, b.action, b.next_nodes, b.system).item()
    steps = 1500 if kind == "mlp" else 400  # an MLP step costs ~1/10 of a GN step
    model = train_forward_model(config(train, kind), [train], [val], fast_config(steps=steps), tmp_path,
                                progress=False)
    after = model.loss(b.state, b.action, b.next_nodes, b.system).item()
    assert after < before / 10, (before, after)


@pytest.mark.slow
def test_gn_beats_constant_baseline_on_rollouts(pendulum, tmp_path):
    train, val = pendulum
    model = train_forward_model(config(train), [train], [val], fast_config(steps=600), tmp_path, progress=False)
    errors = rollout_errors(model, val, horizon=20)
    assert errors["mean"] < 0.3, errors
    assert rollout_errors(ConstantModel(), val, horizon=20)["mean"] == pytest.approx(1.0)


def test_resume_reproduces_uninterrupted_run(pendulum, tmp_path):
    train, val = pendulum
    cfg = fast_config(steps=40, checkpoint_every=10, noise_std=0.05)
    full = train_forward_model(config(train), [train], [val], cfg, tmp_path / "full", progress=False)
    train_forward_model(config(train), [train], [val], cfg, tmp_path / "cut", progress=False, stop_after=17)
    assert load_checkpoint(tmp_path / "cut" / "model.pt")["step"] == 17
    resumed = train_forward_model(config(train), [train], [val], cfg, tmp_path / "cut", resume=True,
                                  progress=False)
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), name


def test_checkpoint_roundtrip_and_step_interface(pendulum, tmp_path):
    train, val = pendulum
    model = train_forward_model(config(train), [train], [val], fast_config(steps=5), tmp_path, progress=False)
    loaded, record = load_forward_model(tmp_path / "model.pt")
    assert record["step"] == 5
    b = sample_batch([val], 8, torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model.eval().step(b.state, b.action, b.system).nodes,
                           loaded.step(b.state, b.action, b.system).nodes)
    with pytest.raises(ValueError, match="params=GraphSystem"):
        loaded.step(b.state, b.action)
    with pytest.raises(ValueError, match="system of 4 graphs cannot serve 8 states"):
        loaded.step(b.state, b.action, sample_batch([val], 4, torch.Generator()).system)
    one = val.system(torch.tensor([0]))  # one system broadcasts over many states
    with torch.no_grad():
        assert loaded.step(b.state, b.action, one).nodes.shape == b.state.nodes.shape


def test_gradients_flow_through_rollouts_to_actions(pendulum):
    """Planners backpropagate the predicted return into the actions."""
    train, _ = pendulum
    model = build_forward_model(config(train))
    fit_model_normalisers(model, [train])
    b = sample_batch([train], 4, torch.Generator().manual_seed(0))
    actions = torch.zeros(4, 5, train.action_dim, requires_grad=True)
    state = b.state
    for t in range(5):
        state = model.step(state, actions[:, t], b.system)
    state.nodes[:, 10:13].square().sum().backward()
    assert actions.grad is not None and actions.grad.abs().sum() > 0


def test_unknown_model_kind():
    with pytest.raises(ValueError, match="unknown model kind 'transformer'"):
        build_forward_model(ForwardModelConfig("transformer", (1, 1, 1)))


DDP_SCRIPT = r"""
import os, sys, torch
torch.set_num_threads(1)
from envs.collect import collect
from gncontrol.forward.transitions import SystemTrajectories
from gncontrol.forward.graph_forward import ForwardModelConfig
from gncontrol.forward.training import TrainConfig, train_forward_model
data = SystemTrajectories.from_arrays("p", collect("pendulum-swingup", 6, steps=20, seed=1, progress=False))
cfg = ForwardModelConfig("gn", (data.static_nodes.shape[-1], data.static_edges.shape[-1],
                         data.static_globals.shape[-1]), latent=16, hidden=(16,))
model = train_forward_model(cfg, [data], [], TrainConfig(steps=5, batch_size=16, val_every=10**9,
                            checkpoint_every=10**9), sys.argv[1], progress=False)
rank = int(os.environ["RANK"])
torch.save(model.state_dict(), os.path.join(sys.argv[1], f"rank{rank}.pt"))
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_data_parallel_replicas_hold_identical_weights(tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                           "--master_addr=127.0.0.1", f"--master_port={_free_port()}", str(script), str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = build_forward_model(ForwardModelConfig("gn", (19, 23, 12), latent=16, hidden=(16,))).state_dict()
    changed = False
    for name in a:
        assert torch.equal(a[name], b[name]), name
        changed |= a[name].shape == init[name].shape and not torch.equal(a[name], init[name])
    assert changed
