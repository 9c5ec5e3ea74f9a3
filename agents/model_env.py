"""A learned dynamics model as a Gymnasium environment (batched vector env and single env).

Any model with the dynamics interface (`step(state Graph, action [B, A], params) -> Graph`,
e.g. a trained GNForwardModel) plus a task's differentiable reward becomes an environment
that third-party RL libraries can train in ("the model as an env", as in mbrl-lib):

    venv = ModelVectorEnv(model, task, start_states, num_envs=64)   # gymnasium.vector.VectorEnv
    env = ModelEnv(model, task, start_states)                       # gymnasium.Env

Observations are flat body states [N * 13] (float32; the same layout as
`envs.gym_wrapper.TaskEnv(observation="flat")`, so a policy trained here runs there).
Start states are drawn uniformly from `start_states` [M, N, 13] (e.g. every state of a
dataset, `SystemTrajectories.states.reshape(-1, N, 13)`). Rewards are `task.reward` on the
predicted next state. Episodes truncate after `episode_length` steps and terminate when the
model's prediction leaves the observation box [-max_abs, max_abs] or is not finite (a diverged
rollout is no state to learn from). The vector env autoresets in Gymnasium's default
NEXT_STEP mode: the step after an episode ended returns the new start observation with
reward 0.

`ModelVectorEnv.torch_step(obs [B, N*13], action [B, A]) -> (next obs, reward)` is the same
transition as a differentiable torch function, for agents that backpropagate through the
model (SVG(1)).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from gncontrol.body_state import STATE_SIZE
from gncontrol.errors import InputError
from gncontrol.systems import GraphSystem

__all__ = ["ModelVectorEnv", "ModelEnv", "model_transitions"]


class ModelVectorEnv(VectorEnv):
    """`num_envs` copies of a learned model stepped as one batch (see module doc)."""

    metadata = {"autoreset_mode": AutoresetMode.NEXT_STEP, "render_modes": []}

    def __init__(self, model: Any, task: Any, start_states: torch.Tensor, num_envs: int = 16,
                 params: GraphSystem | None = None, episode_length: int | None = None,
                 max_abs: float = 1e3, device: torch.device | str | None = None) -> None:
        """model: dynamics model; task: envs.tasks.Task; start_states [M, N, 13] body states."""
        graph = task.graph()
        n = graph.num_nodes
        if start_states.dim() != 3 or start_states.shape[1:] != (n, STATE_SIZE):
            raise InputError(f"start_states must be [M, {n}, {STATE_SIZE}] for task {task.name}, "
                             f"got {tuple(start_states.shape)}")
        if start_states.shape[0] < 1 or not torch.isfinite(start_states).all():
            raise InputError("start_states must hold at least one finite state")
        if num_envs < 1:
            raise InputError(f"num_envs must be >= 1, got {num_envs}")
        self.model, self.task, self.graph = model, task, graph
        self.max_abs = float(max_abs)
        self.device = torch.device(device) if device is not None else start_states.device
        self.start_states = start_states.to(self.device, torch.float32)
        self.params = (params if params is not None else task.graph().graph_system()).to(self.device, torch.float32)
        self.num_envs = int(num_envs)
        self.episode_length = int(episode_length or task.episode_length)
        self.num_nodes, self.action_dim = n, graph.action_dim
        self.low = torch.tensor(task.action_low, dtype=torch.float32, device=self.device)
        self.high = torch.tensor(task.action_high, dtype=torch.float32, device=self.device)
        self.single_observation_space = gym.spaces.Box(-self.max_abs, self.max_abs, (n * STATE_SIZE,),
                                                       np.float32)
        self.single_action_space = gym.spaces.Box(task.action_low.astype(np.float32),
                                                  task.action_high.astype(np.float32), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._gen = torch.Generator(device=self.device)
        self._states = torch.zeros(self.num_envs, n, STATE_SIZE, device=self.device)
        self._last_action = torch.zeros(self.num_envs, self.action_dim, device=self.device)
        self._t = np.zeros(self.num_envs, dtype=np.int64)
        self._needs_reset = np.zeros(self.num_envs, dtype=bool)

    # ------------------------------------------------------------------ torch view
    def torch_step(self, obs: torch.Tensor, action: torch.Tensor,
                   prev_action: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Differentiable transition: obs [B, N*13], action [B, A] -> (next obs [B, N*13], reward [B])."""
        b = obs.shape[0]
        if obs.dim() != 2 or obs.shape[1] != self.num_nodes * STATE_SIZE:
            raise InputError(f"obs must be [B, {self.num_nodes * STATE_SIZE}], got {tuple(obs.shape)}")
        if action.shape != (b, self.action_dim):
            raise InputError(f"action must be [{b}, {self.action_dim}], got {tuple(action.shape)}")
        action = torch.maximum(torch.minimum(action, self.high), self.low)
        prev = torch.zeros_like(action) if prev_action is None else prev_action
        state = self.graph.dynamic_graph(obs.reshape(b, self.num_nodes, STATE_SIZE), prev)
        nxt = self.model.step(state, action, self.params)
        nodes = nxt.nodes[:, :STATE_SIZE].reshape(b, self.num_nodes, STATE_SIZE)
        reward = self.task.reward(self.graph.dynamic_graph(nodes, action), action)
        return nodes.reshape(b, -1), reward

    # --------------------------------------------------------------- gymnasium API
    def _draw(self, count: int) -> torch.Tensor:
        idx = torch.randint(0, self.start_states.shape[0], (count,), generator=self._gen, device=self.device)
        return self.start_states[idx]

    def _obs(self) -> np.ndarray:
        return self._states.reshape(self.num_envs, -1).cpu().numpy().astype(np.float32)

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict | None = None) -> tuple[np.ndarray, dict]:
        """Draws every env's start state from the data (seeded by `seed`); returns (obs [B, N*13], {})."""
        if isinstance(seed, list):
            seed = seed[0]
        if seed is not None:
            self._gen.manual_seed(int(seed))
            self.action_space.seed(int(seed))
        elif not hasattr(self, "_seeded"):
            self._gen.manual_seed(int(np.random.SeedSequence().generate_state(1)[0]))
        self._seeded = True
        self._states = self._draw(self.num_envs)
        self._last_action.zero_()
        self._t[:] = 0
        self._needs_reset[:] = False
        return self._obs(), {}

    @torch.no_grad()
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Steps all envs with actions [B, A]; returns (obs, reward [B], terminated [B], truncated [B], {})."""
        a = torch.as_tensor(np.asarray(actions), dtype=torch.float32, device=self.device)
        if a.shape != (self.num_envs, self.action_dim):
            raise InputError(f"actions must be [{self.num_envs}, {self.action_dim}], got {tuple(a.shape)}")
        if not torch.isfinite(a).all():
            raise InputError("actions contain NaN or inf")
        a = torch.maximum(torch.minimum(a, self.high), self.low)
        obs, reward = self.torch_step(self._states.reshape(self.num_envs, -1), a, self._last_action)
        nxt = obs.reshape(self._states.shape)
        bad = (~torch.isfinite(nxt).all(-1).all(-1)) | (nxt.abs().amax((-1, -2)) > self.max_abs)
        reward = torch.where(bad, torch.zeros_like(reward), torch.nan_to_num(reward))
        nxt = torch.where(bad[:, None, None], self._states, nxt)  # keep the last good state on divergence
        self._t += 1
        terminated = bad.cpu().numpy()
        truncated = (self._t >= self.episode_length) & ~terminated
        rewards = reward.cpu().numpy().astype(np.float64)
        # NEXT_STEP autoreset: envs that ended last step start over now
        restart = torch.as_tensor(self._needs_reset, device=self.device)
        if restart.any():
            k = int(restart.sum())
            nxt = nxt.clone()
            nxt[restart] = self._draw(k)
            a = a.clone()
            a[restart] = 0.0
            rewards[self._needs_reset] = 0.0
            terminated[self._needs_reset] = False
            truncated[self._needs_reset] = False
            self._t[self._needs_reset] = 0
        self._states, self._last_action = nxt, a
        self._needs_reset = terminated | truncated
        return self._obs(), rewards, terminated, truncated, {}


class ModelEnv(gym.Env):
    """One learned-model environment (a ModelVectorEnv of one copy); passes Gymnasium's env checker."""

    metadata = {"render_modes": []}

    def __init__(self, model: Any, task: Any, start_states: torch.Tensor, params: GraphSystem | None = None,
                 episode_length: int | None = None, max_abs: float = 1e3,
                 device: torch.device | str | None = None) -> None:
        """Same arguments as ModelVectorEnv, without num_envs."""
        self.vec = ModelVectorEnv(model, task, start_states, 1, params, episode_length, max_abs, device)
        self.observation_space = self.vec.single_observation_space
        self.action_space = self.vec.single_action_space
        self._ended = True

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        """A start state drawn from the data (seeded); returns (obs [N*13], {})."""
        super().reset(seed=seed)
        s = int(self.np_random.integers(2**31 - 1))
        obs, _ = self.vec.reset(seed=s)
        self._ended = False
        return obs[0], {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One model step with action [A]: (obs [N*13], reward, terminated, truncated, {})."""
        if self._ended:
            raise RuntimeError("call reset() before step() (the episode has ended)")
        obs, r, term, trunc, _ = self.vec.step(np.asarray(action, dtype=np.float32).reshape(1, -1))
        self._ended = bool(term[0] or trunc[0])
        return obs[0], float(r[0]), bool(term[0]), bool(trunc[0]), {}


@torch.no_grad()
def model_transitions(venv: Any, policy: torch.nn.Module, states: torch.Tensor,
                      noise_scale: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Model transitions from real states [K, D]: (s [K, D], a [K, A], r [K], s' [K, D]).

    a = clip(policy(s) + noise_scale * eps) to the env's bounds; s', r from `venv.torch_step`
    (an agents.model_env.ModelVectorEnv). Diverged predictions (non-finite or outside the
    env's observation box) are replaced by the real state with reward 0, so they teach nothing
    false about far-away states.
    """
    a = policy(states) + noise_scale * torch.randn(states.shape[0], venv.action_dim)
    a = torch.maximum(torch.minimum(a, venv.high), venv.low)
    s2, r = venv.torch_step(states, a)
    bad = ~torch.isfinite(s2).all(-1) | (s2.abs().amax(-1) > venv.max_abs) | ~torch.isfinite(r)
    s2 = torch.where(bad[:, None], states, s2)
    r = torch.where(bad, torch.zeros_like(r), r)
    return states, a, r, s2
