"""Model-agnostic planners: gradient shooting MPC, CEM, MPPI, random shooting, MCTS, and the
receding-horizon MPC loop. A planner sees only a dynamics model (gncontrol.dynamics), a
reward `reward(next_state, action[B, A]) -> [B]` and the action bounds.

    planner = planners.CEMPlanner(low, high, planners.CEMConfig(horizon=30))
    planner = planners.make("cem", (low, high), planners.CEMConfig(horizon=30))   # the same, by name
    action = planner.plan(model, reward_fn, state)          # action [A]
    result = planners.run_episode(env, planner, model, reward_fn)

Inside, each sampling or gradient planner builds ONE objective, `make_objective(model, reward,
state, ...)`: plans [P, H, A] -> predicted returns [P], and hands it to its optimiser
(`cem_optimize`, `mppi_optimize`, `random_shooting_optimize`, `gradient_shooting`), which never
sees the model (as in mbrl-lib); optimiser knobs are keyword-only. MCTS searches a tree of model
steps and takes the model itself. Each planner's settings are one frozen config (planners.config).
"""

from planners.base import Bounds, Objective, Planner, make_objective, predicted_return, replicate, shift_plan
from planners.cem import CEMConfig, CEMPlanner, cem_optimize, cem_search, colored_noise
from planners.factory import CONFIGS, PLANNERS, config_from_knobs, make
from planners.gradient import GradientConfig, GradientPlanner, gradient_shooting
from planners.mcts import MCTSConfig, MCTSPlanner, MCTSPlannerConfig, search
from planners.mpc import EpisodeResult, run_episode
from planners.mppi import MPPIConfig, MPPIPlanner, mppi_optimize
from planners.random_shooting import RandomShootingConfig, RandomShootingPlanner, random_shooting_optimize

__all__ = [
    "Bounds", "Objective", "Planner", "make_objective", "predicted_return", "replicate", "shift_plan",
    "CEMConfig", "CEMPlanner", "cem_optimize", "cem_search", "colored_noise",
    "GradientConfig", "GradientPlanner", "gradient_shooting",
    "MCTSConfig", "MCTSPlannerConfig", "MCTSPlanner", "search",
    "EpisodeResult", "run_episode", "MPPIConfig", "MPPIPlanner", "mppi_optimize", "RandomShootingConfig",
    "RandomShootingPlanner", "random_shooting_optimize",
    "PLANNERS", "CONFIGS", "make", "config_from_knobs",
]
