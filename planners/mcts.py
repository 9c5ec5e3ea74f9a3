"""Monte-Carlo tree search over a dynamics model, for continuous or discrete actions.

Split as in mctx: `search` is independent of any model; the model enters only as
`recurrent_fn(states[B], actions[B, A]) -> (next_states[B], rewards[B])` and a leaf value
`value_fn(states[B], depth) -> [B]` (random-action rollouts through the model to a fixed
total horizon by default, or a learned value). Expansion is batched: a leaf gets
`expand_width` children in ONE model call and all of them are evaluated in ONE batched
leaf evaluation. Continuous actions are sampled
(uniform in the box by default) and nodes widen progressively (children <= c * N**alpha);
discrete actions expand every candidate at once. Selection is UCT on min-max normalised Q.

Tree quantities: a node's N (visits) and W (sum of backed-up returns from the node);
Q(parent, child) = reward(edge) + gamma * W_child / N_child, where gamma = discount**repeat.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from gncontrol.dynamics import DynamicsModel, State
from gncontrol.dynamics import rollout as model_rollout
from gncontrol.errors import InputError
from gncontrol.gn.graphs import Graph, unbatch
from gncontrol.gn.graphs import batch as batch_graphs
from planners.base import (
    Bounds,
    RewardFn,
    model_time_step,
    note_non_finite,
    predicted_return,
    repeat_actions,
    replicate,
    shift_plan,
)
from planners.config import (
    ConfiguredPlanner,
    check_at_least_one,
    check_choice,
    check_discount,
    check_non_negative,
)

__all__ = ["MCTSConfig", "MCTSPlannerConfig", "Node", "search", "model_recurrent_fn", "rollout_value_fn", "MCTSPlanner"]

RecurrentFn = Callable[[State, torch.Tensor], tuple[State, torch.Tensor]]
ValueFn = Callable[[State, int], torch.Tensor]  # (states[B], their depth) -> values [B]
Sampler = Callable[[int, torch.Generator | None], torch.Tensor]


@dataclasses.dataclass(frozen=True, kw_only=True)
class MCTSConfig:
    """The tree search's settings (`search`); the budget counts expanded nodes (one model transition each)."""

    num_expansions: int = 64  # budget: each child created (or a max-depth leaf revisited) spends one
    expand_width: int = 4  # children created at once at a leaf (continuous actions)
    max_depth: int = 10  # edges below the root
    c_uct: float = 1.0  # exploration constant on min-max normalised Q
    pw_c: float = 1.0  # progressive widening: a node may hold ceil(pw_c * N**pw_alpha) children
    pw_alpha: float = 0.5
    gamma: float = 1.0  # discount between tree levels (discount ** action_repeat)
    select: str = "value"  # root action: "value" (best Q) or "visits" (most visited)
    backup: str = "max"  # Q from the best ("max") or the mean ("mean", classic UCT) return seen below


@dataclasses.dataclass(eq=False)
class Node:
    """One tree node: its single state, the action/reward of the edge into it, statistics."""

    state: State
    depth: int
    action: torch.Tensor | None = None  # [A] edge from the parent
    reward: float = 0.0
    visits: int = 0
    value_sum: float = 0.0
    best: float = -math.inf  # best backed-up return from this node
    children: list[Node] = dataclasses.field(default_factory=list)
    parent: Node | None = None

    @property
    def value(self) -> float:
        """Mean backed-up return from this node (0 when unvisited)."""
        return self.value_sum / self.visits if self.visits else 0.0

    def q(self, gamma: float, backup: str = "mean") -> float:
        """Q of the edge into this node: its reward plus the discounted mean (or best) value."""
        return self.reward + gamma * (self.best if backup == "max" else self.value)


class _MinMax:
    """Running min/max of Q values, to normalise them to [0, 1] as MuZero / mctx do."""

    def __init__(self) -> None:
        self.lo, self.hi = math.inf, -math.inf

    def update(self, v: float) -> None:
        self.lo, self.hi = min(self.lo, v), max(self.hi, v)

    def norm(self, v: float) -> float:
        return (v - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0.5


def _split(states: State) -> list[State]:
    """A batch of B states -> B single states."""
    if isinstance(states, Graph):
        return unbatch(states)
    return [states[i : i + 1] for i in range(states.shape[0])]


def _join(states: list[State]) -> State:
    """B single states -> one batch."""
    if isinstance(states[0], Graph):
        return batch_graphs(states)
    return torch.cat(states, dim=0)


def _uct_child(node: Node, cfg: MCTSConfig, stats: _MinMax) -> Node:
    """The child maximising normalised Q + c * sqrt(ln N / n)."""
    log_n = math.log(max(node.visits, 1))
    scores = [stats.norm(c.q(cfg.gamma, cfg.backup)) + cfg.c_uct * math.sqrt(log_n / max(c.visits, 1))
              for c in node.children]
    return node.children[max(range(len(scores)), key=scores.__getitem__)]


def _backup(leaf_parent: Node, children: list[Node], values: torch.Tensor, cfg: MCTSConfig,
            stats: _MinMax) -> None:
    """Backs up each new child's leaf value along the path to the root (K simulations at once)."""
    for child, v in zip(children, values.tolist()):
        child.visits, child.value_sum, child.best = 1, v, v
        stats.update(child.q(cfg.gamma, cfg.backup))
        g, node = child.reward + cfg.gamma * v, leaf_parent
        while node is not None:
            node.visits += 1
            node.value_sum += g
            node.best = max(node.best, g)
            if node.parent is not None:
                stats.update(node.q(cfg.gamma, cfg.backup))
                g = node.reward + cfg.gamma * g
            node = node.parent


def _expand(node: Node, actions: torch.Tensor, recurrent_fn: RecurrentFn, value_fn: ValueFn,
            cfg: MCTSConfig, stats: _MinMax) -> list[Node]:
    """Adds len(actions) children to `node` in one model call and evaluates them in one batch."""
    k = actions.shape[0]
    next_states, rewards = recurrent_fn(replicate(node.state, k), actions)
    values = value_fn(next_states, node.depth + 1).detach().cpu()
    rewards = rewards.detach().cpu()
    ok = (torch.isfinite(rewards) & torch.isfinite(values)).tolist()  # a diverged rollout is never a child
    note_non_finite(k - sum(ok), k)
    children = [Node(state=s, depth=node.depth + 1, action=actions[i], reward=float(rewards[i]), parent=node)
                for i, s in enumerate(_split(next_states)) if ok[i]]
    node.children.extend(children)
    _backup(node, children, values[torch.tensor(ok, dtype=torch.bool)], cfg, stats)
    return children


def search(root_state: State, recurrent_fn: RecurrentFn, value_fn: ValueFn, cfg: MCTSConfig,
           sampler: Sampler | None = None, discrete_actions: torch.Tensor | None = None,
           root_actions: torch.Tensor | None = None, generator: torch.Generator | None = None) -> Node:
    """Runs MCTS from one state and returns the root of the tree.

    Exactly one of `sampler(n, generator) -> [n, A]` (continuous) or `discrete_actions [K, A]`
    must be given. `root_actions [m, A]` are extra first children of the root (e.g. the
    warm-start action of the previous plan).
    """
    if (sampler is None) == (discrete_actions is None):
        raise InputError("give exactly one of sampler (continuous) or discrete_actions")
    if cfg.select not in ("value", "visits"):
        raise InputError(f"select must be 'value' or 'visits', got {cfg.select!r}")
    if cfg.backup not in ("mean", "max"):
        raise InputError(f"backup must be 'mean' or 'max', got {cfg.backup!r}")
    stats = _MinMax()
    root = Node(state=root_state, depth=0)
    budget = cfg.num_expansions

    def new_actions(node: Node, n: int) -> torch.Tensor:
        if discrete_actions is not None:
            return discrete_actions
        a = sampler(n, generator)
        if node is root and root_actions is not None and not root.children:
            a = torch.cat([root_actions, a], dim=0)
        return a

    while budget > 0:
        node = root
        while True:
            if not node.children:
                if node.depth >= cfg.max_depth:  # terminal for the search: revisit its value
                    g, n = node.value, node
                    while n is not None:
                        n.visits += 1
                        n.value_sum += g
                        if n.parent is not None:
                            stats.update(n.q(cfg.gamma, cfg.backup))
                        g = n.reward + cfg.gamma * g
                        n = n.parent
                    budget -= 1  # guarantees termination on fully expanded shallow trees
                    break
                acts = new_actions(node, min(cfg.expand_width, budget))
                budget -= acts.shape[0]
                _expand(node, acts, recurrent_fn, value_fn, cfg, stats)
                break
            if discrete_actions is None:
                limit = math.ceil(cfg.pw_c * node.visits ** cfg.pw_alpha)
                if len(node.children) < limit:
                    acts = new_actions(node, min(cfg.expand_width, limit - len(node.children), budget))
                    budget -= acts.shape[0]
                    _expand(node, acts, recurrent_fn, value_fn, cfg, stats)
                    break
            node = _uct_child(node, cfg, stats)
    return root


def best_path(root: Node, cfg: MCTSConfig) -> list[Node]:
    """The greedy path from the root (by cfg.select at the root, best Q below)."""
    path, node = [], root
    while node.children:
        if node is root and cfg.select == "visits":
            node = max(node.children, key=lambda c: (c.visits, c.q(cfg.gamma, cfg.backup)))
        else:
            node = max(node.children, key=lambda c: c.q(cfg.gamma, cfg.backup))
        path.append(node)
    return path


def model_recurrent_fn(model: DynamicsModel, reward_fn: RewardFn, params: Any = None,
                       action_repeat: int = 1, discount: float = 1.0) -> RecurrentFn:
    """Wraps a dynamics model + reward into recurrent_fn(states[B], actions[B, A]) -> (states, rewards[B])."""

    per_decision, k = model_time_step(model, action_repeat)

    @torch.no_grad()
    def fn(states: State, actions: torch.Tensor) -> tuple[State, torch.Tensor]:
        b = actions.shape[0]
        p = replicate(params, b)
        total = torch.zeros(b, dtype=actions.dtype, device=actions.device)
        for t in range(per_decision):
            states = model.step(states, actions, p)
            total = total + k * (discount ** (k * t)) * reward_fn(states, actions).to(total.dtype)
        return states, total

    return fn


def rollout_value_fn(model: DynamicsModel, reward_fn: RewardFn, bounds: Bounds, horizon: int,
                     params: Any = None, action_repeat: int = 1, discount: float = 1.0,
                     generator: torch.Generator | None = None, terminal_value: ValueFn | None = None,
                     total_horizon: bool = True) -> ValueFn:
    """Leaf values [B] from ONE uniform random rollout per state (batched in one rollout).

    With `total_horizon` a leaf at depth d rolls out `horizon - d` decisions (at least 1), so
    every leaf's return covers the same horizon from the root and Q values stay comparable;
    otherwise `horizon` decisions. A `terminal_value(states, depth)` (learned) is added at the
    end; with horizon 0 it is the leaf value alone.
    """

    @torch.no_grad()
    def fn(states: State, depth: int = 0) -> torch.Tensor:
        b = states.num_graphs if isinstance(states, Graph) else states.shape[0]
        total = torch.zeros(b)
        h = max(horizon - depth, 1) if (total_horizon and horizon > 0) else horizon
        if h > 0:
            acts = bounds.uniform((b, h), generator=generator)
            total = predicted_return(model, reward_fn, states, acts, params, discount, action_repeat).cpu()
        if terminal_value is not None:
            if h > 0:
                states = model_rollout(model, states, repeat_actions(acts, model_time_step(model, action_repeat)[0]),
                                       replicate(params, b))[-1]
            total = total + discount ** (h * action_repeat) * terminal_value(states, depth + h).detach().cpu()
        return total

    return fn


@dataclasses.dataclass(frozen=True, kw_only=True)
class MCTSPlannerConfig:
    """The MCTS planner's settings: the search's (MCTSConfig, whose gamma the planner derives as
    discount ** action_repeat), the leaf rollouts' horizon in decisions, and the warm start."""

    num_expansions: int = MCTSConfig.num_expansions
    expand_width: int = MCTSConfig.expand_width
    max_depth: int = MCTSConfig.max_depth
    rollout_horizon: int = 10
    c_uct: float = MCTSConfig.c_uct
    pw_c: float = MCTSConfig.pw_c
    pw_alpha: float = MCTSConfig.pw_alpha
    select: str = MCTSConfig.select
    backup: str = MCTSConfig.backup
    action_repeat: int = 1
    discount: float = 1.0
    warm_start: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        check_at_least_one(num_expansions=self.num_expansions, expand_width=self.expand_width,
                           max_depth=self.max_depth, action_repeat=self.action_repeat)
        check_non_negative(rollout_horizon=self.rollout_horizon, c_uct=self.c_uct, pw_c=self.pw_c,
                           pw_alpha=self.pw_alpha)
        check_choice("select", self.select, ("value", "visits"))
        check_choice("backup", self.backup, ("max", "mean"))
        check_discount(self.discount)

    def search_config(self) -> MCTSConfig:
        """The search's settings, with gamma = discount ** action_repeat between tree levels."""
        return MCTSConfig(num_expansions=self.num_expansions, expand_width=self.expand_width,
                          max_depth=self.max_depth, c_uct=self.c_uct, pw_c=self.pw_c, pw_alpha=self.pw_alpha,
                          gamma=self.discount ** self.action_repeat, select=self.select, backup=self.backup)


class MCTSPlanner(ConfiguredPlanner):
    """Receding-horizon MCTS over a model; continuous (sampled, widening) or discrete actions.

    backup "max" (default) suits deterministic models: Q is the best return found below an
    edge, so the search keeps the best trajectory it saw. Each call builds a fresh tree; the
    previous best path's second action is offered to the new root as a warm-start child.
    Leaves are valued by a random rollout up to `rollout_horizon` decisions from the root
    (`total_horizon`), or by `value_fn(states, depth) -> [B]`, a learned value that replaces
    (rollout_horizon 0) or completes the rollout.
    """

    config_class = MCTSPlannerConfig

    def __init__(self, action_low: Any, action_high: Any, config: MCTSPlannerConfig | None = None, *,
                 discrete_actions: Any = None, value_fn: ValueFn | None = None,
                 device: torch.device | str | None = None, **overrides: Any):
        super().__init__(action_low, action_high, config, device=device, **overrides)
        self.cfg = self.config.search_config()
        self.discrete_actions = self.bounds.discrete(discrete_actions)
        self.value_fn = value_fn

    def reset(self) -> None:
        """Forgets the warm-start plan (plan_ [depth, A], the greedy path of the last tree) and reseeds the sampler."""
        super().reset()
        self.root_: Node | None = None

    def plan(self, model: DynamicsModel, reward_fn: RewardFn, state: State,
             params: Any = None) -> torch.Tensor:
        """The root action [A] chosen by a fresh search from a single state."""
        if isinstance(state, torch.Tensor) and state.dim() == 1:
            state = state.unsqueeze(0)
        c = self.config
        rec = model_recurrent_fn(model, reward_fn, params, c.action_repeat, c.discount)
        if self.value_fn is not None and c.rollout_horizon == 0:
            val = self.value_fn
        else:
            val = rollout_value_fn(model, reward_fn, self.bounds, c.rollout_horizon, params,
                                   c.action_repeat, c.discount, self._gen, self.value_fn)
        root_actions = None
        if (c.warm_start and self.plan_ is not None and self.plan_.shape[0] > 1
                and self.discrete_actions is None):
            root_actions = shift_plan(self.plan_, 1)[:1]
        sampler = None if self.discrete_actions is not None else (
            lambda n, g: self.bounds.uniform((n,), generator=g))
        root = search(state, rec, val, self.cfg, sampler, self.discrete_actions, root_actions, self._gen)
        path = best_path(root, self.cfg)
        self.root_ = root
        if not path:  # every child's rollout diverged (note_non_finite said so): hold the box centre
            self.plan_, self.last_return = self.bounds.center[None].clone(), -float("inf")
            return self.plan_[0].clone()
        self.plan_ = torch.stack([n.action for n in path])
        self.last_return = path[0].q(self.cfg.gamma, self.cfg.backup)
        return self.plan_[0].clone()
