"""A user's reward for tests/data/arm_and_box.xml: raise the forearm (body 2), small controls."""


def reward(state, action):
    """Forearm height minus a control cost; state [B, N, 13], action [B, A] -> [B]."""
    return state[:, 2, 2] - 0.01 * (action**2).sum(-1)


def wrong_shape(state, action):
    """Returns [B, 1], not [B]: the loader must refuse it."""
    return state[:, 2, 2:3]


def one_argument(state):
    """Takes the state only: the loader must refuse it."""
    return state[:, 2, 2]
