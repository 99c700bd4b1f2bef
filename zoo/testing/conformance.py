"""The conformance suite: what every registered component must do, whoever wrote it.

For each component a plugin registers, by kind, in float32 and float64, on the CPU and on CUDA when
there is one:

- **it builds from its defaults**, given only the sizes its slot would dictate (``shape``, ``latent_dim``;
  a field without defaults for ``in_dim``/``out_dim`` gets 2 and 1; a decoder that needs a likelihood
  gets ``bernoulli``, one that needs a field gets a registered field conditioned on the latent);
- **its forward keeps its interface's contract** (``zoo.interfaces``): shapes, the dtype it was given,
  finite values. A field is checked at its own ``in_dim``/``out_dim`` and at one and three output channels,
  each of which must vary over the coordinates; a conditioned one must depend on its latent. A likelihood
  and a decoder score their own samples; a prior is a distribution over ``(latent_dim,)`` (a fitted one is
  fitted first, and refuses to be used before);
- **backward reaches every parameter**: a trainable parameter that gets no gradient, or only zeros,
  fails by name (freeze one on purpose with ``requires_grad_(False)``);
- **its state round-trips through the checkpoint format**: saved by ``zoo.training.checkpoint``
  (safetensors) and loaded into a copy built with other random weights, the copy computes the same.

A model is checked on its **tiny recipe**, registered as ``MODEL-tiny`` (a few seconds' training on
embedded data, like timm's tiny variants): the model takes a batch of that recipe's data, and in float32
it trains 2 steps through the zoo's loop, whose checkpoint loads back. A dataset builds both splits
from its defaults, with items of its ``shape``; one whose files aren't on this machine is skipped.

Each check raises ``ConformanceError`` (an ``AssertionError``) whose message names the component, the
dtype and device, what was wrong, what was expected and what to do.

The checks are the kinds': each kind registers its own (``register_kinds(register)``:
``register(name, interface, check=...)``), the core's from ``zoo.kinds``, a plugin's from the plugin. A
plugin's check is written with the same pieces as these: ``build_from_defaults`` (a component from its
defaults and the sizes given), ``conform(build, exercise, dtype, device)`` (build, exercise, then the shared
checks: gradients reach every parameter, the state round-trips), an ``exercise`` that returns an
``Exercise``, ``expect_tensor`` / ``expect_distribution`` and ``stage`` for messages that say what to do.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import tempfile
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from einops import rearrange
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from zoo.errors import UnknownComponentError, ZooError
from zoo.interfaces import Fittable
from zoo.registry import Entry, Registry, get_registry
from zoo.testing.registries import registry_with, use_registry

__all__ = [
    "Case",
    "ConformanceError",
    "Exercise",
    "build_from_defaults",
    "check_component",
    "conform",
    "conformance_cases",
    "conformance_test",
    "expect_distribution",
    "expect_tensor",
    "stage",
]

SHAPE = (1, 8, 8)  # the data shape encoders and decoders are built for
LATENT_DIM = 4  # the latent size encoders, decoders and conditioned fields are built for
FIELD_SIZES = {"in_dim": 2, "out_dim": 1}  # for a field whose constructor has no default for them
OUT_DIMS = (1, 3)  # a field that takes out_dim is also checked at one output channel and at several
DTYPES = ("float32", "float64")
TINY_RECIPE = "{model}-tiny"  # the recipe a model is checked on
TRAIN_STEPS = 2
MAX_BATCH = 16  # the most items of the tiny recipe's data that the forward checks use


class ConformanceError(AssertionError):
    """A component breaks its kind's contract; the message says what was wrong and what to do."""


def _likelihood_params(likelihood: Any, channels: int) -> int:
    """The numbers a decoder emits per position for ``channels`` data channels under ``likelihood``."""
    return likelihood.num_params(channels)


# ----------------------------------------------------------------------------------------------------
# Building a component from its defaults


def build_from_defaults(obj: Any, sizes: dict[str, Any], fallbacks: dict[str, Any] | None = None) -> nn.Module:
    """``obj`` built with ``sizes`` (where it takes them) and its defaults; required arguments are filled
    from ``fallbacks`` or, for a nested likelihood or field, with a registered one. A ConformanceError
    says which required argument it can't fill, or what the constructor raised."""
    from zoo.likelihoods import BernoulliLikelihood
    from zoo.recipes import component_kind, parameters

    params, hints, _ = parameters(obj)
    kwargs = {name: value for name, value in sizes.items() if name in params}
    for name, param in params.items():
        if name in kwargs or param.default is not param.empty:
            continue
        nested = component_kind(hints.get(name, param.annotation))
        if fallbacks and name in fallbacks:
            kwargs[name] = fallbacks[name]
        elif nested == "likelihood":
            kwargs[name] = BernoulliLikelihood()
        elif nested == "field":
            out_dim = _likelihood_params(BernoulliLikelihood(), SHAPE[0])
            kwargs[name] = _conditioned_field(in_dim=len(SHAPE) - 1, out_dim=out_dim)
        else:
            fillable = [*sizes, *(fallbacks or {}), "a likelihood", "a field"]
            raise ConformanceError(
                f"its required argument {name!r} is not one the checks can fill ({', '.join(fillable)}): "
                "give it a default, so the component builds from its defaults"
            )
    with stage("building it from its defaults"):
        return obj(**kwargs)


def _conditioned_field(in_dim: int, out_dim: int) -> nn.Module:
    """The first registered field that builds with these sizes and ``latent_dim=LATENT_DIM``."""
    for entry in get_registry().list("field"):
        try:
            return entry.obj(in_dim=in_dim, out_dim=out_dim, latent_dim=LATENT_DIM)
        except (TypeError, ValueError, ZooError):
            continue
    raise ConformanceError("no registered field builds with in_dim, out_dim and latent_dim: install one (zoo_siren)")


@contextlib.contextmanager
def stage(what: str) -> Iterator[None]:
    """Report an exception the component raises during ``what`` as a ConformanceError (cause attached)."""
    try:
        yield
    except ConformanceError:
        raise
    except Exception as exc:
        raise ConformanceError(f"{what} raised {type(exc).__name__}: {exc}") from exc


# ----------------------------------------------------------------------------------------------------
# Expectations on outputs


def expect_tensor(value: Any, shape: tuple[int, ...], dtype: torch.dtype, what: str) -> Tensor:
    """``value``, or a ConformanceError about ``what`` unless it is a finite tensor of ``shape`` and ``dtype``."""
    if not isinstance(value, Tensor):
        raise ConformanceError(f"{what} is a {type(value).__name__}, expected a tensor of shape {shape}")
    if tuple(value.shape) != tuple(shape):
        raise ConformanceError(f"{what} has shape {tuple(value.shape)}, expected {tuple(shape)}")
    if value.dtype != dtype:
        raise ConformanceError(
            f"{what} is {value.dtype} for {dtype} inputs and weights: make new tensors with the inputs' dtype "
            "and device (x.new_zeros, torch.zeros_like, dtype=x.dtype) rather than the defaults"
        )
    if not torch.isfinite(value).all():
        raise ConformanceError(f"{what} has non-finite values (inf or nan)")
    return value


def expect_distribution(value: Any, batch: tuple[int, ...], event: tuple[int, ...], what: str) -> Distribution:
    """``value``, or a ConformanceError about ``what`` unless it is a Distribution of that batch and event shape."""
    if not isinstance(value, Distribution):
        raise ConformanceError(f"{what} is a {type(value).__name__}, expected a torch.distributions.Distribution")
    if (tuple(value.batch_shape), tuple(value.event_shape)) != (batch, event):
        raise ConformanceError(
            f"{what} has batch shape {tuple(value.batch_shape)} and event shape {tuple(value.event_shape)}, "
            f"expected batch {batch} and event {event} (wrap it in Independent(..., reinterpreted_batch_ndims) "
            "so that everything after the batch is one event)"
        )
    return value


def _project(values: Tensor) -> Tensor:
    """A scalar that depends on every element of ``values`` (a fixed random weighting: a plain sum is blind
    to components whose outputs always sum to the same, like probabilities)."""
    weights = torch.randn(values.shape, generator=torch.Generator().manual_seed(0), dtype=values.dtype)
    return (values * weights.to(values.device)).sum()


# ----------------------------------------------------------------------------------------------------
# Exercising one component of each kind


class Exercise(NamedTuple):
    """What one forward pass through a component gave: what ``exercise(component, dtype, device)`` returns."""

    loss: Tensor  # a scalar depending on every output: backward from it must reach every parameter
    outputs: dict[str, Tensor]  # what a copy loaded from a checkpoint must reproduce
    inputs: dict[str, Tensor]  # inputs the outputs must be differentiable in


def _exercise_field(field: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
    k, o, d = field.in_dim, field.out_dim, field.latent_dim
    coords = (torch.rand(5, 7, k, dtype=dtype, device=device) * 2 - 1).requires_grad_()
    latent = torch.randn(5, d, dtype=dtype, device=device).requires_grad_() if d else None
    call = f"field(coords (5, 7, {k}){f', latent (5, {d})' if d else ''})"
    with stage(call):
        values = field(coords, latent)
    expect_tensor(values, (5, 7, o), dtype, f"{call} (in_dim={k}, out_dim={o})")
    flat = rearrange(values.detach(), "b n o -> (b n) o")
    constant = [c for c in range(o) if torch.equal(flat[:, c].amin(), flat[:, c].amax())]
    if constant:
        many = len(constant) > 1
        raise ConformanceError(
            f"{call} (out_dim={o}): output channel{'s' if many else ''} {', '.join(map(str, constant))} "
            f"{'are' if many else 'is'} the same at all {len(flat)} coordinates: the field drops "
            f"{'them' if many else 'it'}. Every one of its out_dim channels must come from the coordinates"
        )
    inputs = {"coordinates": coords}
    if d:
        with stage(f"{call} with another latent"):
            other = field(coords, torch.randn_like(latent))
        if torch.allclose(values, other):
            raise ConformanceError(
                f"the field ignores its latent: the same coordinates with two different latents (5, {d}) give "
                "the same values. A conditioned field (latent_dim > 0) must depend on its latent from "
                "initialisation on (a decoder, a GON, decodes every example through it)"
            )
        inputs["latent"] = latent
    else:  # an unconditioned field takes any leading shape
        with stage(f"field(coords (7, {k}))"):
            flat = field(coords[0])
        expect_tensor(flat, (7, o), dtype, f"field(coords (7, {k})) (an unconditioned field takes any leading shape)")
    return Exercise(_project(values), {"values": values}, inputs)


def _exercise_divergence(divergence: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
    like = {"dtype": dtype, "device": device}
    if divergence.batch_level:
        x = torch.randn(64, 1, **like).requires_grad_()  # (n, d), d = 1: every batch-level divergence takes it
        with stage("D(samples (64, 1), samples (64, 1))"):
            same, far = divergence(x, x.detach().clone()), divergence(x, x.detach() + 3)
        expect_tensor(far, (), dtype, "a batch-level divergence (batch_level = True) of two sample sets")
        if not same <= far:
            raise ConformanceError(f"D(x, x) = {same.item():.4g} > D(x, x + 3) = {far.item():.4g}: a sample set "
                                   "must be at least as close to itself as to a shifted copy")
        return Exercise(far, {"D(x, x)": same, "D(x, x + 3)": far}, {"samples": x})
    loc = torch.randn(3, 2, **like).requires_grad_()
    q = Independent(Normal(loc, torch.ones(3, 2, **like)), 1)
    p = Independent(Normal(torch.zeros(2, **like), torch.full((2,), 2.0, **like)), 1)
    with stage("D(q, p) of two Gaussians with batch shape (3,)"):
        same, far = divergence(q, q), divergence(q, p)
    expect_tensor(far, (3,), dtype, "a per-example divergence (batch_level = False) of q and p with batch (3,)")
    if not (same <= far + 1e-4).all():
        raise ConformanceError(f"D(q, q) = {same.tolist()} exceeds D(q, p) = {far.tolist()}: a distribution "
                               "must be at least as close to itself as to another")
    return Exercise(_project(far), {"D(q, q)": same, "D(q, p)": far}, {"q's location": loc})


def _exercise_likelihood(likelihood: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
    channels, spatial = 3, (4, 5)
    numbers = _likelihood_params(likelihood, channels)
    params = torch.randn(2, numbers, *spatial, dtype=dtype, device=device).requires_grad_()
    call = f"likelihood(params (2, {numbers}, 4, 5)) for {channels} channels"
    with stage(call):
        dist = likelihood(params)
    expect_distribution(dist, (2,), (channels, *spatial), call)
    with stage(f"{call}.sample()"):
        x = dist.sample()
    with stage(f"{call}.log_prob(its own sample)"):
        log_prob = dist.log_prob(x)
    expect_tensor(log_prob, (2,), dtype, f"{call}.log_prob(its own sample)")
    mean = expect_tensor(dist.mean, (2, channels, *spatial), dtype, f"{call}.mean")
    return Exercise(-log_prob.sum(), {"log_prob": log_prob, "mean": mean}, {"params": params})


def _exercise_encoder(encoder: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
    d = encoder.latent_dim
    x = torch.rand(3, *SHAPE, dtype=dtype, device=device)
    call = f"encoder(x (3, {', '.join(map(str, SHAPE))}))"
    with stage(call):
        q = encoder(x)
    expect_distribution(q, (3,), (d,), f"q(z|x) = {call}")
    with stage("q(z|x).rsample()"):
        z = q.rsample()
    expect_tensor(z, (3, d), dtype, "q(z|x).rsample()")
    return Exercise(_project(z), {"z": z, "mean": q.mean}, {})


def _exercise_prior(prior: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
    d = prior.latent_dim
    with stage("prior()"):
        p = prior()
    expect_distribution(p, (), (d,), "p(z) = prior()")
    with stage("prior().sample((5,))"):
        z = p.sample((5,))
    expect_tensor(z, (5, d), dtype, "prior().sample((5,))")
    points = torch.randn(5, d, dtype=dtype, device=device).requires_grad_()
    call = f"prior().log_prob(z (5, {d}))"
    with stage(call):
        log_prob = p.log_prob(points)
    expect_tensor(log_prob, (5,), dtype, call)
    return Exercise(-log_prob.sum(), {"log_prob": log_prob, "sample": z}, {"codes": points})


def _exercise_decoder(event: tuple[int, ...] | None) -> Callable[[nn.Module, torch.dtype, str], Exercise]:
    """Check a decoder whose p(x|z) is over ``event`` (None: whatever it says)."""

    def exercise(decoder: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
        d = decoder.latent_dim
        z = torch.randn(3, d, dtype=dtype, device=device).requires_grad_()
        call = f"decoder(z (3, {d}))"
        with stage(call):
            p = decoder(z)
        shape = tuple(p.event_shape) if event is None and isinstance(p, Distribution) else event
        expect_distribution(p, (3,), shape, f"p(x|z) = {call}")
        with stage("p(x|z).sample()"):
            x = p.sample()
        with stage("p(x|z).log_prob(its own sample)"):
            log_prob = p.log_prob(x)
        expect_tensor(log_prob, (3,), dtype, "p(x|z).log_prob(its own sample)")
        mean = expect_tensor(p.mean, (3, *shape), dtype, "p(x|z).mean")
        if decoder.resizable:  # zoo sample --size relies on it
            spatial = tuple(n + 1 for n in shape[1:])
            with stage(f"decoder(z, spatial={spatial}) (the decoder says it is resizable)"):
                resized = decoder(z, spatial=spatial)
            expect_distribution(resized, (3,), (shape[0], *spatial), f"decoder(z, spatial={spatial})")
        return Exercise(-log_prob.sum(), {"log_prob": log_prob, "mean": mean}, {"z": z})

    return exercise


def _exercise_model(batch: Any) -> Callable[[nn.Module, torch.dtype, str], Exercise]:
    """Check a model's loss on ``batch`` (from its tiny recipe's data)."""

    def exercise(model: nn.Module, dtype: torch.dtype, device: str) -> Exercise:
        data = _cast(batch, dtype, device)
        with stage("model.loss(a batch of its tiny recipe's data)"):
            terms = model.loss(data)
        if not isinstance(terms, dict) or not terms:
            raise ConformanceError(f"model.loss returned {type(terms).__name__}, expected a non-empty dict of "
                                   "named scalar terms, which the training loop sums")
        for name, value in terms.items():
            expect_tensor(value, (), dtype, f"loss term {name!r} (terms are scalars: average over the batch)")
        return Exercise(sum(terms.values()), terms, {})

    return exercise


def _cast(batch: Any, dtype: torch.dtype, device: str) -> Any:
    """A batch (a tensor, or a dict/list/tuple of them) on ``device``, its floating tensors in ``dtype``."""
    if isinstance(batch, Tensor):
        return batch.to(device, dtype) if batch.is_floating_point() else batch.to(device)
    if isinstance(batch, dict):
        return {key: _cast(value, dtype, device) for key, value in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(_cast(value, dtype, device) for value in batch)
    return batch


# ----------------------------------------------------------------------------------------------------
# The checks every kind shares: gradients reach every parameter; the state round-trips


def _gradients(component: nn.Module, result: Exercise) -> dict[str, Tensor | None]:
    """The gradient of the loss for each input and trainable parameter (None: it got none)."""
    named = [*result.inputs.items(), *((n, p) for n, p in component.named_parameters() if p.requires_grad)]
    if not named or not result.loss.requires_grad:  # computed under no_grad, or detached: nothing gets one
        return {name: None for name, _ in named}
    with stage("backward"):
        grads = torch.autograd.grad(result.loss, [t for _, t in named], allow_unused=True)
    for (name, _), grad in zip(named, grads):
        if grad is not None and not torch.isfinite(grad).all():
            raise ConformanceError(f"the gradient of {name!r} has non-finite values (inf or nan)")
    return {name: grad for (name, _), grad in zip(named, grads)}


def _check_gradients(component: nn.Module, result: Exercise, exercise, dtype: torch.dtype, device: str) -> None:
    """Every input in ``result.inputs`` and every trainable parameter gets a non-zero gradient.

    A gradient that is exactly zero at initialisation is looked at again at a random point near it: a
    zero-initialised layer (the last norm of a residual block, as timm's ResNets have) blocks gradients only
    there, a parameter that is multiplied by zero blocks them everywhere.
    """
    grads = _gradients(component, result)
    if any(grad is not None and not grad.any() for grad in grads.values()):
        nearby = copy.deepcopy(component)
        with torch.no_grad():
            for p in nearby.parameters():
                p.add_(torch.randn_like(p), alpha=0.1)
        torch.manual_seed(1)
        grads = {name: grads[name] if grads[name] is None or grads[name].any() else again
                 for name, again in _gradients(nearby, exercise(nearby, dtype, device)).items()}
    for name in result.inputs:
        if grads[name] is None or not grads[name].any():
            raise ConformanceError(
                f"the outputs are not differentiable in the {name}: their gradient is "
                f"{'missing' if grads[name] is None else 'zero'} (losses on derivatives, and a GON's "
                "latent, need it; don't detach, round or compute it under torch.no_grad)"
            )
    params = [name for name in grads if name not in result.inputs]
    dead = [f"{name} ({'no gradient' if grads[name] is None else 'gradient always zero'})"
            for name in params if grads[name] is None or not grads[name].any()]
    if dead:
        raise ConformanceError(
            f"backward does not reach {len(dead)} of its {len(params)} trainable parameters: {', '.join(dead)}. "
            "Every parameter must get a gradient from the outputs: use it in forward (not detached, not "
            "under torch.no_grad), remove it, or freeze it on purpose with requires_grad_(False)"
        )


def _check_round_trip(build: Callable[[], nn.Module], original: nn.Module, exercise, dtype: torch.dtype,
                      device: str) -> None:
    from zoo.training.checkpoint import CheckpointError, load_weights, save_checkpoint

    original.eval()
    torch.manual_seed(2)
    with stage("the forward pass in eval mode"):
        expected = exercise(original, dtype, device).outputs
    with tempfile.TemporaryDirectory() as tmp:
        with stage("saving its state with zoo.training.checkpoint.save_checkpoint (safetensors)"):
            saved = save_checkpoint(tmp, 0, model=original, ema=None, trainer_state={}, info={}, keep_last=0)
        torch.manual_seed(3)  # other random weights than the original's
        loaded = build().to(device=device, dtype=dtype)
        try:
            load_weights(saved, loaded)
        except CheckpointError as exc:
            raise ConformanceError(f"its saved state does not load into a copy built the same way: {exc}") from None
    loaded.eval()
    torch.manual_seed(2)
    with stage("the copy's forward pass"):
        got = exercise(loaded, dtype, device).outputs
    for name, value in expected.items():
        if not torch.allclose(got[name], value, rtol=1e-5, atol=1e-6, equal_nan=True):
            raise ConformanceError(
                f"its {name!r} differs after a round trip through the checkpoint format (saved, then loaded "
                "into a copy built with other random weights). State outside the state_dict is lost: a "
                "plain tensor attribute, a random buffer registered with persistent=False. Make it an "
                "nn.Parameter or a (persistent) buffer"
            )


def conform(build: Callable[[], nn.Module], exercise, dtype_name: str, device: str) -> None:
    """The checks every kind shares, around a kind's own ``exercise``; leaves the global RNG as it was.

    ``build()`` makes the component (called again, with other random weights, for the copy its saved state
    loads into); ``exercise(component, dtype, device)`` runs it and checks the kind's contract, returning an
    ``Exercise``. Then backward from its ``loss`` must reach every trainable parameter and its ``inputs``, and
    its ``outputs`` must come out the same from the copy loaded from a checkpoint (eval mode, same seed).
    """
    dtype = getattr(torch, dtype_name)
    with torch.random.fork_rng(devices=[torch.device(device).index or 0] if device.startswith("cuda") else []):
        torch.manual_seed(0)
        component = build()
        with stage(f"component.to({device}, {dtype_name})"):
            component = component.to(device=device, dtype=dtype).train()
        torch.manual_seed(1)
        result = exercise(component, dtype, device)
        _check_gradients(component, result, exercise, dtype, device)
        _check_round_trip(build, component, exercise, dtype, device)


# ----------------------------------------------------------------------------------------------------
# One check per kind: entry (a registered component), dtype name, device


def _parameters(obj: Any) -> dict[str, inspect.Parameter]:
    from zoo.constructors import parameters

    return parameters(obj)[0]


def _takes(obj: Any, name: str) -> bool:
    return name in _parameters(obj)


def _widths(obj: Any) -> list[dict[str, int]]:
    """The ``out_dim`` a field is built with: its own default (or FIELD_SIZES'), then each of OUT_DIMS."""
    if not _takes(obj, "out_dim"):
        return [{}]
    default = _parameters(obj)["out_dim"].default
    own = FIELD_SIZES["out_dim"] if default is inspect.Parameter.empty else default
    return [{"out_dim": width} for width in dict.fromkeys([own, *OUT_DIMS])]


def _field(entry: Entry, sizes: dict[str, int]) -> nn.Module:
    field = build_from_defaults(entry.obj, sizes, FIELD_SIZES)
    for size, value in sizes.items():
        if getattr(field, size) != value:
            raise ConformanceError(f"built with {size}={value}, its {size} is {getattr(field, size)}: a field keeps "
                                   "the sizes it is built with (a slot dictates them)")
    return field


def check_field(entry: Entry, dtype: str, device: str) -> None:
    """At its own in_dim/out_dim and at out_dim 1 and 3 (where it takes out_dim); each unconditioned and, when
    it takes ``latent_dim``, conditioned."""
    latents = [{}, {"latent_dim": LATENT_DIM}] if _takes(entry.obj, "latent_dim") else [{}]
    for sizes in ({**width, **latent} for width in _widths(entry.obj) for latent in latents):
        conform(functools.partial(_field, entry, sizes), _exercise_field, dtype, device)


def check_divergence(entry: Entry, dtype: str, device: str) -> None:
    """Per example ``(b,)`` or batch level ``()`` as ``batch_level`` says; D(q, q) ≤ D(q, p)."""
    conform(lambda: build_from_defaults(entry.obj, {}), _exercise_divergence, dtype, device)


def check_likelihood(entry: Entry, dtype: str, device: str) -> None:
    """Params ``(b, c * k, ...)`` -> batch ``(b,)``, event ``(c, ...)``; scores its own samples."""
    conform(lambda: build_from_defaults(entry.obj, {}), _exercise_likelihood, dtype, device)


def _sized(entry: Entry) -> Callable[[], nn.Module]:
    """A builder for an encoder or decoder at SHAPE and LATENT_DIM, which checks it kept the latent size."""

    def build() -> nn.Module:
        component = build_from_defaults(entry.obj, {"shape": SHAPE, "latent_dim": LATENT_DIM})
        if _takes(entry.obj, "latent_dim") and component.latent_dim != LATENT_DIM:
            raise ConformanceError(f"built with latent_dim={LATENT_DIM}, its latent_dim is {component.latent_dim}")
        return component

    return build


def check_encoder(entry: Entry, dtype: str, device: str) -> None:
    """``(b, *shape)`` -> q(z|x), batch ``(b,)``, event ``(latent_dim,)``; rsample carries gradients."""
    conform(_sized(entry), _exercise_encoder, dtype, device)


def check_decoder(entry: Entry, dtype: str, device: str) -> None:
    """``(b, latent_dim)`` -> p(x|z), batch ``(b,)``, event ``shape``; differentiable in z; resizable if it says so."""
    event = SHAPE if _takes(entry.obj, "shape") else None
    conform(_sized(entry), _exercise_decoder(event), dtype, device)


def _prior(entry: Entry) -> nn.Module:
    """A prior at LATENT_DIM; a Fittable one is fitted to codes drawn here (from the caller's RNG state)."""
    prior = build_from_defaults(entry.obj, {"latent_dim": LATENT_DIM})
    if prior.latent_dim != LATENT_DIM:
        raise ConformanceError(f"built with latent_dim={LATENT_DIM}, its latent_dim is {prior.latent_dim}")
    if isinstance(prior, Fittable):
        try:
            prior()
        except ZooError:
            pass
        except Exception as exc:
            raise ConformanceError(f"prior() before fit raised {type(exc).__name__}: {exc}; an unfitted Fittable "
                                   "prior raises a ZooError that says what to do (fit it to the training codes)") \
                from exc
        else:
            raise ConformanceError("prior() before fit returned a distribution: a Fittable prior that has not been "
                                   "fitted must raise a ZooError saying what to do, or a model samples from noise")
        codes = torch.randn(64, LATENT_DIM) * 0.5 + 1.0
        with stage(f"prior.fit(codes (64, {LATENT_DIM}))"):
            prior.fit(codes)
    return prior


def check_prior(entry: Entry, dtype: str, device: str) -> None:
    """p(z) with batch ``()``, event ``(latent_dim,)``: samples, log_prob differentiable in the codes; a
    ``Fittable`` prior raises a ZooError before its fit and is checked fitted (the fit round-trips)."""
    conform(functools.partial(_prior, entry), _exercise_prior, dtype, device)


def tiny_recipe(entry: Entry) -> dict:
    """The loaded recipe ``MODEL-tiny`` of a model entry (ConformanceError if there is none)."""
    from zoo.recipes import load_recipe

    name = TINY_RECIPE.format(model=entry.name)
    try:
        recipe = load_recipe(name)
    except UnknownComponentError:
        raise ConformanceError(
            f"model {entry.name!r} has no tiny recipe: register a recipe named {name!r} (register_recipes) that "
            "trains it in seconds on embedded data; the conformance suite builds it and trains it 2 steps"
        ) from None
    except ZooError as exc:
        raise ConformanceError(f"its tiny recipe {name!r} is invalid: {exc}") from None
    model = recipe["model"] if isinstance(recipe["model"], str) else recipe["model"].get("name")
    if model != entry.name:
        raise ConformanceError(f"its tiny recipe {name!r} builds model {model!r}, not {entry.name!r}")
    return recipe


def _tiny_batch(recipe: dict) -> Any:
    from torch.utils.data import default_collate

    from zoo.recipes import build_dataset
    from zoo.training.settings import TrainSettings

    with stage(f"building the data of its tiny recipe {recipe['name']!r}"):
        dataset = build_dataset(recipe, "train")
    size = min(TrainSettings.from_recipe(recipe).batch_size, len(dataset), MAX_BATCH)
    return default_collate([dataset[i] for i in range(size)])


def check_model(entry: Entry, dtype: str, device: str) -> None:
    """On its tiny recipe: the loss of a batch of its data; in float32, 2 training steps whose checkpoint loads."""
    from zoo.recipes import build_model

    recipe = tiny_recipe(entry)
    batch = _tiny_batch(recipe)

    def build() -> nn.Module:
        with stage(f"building the model of its tiny recipe {recipe['name']!r}"):
            return build_model(recipe)

    conform(build, _exercise_model(batch), dtype, device)
    if dtype == "float32":
        _train_briefly(recipe, device)


def _train_briefly(recipe: dict, device: str) -> None:
    from zoo import training

    with tempfile.TemporaryDirectory() as tmp, torch.random.fork_rng(devices=[]):
        with stage(f"training its tiny recipe {recipe['name']!r} for {TRAIN_STEPS} steps"):
            run = training.train(recipe, Path(tmp) / "run", steps=TRAIN_STEPS, device=device, quiet=True,
                                 pictures=False)
        with stage("loading the trained run back (zoo.training.load)"):
            training.load(run, device=device)


def _check_facts(data: Any, declared: dict[str, Any], split: str) -> None:
    """The dataset states ``FACTS``, agrees with what its factory declares, and its items take its levels."""
    from zoo.data import FACTS

    missing = [fact for fact in FACTS if not hasattr(data, fact)]
    if missing:
        raise ConformanceError(f"it does not state {', '.join(missing)} (zoo.data.FACTS: the shape of one item, its "
                               "number of levels or None, and its kind), which recipes read sizes from")
    for fact, value in declared.items():
        stated = getattr(data, fact)
        if (tuple(stated) if fact == "shape" else stated) != (tuple(value) if fact == "shape" else value):
            raise ConformanceError(f"its factory declares {fact}={value!r} (declare_facts) but its {split} split "
                                   f"states {fact}={stated!r}")
    item = data[0]
    values = item["image"] if isinstance(item, dict) else item
    if data.levels is not None:
        steps = values.double() * (data.levels - 1)
        if (steps - steps.round()).abs().max() > 1e-4 or values.min() < 0 or values.max() > 1:
            raise ConformanceError(f"it states levels={data.levels} but its items are not all on the levels "
                                   f"i / {data.levels - 1} of [0, 1]; state levels=None for continuous values")


def check_dataset(entry: Entry, dtype: str | None = None, device: str | None = None) -> None:
    """Both splits build from the defaults; items are tensors of the dataset's ``shape`` (or dicts of tensors);
    its facts agree with what its factory declares, and its items take its levels."""
    from zoo.errors import DataNotFoundError

    declared = entry.obj.facts() if hasattr(entry.obj, "facts") else {}
    for split in ("train", "test"):
        try:
            with stage(f"{entry.name}(split={split!r})"):
                data = entry.obj(split=split)
        except ConformanceError as exc:
            if isinstance(exc.__cause__, DataNotFoundError):  # data people bring: absent here is fine
                import pytest

                pytest.skip(f"dataset {entry.name!r}: its files are not on this machine ({exc.__cause__})")
            raise
        if len(data) == 0:
            raise ConformanceError(f"its {split} split is empty")
        _check_facts(data, declared, split)
        item = data[0]
        if isinstance(item, dict):
            if not all(isinstance(v, Tensor) for v in item.values()):
                raise ConformanceError(f"its items are dicts, but not of tensors: {sorted(item)}")
            continue
        shape = data.shape
        if not isinstance(item, Tensor) or not item.is_floating_point():
            raise ConformanceError(f"its items are {type(item).__name__}, expected float tensors")
        if tuple(item.shape) != tuple(shape):
            raise ConformanceError(f"its shape says {tuple(shape)} but its {split} items are {tuple(item.shape)}")


def __getattr__(name: str):
    """``CHECKS``, deprecated since 0.2.0: the registered kinds' checks, kind -> check(entry, dtype, device)."""
    if name != "CHECKS":
        raise AttributeError(f"module 'zoo.testing.conformance' has no attribute {name!r}")
    warnings.warn("zoo.testing.conformance.CHECKS is deprecated since genzoo 0.2.0 and goes in 0.3: each kind "
                  "registers its check (register_kinds); use zoo.get_registry().kind(KIND).check, or "
                  "zoo.testing.check_component(KIND, obj)", DeprecationWarning, stacklevel=2)
    return {kind: k.check for kind, k in get_registry().kinds.items() if k.check is not None}


# ----------------------------------------------------------------------------------------------------
# Cases: one per component, dtype and device


def devices() -> list[str]:
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


@dataclass(frozen=True, eq=False)
class Case:
    """One conformance check: a registered component, in one dtype on one device (datasets: neither)."""

    entry: Entry
    dtype: str | None
    device: str | None
    registry: Registry | None = None  # the registry it is checked in (None: the process-wide one)

    @property
    def id(self) -> str:
        return "-".join([self.entry.kind, self.entry.name, *filter(None, (self.dtype, self.device))])

    @property
    def label(self) -> str:
        e = self.entry
        where = [f"plugin {e.plugin}, {e.distribution} {e.version}"] if e.plugin else []
        where += [f"{self.dtype} on {self.device}"] if self.dtype else []
        return f"{e.kind} {e.name!r} ({', '.join(where)})" if where else f"{e.kind} {e.name!r}"

    def run(self) -> None:
        """Run its kind's check; a ConformanceError names the component, the dtype and the device."""
        registry = use_registry(self.registry) if self.registry is not None else contextlib.nullcontext()
        with registry:
            try:
                get_registry().kind(self.entry.kind).check(self.entry, self.dtype, self.device)
            except ConformanceError as exc:
                raise ConformanceError(f"{self.label}: {exc}") from exc.__cause__


def conformance_cases(plugin: Any = None, pattern: str = "*") -> list[Case]:
    """Every case for the components of ``plugin`` whose name matches ``pattern`` (fnmatch).

    ``plugin`` is None (every installed plugin), an installed plugin's entry-point or distribution name,
    or the plugin itself (a module with hookimpls), checked with ``registry_with`` whether or not it is
    installed. Raises ZooError when that selects no component.
    """
    registry = None
    if plugin is not None and not isinstance(plugin, str):
        registry, plugin = registry_with(plugin), plugin.__name__
    found = registry or get_registry()
    kinds = found.kinds
    entries = [e for e in found.list(None, pattern)
               if kinds[e.kind].check is not None and (plugin is None or plugin in (e.plugin, e.distribution))]
    if plugin is not None and not entries:
        infos = {p.name: p for p in found.plugins}
        if plugin in infos and infos[plugin].status != "ok":
            raise ZooError(f"plugin {plugin!r} is broken: {infos[plugin].error}")
        names = ", ".join(sorted(p.name for p in found.plugins if not p.core)) or "none"
        raise ZooError(f"no component matching {pattern!r} is registered by a plugin or distribution called "
                       f"{plugin!r}; plugins loaded: {names} (is it installed, e.g. pip install -e .? "
                       "does ZOO_LOAD_PLUGINS leave it out?)")
    cases = []
    for entry in entries:
        if not kinds[entry.kind].per_device:
            cases.append(Case(entry, None, None, registry))
        else:
            cases += [Case(entry, dtype, device, registry) for device in devices() for dtype in DTYPES]
    return cases


def conformance_test(plugin: Any = None, pattern: str = "*") -> Callable[[Case], None]:
    """A pytest test function parametrised over ``conformance_cases(plugin, pattern)``::

        test_conformance = zoo.testing.conformance_test(zoo_demo)
    """
    import pytest

    @pytest.mark.parametrize("case", conformance_cases(plugin, pattern), ids=lambda case: case.id)
    def test_conformance(case: Case) -> None:
        case.run()

    return test_conformance


def check_component(kind: str, obj: Any, *, name: str | None = None, dtype: str | None = None,
                    device: str | None = None) -> None:
    """Run the checks of ``kind`` on ``obj`` (a component class or factory), in ``dtype`` on ``device``
    (default: every dtype and device); raises ConformanceError. A model is checked on its tiny recipe, so
    it must be registered: ``name`` is its registered name."""
    kinds = get_registry().kinds
    if kind not in kinds or kinds[kind].check is None:
        checked = ", ".join(k for k, spec in kinds.items() if spec.check is not None)
        raise ValueError(f"no conformance checks for kind {kind!r}; kinds with checks: {checked}")
    if kind == "model":
        entry = get_registry().get(kind, name or "")
        if entry.obj is not obj:
            raise ValueError(f"model {name!r} is registered as {entry.obj!r}, not {obj!r}: a model is checked on "
                             "its registered tiny recipe, so register it (zoo.testing.registry_with) and pass its name")
    else:
        entry = Entry(kind, name or getattr(obj, "__name__", repr(obj)), obj, "", None, plugin="")
    if not kinds[kind].per_device:
        Case(entry, None, None).run()
        return
    for each_device in [device] if device else devices():
        for each_dtype in [dtype] if dtype else DTYPES:
            Case(entry, each_dtype, each_device).run()
