"""The contract every plugin speaks: Divergence, Encoder, Decoder, ImplicitField, Likelihood, Prior, Model.

Each interface is a small abstract ``torch.nn.Module`` with one abstract method (a Likelihood has two: it
also says how many parameters it needs, which a decoder must know before it is built). Concrete classes are
final: behaviour changes by composition (a Decoder *holds* a Likelihood, a FieldDecoder *holds* an
ImplicitField), never by overriding a concrete method. Shapes are written with einops letters:
``b`` batch, ``d`` latent dimension, ``n`` points, ``c`` channels, ``...`` any trailing data shape.

Each interface is a registered kind's (``zoo.kinds`` registers the core's through the ``register_kinds``
hook, as a plugin registers its own). Recipes use the type annotations of constructor arguments to know
which kind a nested component is: an argument annotated ``ImplicitField`` is built from the ``field``
registry, one annotated ``Prior`` from the ``prior`` registry, and so on (``zoo.get_registry().kinds``).
"""

from __future__ import annotations

import warnings
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Distribution

from zoo._aliases import moved
from zoo.errors import IncompatibleComponentsError

__all__ = [
    "Divergence",
    "Encoder",
    "Decoder",
    "ImplicitField",
    "Likelihood",
    "Prior",
    "Model",
    "Sampler",
    "Reconstructor",
    "Renderer",
    "ScalarVolume",
    "LikelihoodEstimator",
    "ExactLikelihood",
    "LatentModel",
    "BeforeUpdate",
    "PosthocPrior",
    "Fittable",
    "PointMass",
]


class Divergence(nn.Module, ABC):
    """D(q ‖ p): how far q is from p.

    Two flavours, told apart by ``batch_level``:

    - per example (``batch_level = False``): ``q`` and ``p`` are distributions whose batch shape is
      ``(b,)`` (or broadcasts to it); the result is ``(b,)``, one value per example. KL between a
      posterior q(z|x) and the prior p(z) is the classic case.
    - batch level (``batch_level = True``): the divergence is defined between *sample sets*, e.g. the
      aggregate posterior and the prior (sliced Wasserstein, MMD). ``q`` and ``p`` are samples
      ``(n, d)`` and ``(m, d)`` (a distribution is accepted too and sampled with ``rsample``); the
      result is a scalar ``()``.

    A VAE accepts either as its prior term; it reads ``batch_level`` to know what to pass.
    """

    batch_level: ClassVar[bool] = False

    @abstractmethod
    def forward(self, q: Distribution | Tensor, p: Distribution | Tensor) -> Tensor:
        """Return D(q ‖ p): ``(b,)`` per example, or ``()`` when ``batch_level``."""

    def prior_term(self, q: Distribution, z: Tensor, prior: Distribution) -> Tensor:
        """A latent-variable model's prior term, a scalar ``()``: D(q(z|x) ‖ p(z)) averaged over the batch, or,
        batch level, D between the codes ``z`` ``(b, d)`` drawn from q and as many samples of the prior."""
        return self._against_prior(q, z, prior).mean()

    def check_prior_term(self, q: Distribution, prior: Distribution, *, codes: str) -> None:
        """Fail before training, naming the divergence and ``codes`` (what q is over, for the message), when
        it can't compare ``q`` with ``prior`` or gives other than one value per example (a number, batch level)."""
        name = type(self).__name__
        try:
            with torch.no_grad():
                value = self._against_prior(q, q.sample(), prior)
        except Exception as error:
            raise IncompatibleComponentsError(f"divergence {name} cannot compare {codes} with the prior: "
                                              f"{error}") from error
        expected = () if self.batch_level else tuple(q.batch_shape)
        if tuple(value.shape) != expected:
            wanted = "a number" if self.batch_level else f"one value per example, {expected}"
            raise IncompatibleComponentsError(f"divergence {name} returned shape {tuple(value.shape)}, not {wanted}")

    def _against_prior(self, q: Distribution, z: Tensor, prior: Distribution) -> Tensor:
        """``(b,)`` per example, ``()`` batch level."""
        if self.batch_level:
            return self(z, prior.sample((z.shape[0],)))
        return self(q, prior)


class Encoder(nn.Module, ABC):
    """x ``(b, ...)`` -> q(z | x), a distribution with batch shape ``(b,)`` and event shape ``(d,)``.

    ``latent_dim`` is ``d``. A deterministic encoder (a plain autoencoder's) returns a ``PointMass``,
    so every encoder can be dropped into every model that takes one.
    """

    latent_dim: int

    @abstractmethod
    def forward(self, x: Tensor) -> Distribution:
        """``(b, ...)`` -> q(z|x) with ``batch_shape == (b,)``, ``event_shape == (latent_dim,)``."""


class Likelihood(nn.Module, ABC):
    """Network outputs -> a distribution over data: Bernoulli, Gaussian, discretised logistic (mixture), ...

    A decoder network emits ``num_params(c)`` numbers per data position for data with ``c`` channels (one
    per channel for a Bernoulli, two for a logistic's location and scale, ``n_mix * (1 + 2c + c(c-1)/2)``
    for a mixture of logistics whose channels depend on each other); the likelihood turns params
    ``(b, num_params(c), ...)`` into a distribution with batch shape ``(b,)`` and event shape ``(c, ...)``,
    so ``log_prob(x)`` is one log-likelihood per example (nats) and ``mean`` is the picture a person
    would look at.
    """

    @abstractmethod
    def num_params(self, channels: int) -> int:
        """How many numbers per data position the decoder must emit for data with ``channels`` channels."""

    @abstractmethod
    def forward(self, params: Tensor) -> Distribution:
        """``(b, num_params(c), ...)`` -> p(x | params), batch ``(b,)``, event ``(c, ...)``."""


class Decoder(nn.Module, ABC):
    """z ``(b, d)`` -> p(x | z), a distribution over data with batch shape ``(b,)``.

    The negative ``log_prob`` of this distribution is the reconstruction term of a VAE, the loss of an
    autoencoder and the inner loss L(x, F(z)) of a Gradient Origin Network: any Decoder serves all three.

    A ``resizable`` decoder also decodes at other spatial sizes than the data's: its forward takes
    ``spatial=(h, w)`` and returns p(x|z) over ``(c, h, w)`` (the field decoder does; ``zoo sample --size``
    checks this flag).
    """

    latent_dim: int
    resizable: ClassVar[bool] = False

    @abstractmethod
    def forward(self, z: Tensor) -> Distribution:
        """``(b, latent_dim)`` -> p(x|z) with ``batch_shape == (b,)`` and event shape the data's."""


class ImplicitField(nn.Module, ABC):
    """A function of coordinates: ``(..., in_dim)`` (+ an optional latent ``(b, latent_dim)``) -> ``(..., out_dim)``.

    Fields are differentiable in their coordinates, so losses may use gradients and Laplacians of the
    field (the implicit equation R(c, Φ, ∇Φ, ∇²Φ) = 0; see ``zoo.nn.diff``). A conditioned field
    (``latent_dim > 0``) takes coordinates ``(b, n, in_dim)`` with one latent ``(b, latent_dim)`` per ``b``;
    an unconditioned one (``latent_dim == 0``) takes any leading shape and ``latent=None``.

    A conditioned field's values must depend on its latent from initialisation on: a field decoder
    decodes every code through it, and a GON's code is the gradient of its loss with respect to a zero
    latent, which is zero for a field that ignores it (``zoo.testing`` checks this).
    """

    in_dim: int
    out_dim: int
    latent_dim: int = 0

    @abstractmethod
    def forward(self, coords: Tensor, latent: Tensor | None = None) -> Tensor:
        """``(..., in_dim)`` [, ``(b, latent_dim)``] -> ``(..., out_dim)``."""


class Prior(nn.Module, ABC):
    """p(z): the distribution over codes ``(latent_dim,)`` a latent-variable model samples from and scores.

    Calling it returns p(z) as a ``torch.distributions.Distribution`` with batch shape ``()`` and event shape
    ``(latent_dim,)``: ``prior().sample((n,))`` draws codes ``(n, latent_dim)``, ``prior().log_prob(z)``
    scores codes ``(..., latent_dim)`` (differentiably in z and in the prior's parameters). A learned prior
    (a Gaussian mixture) is trained with its model through the model's prior term, a divergence: closed
    form where torch knows the pair, Monte Carlo otherwise. A prior fitted to the training codes after
    training instead is also ``Fittable``.
    """

    latent_dim: int

    @abstractmethod
    def forward(self) -> Distribution:
        """-> p(z), batch ``()``, event ``(latent_dim,)``."""


class Model(nn.Module, ABC):
    """A paper-level objective: ``loss(batch)`` returns the named terms that the training loop sums.

    Terms are scalars (already averaged over the batch). Extra entries that should be logged but not
    optimised go in ``metrics(batch)`` (by default the terms and their sum, ``loss``; a run picks its best
    checkpoint by ``train.best_metric``, checked against these names before training starts). Optional
    capabilities are separate small interfaces (``Sampler``, ``Reconstructor``, ``Renderer``,
    ``LatentModel``, ...) that a model also inherits when it can do them.

    The core never wraps these methods in ``torch.no_grad()``: a model whose evaluation needs autograd
    (a GON's latent is a gradient) must be able to use it. A model that can run without gradients
    decorates its own ``metrics``, ``sample``, ... with ``@torch.no_grad()``.

    ``data_kinds`` names the kinds of data it takes (``zoo.data.DATA_KINDS``: images, signals, views; empty
    for any): a recipe whose dataset holds another kind is refused when it is validated.
    """

    data_kinds: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def loss(self, batch: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
        """A batch from the recipe's dataset -> ``{term_name: scalar}``; the loop minimises the sum.

        A batch is whatever the DataLoader stacks from the dataset's items: a tensor ``(b, ...)`` for
        datasets of tensors, a dict of tensors ``(b, ...)`` for datasets of dicts (the views of a scene:
        ``{"image", "pose", "intrinsics"}``). The loop moves either to the device.
        """

    def metrics(self, batch: Tensor | dict[str, Tensor]) -> dict[str, Tensor]:
        """Evaluation numbers on a held-out batch (scalars). By default, the loss terms and their total."""
        terms = {name: value.detach() for name, value in self.loss(batch).items()}
        return {**terms, "loss": sum(terms.values())}


class Sampler(ABC):
    """A model that can draw new data: ``sample(n)`` -> ``(n, ...)``.

    A Sampler that is also a ``LatentModel`` with a resizable decoder takes ``spatial=(h, w)`` too.
    """

    @abstractmethod
    def sample(self, n: int) -> Tensor: ...


class Reconstructor(ABC):
    """A model that can reconstruct its input: ``reconstruct(x (b, ...))`` -> ``(b, ...)``.

    A Reconstructor that is also a ``LatentModel`` with a resizable decoder takes ``spatial=(h, w)`` too
    (super-resolved reconstructions).
    """

    @abstractmethod
    def reconstruct(self, x: Tensor) -> Tensor: ...


class LatentModel(ABC):
    """A model with one code per example and a ``decoder`` (a ``Decoder``) from codes back to data.

    ``encode(x (b, ...))`` -> codes ``(b, d)``: the posterior mean of a VAE, an autoencoder's code, a GON's
    gradient latent. With it come ``decode`` (the mean of p(x|z), at another size where the decoder is
    resizable) and latent ``interpolate``, which ``zoo interpolate`` draws for every such model.
    """

    decoder: Decoder

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """``(b, ...)`` -> codes ``(b, d)``."""

    def decode(self, z: Tensor, *, spatial: tuple[int, ...] | None = None) -> Tensor:
        """Codes ``(b, d)`` -> the mean of p(x|z), ``(b, c, *spatial)`` (the data's size by default)."""
        if spatial is None:
            return self.decoder(z).mean
        if not self.decoder.resizable:
            raise ValueError(f"{type(self.decoder).__name__} decodes only at the data's size (it is not resizable)")
        return self.decoder(z, spatial=spatial).mean

    def interpolate(self, x_start: Tensor, x_end: Tensor, steps: int = 8, *,
                    spatial: tuple[int, ...] | None = None) -> Tensor:
        """Decode ``steps`` evenly spaced points between the codes of x_start and x_end: ``(b, steps, ...)``."""
        z_start, z_end = self.encode(x_start), self.encode(x_end)  # (b, d)
        t = torch.linspace(0.0, 1.0, steps, device=z_start.device, dtype=z_start.dtype)[None, :, None]
        z = torch.lerp(z_start[:, None], z_end[:, None], t)  # (b, steps, d)
        decoded = self.decode(rearrange(z, "b s d -> (b s) d"), spatial=spatial)
        return rearrange(decoded, "(b s) ... -> b s ...", s=steps)


class Renderer(ABC):
    """A model that renders its fitted signal at any resolution: ``render(shape)`` -> ``(c, *shape)``.

    ``offset`` shifts the sampling grid by that fraction of a pixel (sub-pixel rendering).
    """

    @abstractmethod
    def render(self, shape: tuple[int, ...], offset: float = 0.0) -> Tensor: ...


class ScalarVolume(ABC):
    """A model with a scalar field over a 3-D box whose level sets are surfaces: ``zoo export --mesh`` meshes one.

    ``scalar_field(points (n, 3))`` -> ``(n,)`` in the model's world coordinates (points on any device: the
    model moves them to its own), inside the box
    ``volume_bounds`` (lower and upper corners). The surface is the level set ``surface_level``; the solid
    lies where the values are below it (a signed distance, negative inside) or, with ``solid_above``, above
    it (a density), which orients the mesh's normals outwards.
    """

    volume_bounds: tuple[tuple[float, float, float], tuple[float, float, float]]
    surface_level: float = 0.0
    solid_above: ClassVar[bool] = False

    @abstractmethod
    def scalar_field(self, points: Tensor) -> Tensor:
        """``(n, 3)`` -> ``(n,)``."""


class LikelihoodEstimator(ABC):
    """A model that estimates log p(x): ``log_likelihood(x (b, ...), num_samples)`` -> ``(b,)`` nats.

    For a VAE this is the importance-weighted (IWAE) bound with ``num_samples`` draws; ``zoo eval``
    reports it as the test NLL in nats and bits/dim.
    """

    @abstractmethod
    def log_likelihood(self, x: Tensor, *, num_samples: int = 1000) -> Tensor: ...


class ExactLikelihood(ABC):
    """A model that computes log p(x) rather than estimating it: ``log_likelihood(x (b, ...))`` -> ``(b,)`` nats.

    No sample count: the density is the model's own, evaluated in closed form (a change of variables).
    ``zoo eval`` reports it as the test ``nll`` (nats per example) and ``bits_per_dim``, never as an importance
    estimate. It is exact for the density the model defines; a model that learns discrete data through a
    continuous relaxation (noise added to the data) says in its docstring what its number is exact of, and what
    it bounds.
    """

    @abstractmethod
    def log_likelihood(self, x: Tensor) -> Tensor: ...


class BeforeUpdate(ABC):
    """A model that follows the training's progress (a KL weight ramped up from 0, an occupancy grid refreshed).

    Before every optimizer update the loop calls ``before_update(updates_applied)`` with the number of
    updates applied so far: skipped updates and gradient-accumulation micro-steps don't count, and a
    resumed run goes on where it stopped. Keep what it sets in a buffer, so a loaded model evaluates as
    it was trained. What it draws from the global RNGs is part of the run (a resume replays it).
    """

    @abstractmethod
    def before_update(self, updates_applied: int) -> None: ...


class _Annealed(BeforeUpdate):
    """Deprecated since 0.2 (removed in 0.3): implement ``BeforeUpdate.before_update(updates_applied)``."""

    @abstractmethod
    def anneal(self, updates: int) -> None: ...

    def before_update(self, updates_applied: int) -> None:
        self.anneal(updates_applied)


class PosthocPrior(ABC):
    """A model whose sampling prior is fitted after training to the codes of the training data (an AE).

    The training loop calls ``fit_prior(codes)`` with ``encode(x)`` of the whole training set at the end
    of training, before the last checkpoint, so ``zoo sample`` works on the finished run. A model holding
    a ``Prior`` fits it there when the prior is ``Fittable`` (and leaves a fixed one, N(0, I), as it is).
    """

    @abstractmethod
    def encode(self, x: Tensor) -> Tensor:
        """``(b, ...)`` -> codes ``(b, d)``."""

    @abstractmethod
    def fit_prior(self, codes: Tensor) -> None:
        """Fit the prior to codes ``(n, d)``."""


class Fittable(ABC):
    """A prior that is fitted, not learned: set from the codes of the training data after training.

    ``fit(codes)`` sets it; until the first fit, calling the prior raises a ``ZooError`` that says what to
    do. What it fits is saved in buffers, so a loaded model samples from the same prior.
    """

    @abstractmethod
    def fit(self, codes: Tensor) -> None:
        """Fit to codes ``(n, latent_dim)``."""


class PointMass(Distribution):
    """A deterministic 'distribution' at ``loc`` ``(b, d)``: what a deterministic encoder returns.

    ``rsample`` returns ``loc`` itself (gradients flow), so an autoencoder is a VAE whose encoder
    has no noise; ``log_prob`` is not defined for it.
    """

    arg_constraints: dict = {}
    has_rsample = True

    def __init__(self, loc: Tensor, event_dims: int = 1):
        self.loc = loc
        split = loc.dim() - event_dims
        super().__init__(loc.shape[:split], loc.shape[split:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return torch.zeros_like(self.loc)

    def rsample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        return self.loc.expand(torch.Size(sample_shape) + self.loc.shape)

    def entropy(self) -> Tensor:
        return torch.full(self.batch_shape, float("-inf"), device=self.loc.device)


# zoo.interfaces.ViewRenderer and .Camera until 0.3: NeRF's capability and cameras are the zoo_nerf plugin's
_moved = moved("zoo.interfaces", {"ViewRenderer": "zoo_nerf.cameras", "Camera": "zoo_nerf.cameras"})


def __getattr__(name: str):
    """Names deprecated since 0.2.0, removed in 0.3: ``KINDS`` and ``SIZES`` (views of the registered kinds, as
    they were), ``Annealed`` (now ``BeforeUpdate``), and the names that moved to the zoo_nerf plugin
    (``ViewRenderer``, ``Camera``)."""
    if name == "Annealed":
        warnings.warn("zoo.interfaces.Annealed is deprecated and goes in 0.3: implement zoo.interfaces.BeforeUpdate "
                      "(before_update(updates_applied) is what anneal(updates) was)", DeprecationWarning, stacklevel=2)
        return _Annealed
    if name not in ("KINDS", "SIZES"):
        return _moved(name)
    from zoo.registry import get_registry

    what = {"KINDS": "kind -> interface", "SIZES": "kind -> the sizes its slots dictate"}[name]
    warnings.warn(f"zoo.interfaces.{name} ({what}) is deprecated since genzoo 0.2.0 and goes in 0.3: kinds are "
                  "registered (the register_kinds hook); read zoo.get_registry().kinds, name -> Kind with "
                  ".interface and .sizes", DeprecationWarning, stacklevel=2)
    kinds = get_registry().kinds
    if name == "KINDS":
        return {kind: k.interface for kind, k in kinds.items()}
    return {kind: k.sizes for kind, k in kinds.items() if k.sizes}
