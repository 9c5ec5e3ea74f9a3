"""Guards shared by the training loops: stop on a non-finite loss, save on Ctrl-C.

- A non-finite loss stops the run with one line (`NonFiniteLossError`, an InputError, so the
  CLI exits 2 without a traceback); the weights it produced are never saved, and the last
  good checkpoint stays on disk untouched.
- `deferred_interrupt()`: while a loop runs, a first Ctrl-C only sets a flag the loop polls
  between steps, so no step is cut in half (a second Ctrl-C interrupts at once). The loop then
  saves the last completed step atomically (if its weights are finite), prints one line
  naming the checkpoint, its step and `--resume`, and re-raises KeyboardInterrupt (the CLI
  exits 130).

On CPU the loss is checked every step (no cost); on an accelerator `check()` syncs only when
called (the loops call it where they log or save), so the stop comes within that many steps.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch

from gncontrol.checkpoints import count_non_finite
from gncontrol.errors import InputError

__all__ = ["NonFiniteLossError", "TrainingInterrupted", "deferred_interrupt", "RunGuard", "say"]


class NonFiniteLossError(InputError):
    """The training loss became NaN/inf: the run stopped and nothing of it was saved."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C in a training loop: `step` steps were completed, `consistent` if the weights are those of
    `step` steps (not half-way through an optimiser update)."""

    def __init__(self, step: int, consistent: bool = True):
        super().__init__(step)
        self.step = step
        self.consistent = consistent


def say(line: str) -> None:
    """Prints one line to stderr (what an interrupted or stopped run kept)."""
    print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def deferred_interrupt() -> Iterator[Callable[[], bool]]:
    """Yields `requested()`: True once Ctrl-C was pressed. Only in the main thread with Python's
    default SIGINT handler; elsewhere Ctrl-C raises KeyboardInterrupt at once, as usual."""
    hit = [False]
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield lambda: hit[0]
        return

    def handler(signum, frame):
        if hit[0]:  # a second Ctrl-C: stop now
            raise KeyboardInterrupt
        hit[0] = True

    old = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: hit[0]
    finally:
        signal.signal(signal.SIGINT, old)


class RunGuard:
    """One training run's guard: the loss watch, the last checkpoint kept, and the Ctrl-C line.

    `path`: the checkpoint file; `saved`: the step it holds (None: none yet); `unit`: 'step' or
    'epoch'; `hint`: advice appended to the non-finite message (e.g. a lower --lr).
    """

    def __init__(self, path: str | Path, saved: int | None, device: torch.device | str, total: int,
                 hint: str = "", unit: str = "step"):
        self.path, self.saved, self.total, self.hint, self.unit = Path(path), saved, total, hint, unit
        self.lazy = torch.device(device).type != "cpu"
        self.updating = False  # True inside optimiser.step() (see `optimise`)
        self._first: torch.Tensor | None = None  # device tensor: first bad step, or _NONE

    def kept(self) -> str:
        """'PATH (step k) is kept untouched', or that no checkpoint was written."""
        if self.saved is None:
            return f"no checkpoint was written to {self.path}"
        return f"{self.path} ({self.unit} {self.saved}) is kept untouched"

    def _fail(self, what: str) -> None:
        raise NonFiniteLossError(f"{what}: stopped without saving these weights; {self.kept()}"
                                 + (f"; {self.hint}" if self.hint else ""))

    def update(self, loss: torch.Tensor, step: int) -> None:
        """Records the loss of step `step` (counted from 1); on CPU raises at once if non-finite."""
        if not self.lazy:
            value = float(loss.detach())
            if not math.isfinite(value):
                self._fail(f"the training loss became non-finite ({value}) at {self.unit} {step}")
            return
        mark = torch.where(torch.isfinite(loss.detach()), _NONE, step)
        self._first = mark if self._first is None else torch.minimum(self._first, mark)

    def optimise(self, loss: torch.Tensor, step: int, optimiser: torch.optim.Optimizer, parameters: Any,
                 grad_clip: float = 0.0) -> None:
        """One training step on `loss` (step `step`, counted from 1): records it (`update`), backward,
        optional gradient-norm clipping, optimiser step; `updating` is True while the weights change,
        so a Ctrl-C there is known to have caught them mid-update."""
        self.update(loss, step)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        if grad_clip:
            torch.nn.utils.clip_grad_norm_(parameters, grad_clip)
        self.updating = True
        optimiser.step()
        self.updating = False

    def check(self) -> None:
        """Raises NonFiniteLossError if a recorded loss was non-finite (one sync on an accelerator)."""
        if self._first is not None and int(self._first) != _NONE:
            self._fail(f"the training loss became non-finite at {self.unit} {int(self._first)}")

    def check_weights(self, state: dict, step: int) -> None:
        """Raises NonFiniteLossError if `state` (a state dict) holds NaN/inf after `step` steps."""
        self.check()
        n, names = count_non_finite(state)
        if n:
            self._fail(f"the weights became non-finite by {self.unit} {step} ({n} values in "
                       f"{', '.join(names[:3])}{' ...' if len(names) > 3 else ''})")

    def interrupted(self, done: int, consistent: bool, save: Callable[[int], None] | None) -> None:
        """After Ctrl-C with `done` steps completed: saves them with `save(done)` (if the weights are
        those of a whole step, finite and newer than the checkpoint) and prints one line."""
        how = "continue with --resume"
        if save is not None and consistent and done > 0 and done != self.saved:
            try:
                save(done)
            except NonFiniteLossError:
                say(f"interrupted at {self.unit} {done}: its weights are non-finite and were not saved; "
                    f"{self.kept()}")
                return
            say(f"interrupted: checkpoint {self.path} holds {self.unit} {done} of {self.total}; {how}")
        elif self.saved is None:
            say(f"interrupted at {self.unit} {done} of {self.total}: no checkpoint was written to {self.path}")
        else:
            why = " (mid-update: these weights are not saved)" if not consistent else ""
            say(f"interrupted{why}: checkpoint {self.path} holds {self.unit} {self.saved} of {self.total}; {how}")


_NONE = torch.iinfo(torch.int64).max
