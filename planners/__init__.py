"""Model-agnostic planners: gradient shooting MPC, CEM, MPPI, random shooting, MCTS, and the
receding-horizon MPC loop. A planner sees only a dynamics model (gncontrol.dynamics), a
reward `reward(next_state, action[B, A]) -> [B]` and the action bounds.

    planner = planners.CEMPlanner(low, high, horizon=30)    # or planners.make("cem", low, high, horizon=30)
    action = planner.plan(model, reward_fn, state)          # action [A]
    result = planners.run_episode(env, planner, model, reward_fn)

Inside, each sampling or gradient planner builds ONE objective, `make_objective(model, reward,
state, ...)`: plans [P, H, A] -> predicted returns [P], and hands it to its optimiser
(`cem_optimize`, `mppi_optimize`, `random_shooting_optimize`, `gradient_shooting`), which never
sees the model (as in mbrl-lib); optimiser knobs are keyword-only. MCTS searches a tree of model
steps and takes the model itself.
"""

from planners.base import Bounds, Objective, Planner, make_objective, predicted_return, replicate, shift_plan
from planners.cem import CEMPlanner, cem_optimize
from planners.factory import make
from planners.gradient import GradientPlanner, gradient_shooting
from planners.mcts import MCTSConfig, MCTSPlanner, search
from planners.mpc import EpisodeResult, run_episode
from planners.mppi import MPPIPlanner, mppi_optimize
from planners.random_shooting import RandomShootingPlanner, random_shooting_optimize

PLANNERS = {
    "gradient": GradientPlanner,
    "cem": CEMPlanner,
    "mppi": MPPIPlanner,
    "random": RandomShootingPlanner,
    "mcts": MCTSPlanner,
}

__all__ = [
    "Bounds", "Objective", "Planner", "make_objective", "predicted_return", "replicate", "shift_plan",
    "CEMPlanner", "cem_optimize", "GradientPlanner", "gradient_shooting", "MCTSConfig", "MCTSPlanner",
    "search",
    "EpisodeResult", "run_episode", "MPPIPlanner", "mppi_optimize", "RandomShootingPlanner",
    "random_shooting_optimize",
    "PLANNERS", "make",
]
