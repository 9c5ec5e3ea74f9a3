"""MBPO with a real off-policy learner: Stable-Baselines3's SAC whose replay buffer also
receives short branched rollouts of the learned GN from real states (Janner et al. 2019).

    agent = make_sac(task, seed=0)                                     # plain SAC on the real env
    agent.learn(20_000, callback=MBPOCallback(task, MBPOConfig()))     # the same SAC, plus model data

Every `model_every` real steps (once `model_starts` real transitions exist) the callback
fits the GN forward model on every real transition seen so far (1-step episodes: states
[K, 2, N, 13], actions [K, 1, A]; the first fit trains `fit_steps` from scratch, later ones
fine-tune `finetune_steps`), then branches `rollouts` one-step model transitions from real
states drawn uniformly from those seen, with actions from SAC's current stochastic policy,
and adds them to SAC's replay buffer (rewards from the task's torch reward on the predicted
state; diverged predictions dropped). Model data thus joins SAC's batches in proportion to its
count, as in MBPO's mixed buffer; the number of SAC updates per env step is SAC's own
`gradient_steps`, the same as plain SAC's unless set otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.callbacks import BaseCallback  # the sb3 extra: pip install -e ".[sb3]"

from agents.model_learning import fit_model, new_model, random_data, transitions_as_trajectories
from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError

__all__ = ["MBPOConfig", "MBPOCallback", "make_sac"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MBPOConfig:
    """The model and branching schedule of MBPO (see the module doc)."""

    model_starts: int = 1000  # real transitions before the first model fit
    model_every: int = 1000  # real steps between model fits (and branching)
    fit_steps: int = 2000
    finetune_steps: int = 500
    rollouts: int = 2000  # model transitions added per fit
    batch_size: int = 64
    latent: int = 64
    hidden: tuple[int, ...] = (64,)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("model_starts", "model_every", "fit_steps", "finetune_steps", "rollouts", "batch_size",
                     "latent"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")


def make_sac(task: str, seed: int = 0, episode_length: int | None = None, **sac_options: Any) -> Any:
    """Stable-Baselines3 SAC ("MlpPolicy") on the task's real env (envs.gym_wrapper.TaskEnv, flat body
    states; episodes of `episode_length` steps, default the task's)."""
    import stable_baselines3 as sb3

    from envs.gym_wrapper import TaskEnv

    env = TaskEnv(task, episode_length=episode_length)
    env.reset(seed=seed)
    return sb3.SAC("MlpPolicy", env, seed=seed, verbose=0, **sac_options)


class MBPOCallback(BaseCallback):
    """The SB3 callback that adds MBPO's model data to SAC's replay buffer (module doc)."""

    def __init__(self, task: str, config: MBPOConfig = MBPOConfig(), device: torch.device | str = "cpu"):
        super().__init__()
        from envs.tasks import get_task

        self.task, self.config, self.device = get_task(task), config, device
        self.template = random_data(task, 1, 2, seed=config.seed)  # the system's static graph
        self.states: list[np.ndarray] = []  # real transitions: s [N, 13], a [A], s' [N, 13]
        self.actions: list[np.ndarray] = []
        self.next_states: list[np.ndarray] = []
        self.dynamics: Any = None
        self.optimiser: torch.optim.Optimizer | None = None
        self.fits = 0
        self.model_transitions = 0
        self._gen = np.random.default_rng(config.seed)

    def _on_step(self) -> bool:
        n = self.task.graph().num_nodes
        obs = np.asarray(self.model._last_obs)  # before this step (SB3 stores the transition after us)
        new = np.asarray(self.locals["new_obs"]).copy()
        for i, (done, info) in enumerate(zip(self.locals["dones"], self.locals["infos"])):
            if done and "terminal_observation" in info:
                new[i] = info["terminal_observation"]
        actions = np.asarray(self.locals["actions"])
        for i in range(obs.shape[0]):
            self.states.append(obs[i].reshape(n, STATE_SIZE))
            self.actions.append(actions[i].reshape(-1))
            self.next_states.append(new[i].reshape(n, STATE_SIZE))
        seen = len(self.states)
        if seen >= self.config.model_starts and self.num_timesteps % self.config.model_every == 0:
            self._fit()
            self._branch()
        return True

    def _fit(self) -> None:
        """Fits (first time) or fine-tunes the GN on every real transition so far."""
        c = self.config
        data = transitions_as_trajectories(self.template, torch.tensor(np.stack(self.states)),
                                           torch.tensor(np.stack(self.actions)),
                                           torch.tensor(np.stack(self.next_states)))
        if self.dynamics is None:
            self.dynamics = new_model(data, latent=c.latent, hidden=c.hidden, seed=c.seed, device=self.device)
            self.optimiser = torch.optim.Adam(self.dynamics.parameters(), lr=1e-3)
        steps = c.fit_steps if self.fits == 0 else c.finetune_steps
        fit_model(self.dynamics, [data], steps, c.batch_size, seed=c.seed + self.fits, optimiser=self.optimiser)
        self.fits += 1

    @torch.no_grad()
    def _branch(self) -> None:
        """Adds `rollouts` one-step model transitions from real states to SAC's replay buffer."""
        from agents.model_env import ModelVectorEnv

        c, n = self.config, self.task.graph().num_nodes
        pick = self._gen.integers(0, len(self.states), c.rollouts)
        starts = torch.tensor(np.stack([self.states[i] for i in pick]), dtype=torch.float32)
        venv = ModelVectorEnv(self.dynamics, self.task, starts, num_envs=1, device=self.device)
        obs = starts.reshape(c.rollouts, n * STATE_SIZE)
        actions, _ = self.model.predict(obs.numpy(), deterministic=False)
        s2, r = venv.torch_step(obs, torch.as_tensor(actions, dtype=torch.float32))
        keep = torch.isfinite(s2).all(-1) & (s2.abs().amax(-1) <= venv.max_abs) & torch.isfinite(r)
        buffer = self.model.replay_buffer
        scaled = self.model.policy.scale_action(actions)
        for i in torch.nonzero(keep).flatten().tolist():
            buffer.add(obs[i:i + 1].numpy(), s2[i:i + 1].numpy(), scaled[i:i + 1], r[i:i + 1].numpy(),
                       np.zeros(1), [{}])
        self.model_transitions += int(keep.sum())
        self.logger.record("mbpo/model_transitions", self.model_transitions)
