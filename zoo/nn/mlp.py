"""A plain multi-layer perceptron: the block most fields, encoders and heads are built from."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn


class MLP(nn.Module):
    """``in_dim -> [hidden_dim] * num_layers -> out_dim`` with an activation between layers.

    ``num_layers`` counts hidden layers, so ``num_layers=0`` is a single linear map. The last layer has
    no activation unless ``final_activation`` is given. Works on any leading shape: ``(..., in_dim)``
    -> ``(..., out_dim)``.
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        *,
        hidden_dim: int = 256,
        num_layers: int = 3,
        activation: Callable[[], nn.Module] = nn.ReLU,
        final_activation: Callable[[], nn.Module] | None = None,
    ):
        super().__init__()
        self.in_dim, self.out_dim = in_dim, out_dim
        dims = [in_dim] + [hidden_dim] * num_layers + [out_dim]
        layers: list[nn.Module] = []
        for i, (d_in, d_out) in enumerate(zip(dims[:-1], dims[1:])):
            layers.append(nn.Linear(d_in, d_out))
            last = i == len(dims) - 2
            if not last:
                layers.append(activation())
            elif final_activation is not None:
                layers.append(final_activation())
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_dim)`` -> ``(..., out_dim)``."""
        return self.net(x)
