"""``distribution-fit``: a distribution q, or a cloud of particles, fitted to a target p by any divergence.

The model holds q (any registered ``prior``: the ``learned-gaussian`` here, the core's ``gaussian-mixture``,
a flow once a plugin registers one as a prior) or ``particles`` free points, and minimises D(q ‖ p) (or
D(p ‖ q), ``direction: forward``) with the divergence the recipe names:

- a divergence between distributions (``kl``, ``cross-entropy``, ``jensen-shannon``, ...) compares q with the
  target's density; ``kl`` with ``direction: forward`` is KL(p ‖ q), which must cover every mode of p, and
  ``reverse`` KL(q ‖ p), which may sit on one (the lecture's tail-sensitivity picture);
- a divergence between sample sets (``sinkhorn``, ``sliced-wasserstein``, ``mmd``, ``energy``, ...) compares
  q's draws, or the particles, with the batch, draws of the target. Particles follow the gradient flow of the
  divergence (for ``sinkhorn``, Feydy et al. 2019's transport of one cloud onto another).

While it trains it keeps pictures of the fit (``BeforeUpdate``): every ``frame_every`` updates one frame,
the target's density in blue and q's (or the particles) in red, up to ``frames`` of them (then every other one
is dropped and the interval doubles, so a run of any length fits). The ``fit-over-training`` artifact writes
them as a GIF and the last one as a PNG.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Distribution, MultivariateNormal

from zoo.errors import IncompatibleComponentsError
from zoo.interfaces import BeforeUpdate, Divergence, Model, Prior, Sampler
from zoo.recipes import NonNegativeInt, PositiveFloat, PositiveInt

from .targets import TARGETS, TargetName, mixture

__all__ = ["DistributionFit", "LearnedGaussian"]

RESOLUTION = 96  # pixels a side of a frame


class LearnedGaussian(Prior):
    """A Gaussian with a learned mean and full covariance, N(μ, L Lᵀ), reparameterisable (``rsample``).

    ``spread`` is the initial standard deviation along every axis; the mean starts at 0.
    """

    def __init__(self, latent_dim: PositiveInt, *, spread: PositiveFloat = 1.0):
        super().__init__()
        self.latent_dim = latent_dim
        self.loc = nn.Parameter(torch.zeros(latent_dim))
        self.lower = nn.Parameter(torch.zeros(latent_dim, latent_dim))  # strictly lower part of L
        self.log_diagonal = nn.Parameter(torch.full((latent_dim,), float(torch.log(torch.tensor(spread)))))

    def forward(self) -> Distribution:
        """N(μ, L Lᵀ), batch ``()``, event ``(latent_dim,)``."""
        tril = self.lower.tril(-1) + torch.diag_embed(self.log_diagonal.exp())
        return MultivariateNormal(self.loc, scale_tril=tril)

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}"


class DistributionFit(Model, Sampler, BeforeUpdate):
    """Fit q (a prior-kind distribution) or ``particles`` free points to a 2-D target by a divergence.

    Args:
        target: the target p (``bimodal``, ``moons``, ``eight-gaussians``); a recipe names its data's,
            ``${data.target}``.
        divergence: any registered divergence (see the module docstring for how each kind is used).
        q: the distribution to fit, over ``(2,)``; None with ``particles`` > 0.
        particles: how many free points to fit instead of q (0: fit q).
        direction: ``reverse`` minimises D(q ‖ p), ``forward`` D(p ‖ q).
        num_samples: draws of q a step for a sample-set divergence (particles: all of them).
        spread: the particles start as N(0, spread² I) draws.
        frames: pictures kept over training; frame_every: updates between two (doubling when ``frames`` fill).

    ``loss(batch)``: draws of the target ``(b, 2)`` -> ``{"divergence": ()}``. ``sample(n)`` -> ``(n, 2)``.
    """

    data_kinds = ("points",)
    part_sizes: ClassVar = {"q": {"latent_dim": lambda: 2}}

    def __init__(self, target: TargetName, divergence: Divergence, q: Prior | None = None, *,
                 particles: NonNegativeInt = 0, direction: Literal["reverse", "forward"] = "reverse",
                 num_samples: PositiveInt = 256, spread: PositiveFloat = 1.0, frames: PositiveInt = 48,
                 frame_every: PositiveInt = 5):
        super().__init__()
        if (q is None) == (particles == 0):
            raise IncompatibleComponentsError(
                "distribution-fit fits either a distribution q or particles: "
                + ("name q ({name: learned-gaussian}) or set particles > 0" if q is None else
                   f"it was given q ({type(q).__name__}) and particles={particles}; set particles: 0 to fit q"))
        self.target_name, self.divergence, self.q, self.direction = target, divergence, q, direction
        self.num_samples, self.extent, self.target_scale = num_samples, TARGETS[target].extent, TARGETS[target].scale
        self.register_buffer("target_means", TARGETS[target].means(), persistent=False)  # constants, not state
        self.particles = nn.Parameter(spread * torch.randn(particles, 2)) if particles else None
        self._check()
        self.register_buffer("frames", torch.zeros(frames, 3, RESOLUTION, RESOLUTION, dtype=torch.uint8))
        self.register_buffer("recorded", torch.tensor(0))
        self.register_buffer("frame_every", torch.tensor(frame_every))

    # -- what is fitted, and how ---------------------------------------------------------------------------------

    def _check(self) -> None:
        """Refuse, before training, a divergence or a q this fit can't train."""
        name = type(self.divergence).__name__
        if self.q is not None:
            if self.q.latent_dim != 2:
                raise IncompatibleComponentsError(f"q is over {self.q.latent_dim} dimensions; the targets are 2-D")
            if not any(p.requires_grad for p in self.q.parameters()):
                raise IncompatibleComponentsError(f"q ({type(self.q).__name__}) has no parameters to fit: use a "
                                                  f"learned one (learned-gaussian, gaussian-mixture)")
            if self.divergence.batch_level and not self.q().has_rsample:
                raise IncompatibleComponentsError(
                    f"q ({type(self.q).__name__}) draws without reparameterisation, so the sample-set divergence "
                    f"{name} gets no gradient for its parameters: use learned-gaussian, or a divergence between "
                    "distributions (kl)")
        elif not self.divergence.batch_level:
            raise IncompatibleComponentsError(f"particles have no density, and divergence {name} compares "
                                              "distributions: use one between sample sets (sinkhorn, mmd, energy, "
                                              "sliced-wasserstein, wasserstein)")
        try:
            with torch.no_grad():
                self._divergence(self.target().sample((8,)))
        except (ValueError, NotImplementedError) as error:
            raise IncompatibleComponentsError(f"divergence {name} cannot compare q with the target "
                                              f"{self.target_name}: {error}") from error

    def _divergence(self, batch: Tensor) -> Tensor:
        """D(q ‖ p) (``reverse``) or D(p ‖ q) (``forward``) for draws of the target ``(b, 2)`` -> ``()``."""
        if self.divergence.batch_level:
            fitted = self.particles if self.particles is not None else self.q().rsample((self.num_samples,))
            pair = (fitted, batch)
        else:
            pair = (self.q(), self.target())
        return self.divergence(*(pair if self.direction == "reverse" else pair[::-1])).mean()

    # -- Model, Sampler ---------------------------------------------------------------------------------------------

    def loss(self, batch: Tensor) -> dict[str, Tensor]:
        """Draws of the target ``(b, 2)`` -> ``{"divergence": ()}``."""
        return {"divergence": self._divergence(batch)}

    @torch.no_grad()
    def sample(self, n: int) -> Tensor:
        """``(n, 2)``: draws of q, or n of the particles (all of them, repeated in turn, when n exceeds them)."""
        if self.particles is None:
            return self.q().sample((n,))
        return self.particles[torch.arange(n, device=self.particles.device) % len(self.particles)].detach()

    # -- pictures over training ----------------------------------------------------------------------------------

    def before_update(self, updates_applied: int) -> None:
        if updates_applied % int(self.frame_every):
            return
        if int(self.recorded) == len(self.frames):  # full: keep every other frame, and record half as often
            kept = self.frames[::2].clone()
            self.frames.zero_()
            self.frames[: len(kept)] = kept
            self.recorded.fill_(len(kept))
            self.frame_every.mul_(2)
            if updates_applied % int(self.frame_every):
                return
        self.frames[int(self.recorded)] = self.picture()
        self.recorded.add_(1)

    @torch.no_grad()
    def picture(self) -> Tensor:
        """The fit now: ``(3, RESOLUTION, RESOLUTION)`` uint8, the target's density blue, q's (or the particles) red."""
        device, dtype = self.target_means.device, self.target_means.dtype
        axis = torch.linspace(-self.extent, self.extent, RESOLUTION, device=device, dtype=dtype)
        grid = torch.stack(torch.meshgrid(axis, axis.flip(0), indexing="xy"), dim=-1)  # (h, w, 2), y up
        target = _normalised(self.target().log_prob(grid).exp())
        if self.particles is None:
            fitted = _normalised(self.q().log_prob(grid).exp())
        else:
            fitted = self._splat(self.particles.detach())
        white = torch.ones(3, RESOLUTION, RESOLUTION, device=device, dtype=dtype)
        blue = torch.tensor([0.75, 0.45, 0.0], device=device, dtype=dtype)
        red = torch.tensor([0.0, 0.75, 0.75], device=device, dtype=dtype)
        rgb = white - blue[:, None, None] * target - red[:, None, None] * fitted
        return (rgb.clamp(0, 1) * 255).round().to(torch.uint8)

    def _splat(self, points: Tensor) -> Tensor:
        """Points ``(n, 2)`` -> ``(h, w)`` in [0, 1]: the pixels they fall in, full where any does."""
        pixel = ((points + self.extent) / (2 * self.extent) * (RESOLUTION - 1)).round().long()
        inside = ((pixel >= 0) & (pixel < RESOLUTION)).all(-1)
        column, row = pixel[inside, 0], RESOLUTION - 1 - pixel[inside, 1]
        counts = torch.zeros(RESOLUTION * RESOLUTION, device=points.device, dtype=points.dtype)
        counts.index_add_(0, row * RESOLUTION + column, torch.ones_like(column, dtype=counts.dtype))
        return rearrange(counts.clamp(max=1), "(h w) -> h w", h=RESOLUTION)

    def target(self) -> Distribution:
        """The target p, batch ``()``, event ``(2,)``, on the model's device and in its dtype."""
        return mixture(self.target_means, self.target_scale)

    def extra_repr(self) -> str:
        what = f"particles={len(self.particles)}" if self.particles is not None else "q"
        return f"target={self.target_name!r}, {what}, direction={self.direction!r}"


def _normalised(density: Tensor) -> Tensor:
    """``(h, w)`` densities -> [0, 1], their maximum 1."""
    return density / density.max().clamp_min(1e-30)
