"""RL agents that use a learned dynamics model (see docs/agents.md).

- `ModelVectorEnv`, `ModelEnv`: the learned model as a Gymnasium (vector) env.
- `run_online_mpc`: MPC agent with online model learning (fixed env-step budget, exact resume).
- `agents.mbpo` (imported on its own: it needs the sb3 extra): MBPO with Stable-Baselines3's SAC.
- `train_svg`: SVG(0) model-free / SVG(1) through the jointly learned GN model / Dyna.
- `train_dyna`: the Dyna/MBPO-style agent (model transitions in the critic's replay batches).
"""

from agents.dyna import train_dyna
from agents.model_env import ModelEnv, ModelVectorEnv, model_transitions
from agents.model_learning import append_episode, empty_like, fit_model, new_model, random_data
from agents.mpc_agent import IterationResult, MPCAgentConfig, run_online_mpc
from agents.svg import LearningCurve, SVGAgent, SVGConfig, evaluate_policy, train_svg

__all__ = [
    "ModelEnv", "ModelVectorEnv",
    "append_episode", "empty_like", "fit_model", "new_model", "random_data",
    "IterationResult", "MPCAgentConfig", "run_online_mpc",
    "LearningCurve", "SVGAgent", "SVGConfig", "evaluate_policy", "train_svg",
    "model_transitions", "train_dyna",
]
