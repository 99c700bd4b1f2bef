"""``eval_mode``: a module (or several) in evaluation mode for a block, each submodule's own mode restored after."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import nn

__all__ = ["eval_mode"]


@contextlib.contextmanager
def eval_mode(*modules: nn.Module) -> Iterator[None]:
    """``with eval_mode(model): ...`` runs the block with ``model.eval()`` and then gives every submodule back
    the ``training`` flag it had, even when the block raises.

    Restoring each submodule's own flag, not calling ``model.train(was_training)``, keeps a part that was
    deliberately left in eval mode (a frozen backbone) in eval mode. Gradients are the caller's business:
    wrap the block in ``torch.no_grad()`` where none are needed (a GON's encoder needs them at evaluation).
    """
    saved = [(module, module.training) for top in modules for module in top.modules()]
    for top in modules:
        top.eval()
    try:
        yield
    finally:
        for module, training in saved:
            module.training = training
