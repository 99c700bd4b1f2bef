"""Testing helpers for the zoo and for third-party plugins.

- ``registry_with(plugin, ...)``: a registry of the installed plugins plus yours, without installing it;
- ``use_registry(registry)``: make that registry the process-wide one inside a ``with`` block;
- ``check_component(kind, obj)``: the conformance checks every component of a kind must pass
  (shapes, the interface's return types, differentiability). The zoo's own suite runs them over every
  registered component; a plugin author runs them over theirs:

      @pytest.mark.parametrize("entry", zoo.list_components("field", "gabor*"), ids=lambda e: e.name)
      def test_conformance(entry):
          zoo.testing.check_component(entry.kind, entry.obj)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from zoo.plugins import PluginInfo, load_plugins
from zoo.registry import Registry, build_registry

__all__ = ["registry_with", "use_registry", "check_component", "CHECKS"]


def registry_with(*plugins: Any, distribution: str = "fixture-dist", version: str = "0.0") -> Registry:
    """The installed plugins plus ``plugins`` (modules or objects with hookimpls and a ``__name__``)."""
    pm, infos = load_plugins()
    try:
        for plugin in plugins:
            pm.register(plugin, name=plugin.__name__)
            infos.append(PluginInfo(plugin.__name__, plugin.__name__, distribution, version, builtin=False))
        return build_registry(pm, infos)
    finally:
        for plugin in plugins:
            pm.unregister(plugin)


@contextlib.contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the one ``zoo.create`` / recipes / the CLI see, restoring the old one after."""
    from zoo import registry as module

    previous = module._registry
    module._registry = registry
    try:
        yield registry
    finally:
        module._registry = previous


# ----------------------------------------------------------------------------------------------------
# Conformance: what every component of a kind must do, whoever wrote it


EXAMPLE_SHAPE = (1, 8, 8)  # data shape components are built for in the checks
EXAMPLE_LATENT = 4


def _example(kind: str, obj: Any, **known: Any) -> Any:
    """Build ``obj`` with its defaults plus the standard arguments the checks know how to fill.

    Required constructor arguments must be among: shape, latent_dim, in_dim, out_dim, likelihood, field
    (a component a user can't build from these names alone needs defaults for the rest).
    """
    import inspect

    from zoo.recipes import component_kind, parameters

    params, hints, _ = parameters(obj)
    kwargs = {}
    for name, param in params.items():
        if name in known:
            kwargs[name] = known[name]
        elif component_kind(hints.get(name, param.annotation)) == "likelihood" and param.default is param.empty:
            from zoo.likelihoods import BernoulliLikelihood

            kwargs[name] = BernoulliLikelihood()
        elif component_kind(hints.get(name, param.annotation)) == "field" and param.default is param.empty:
            kwargs[name] = _any_conditioned_field(in_dim=len(known["shape"]) - 1, out_dim=known["shape"][0])
        elif param.default is inspect.Parameter.empty:
            raise AssertionError(
                f"{kind} {obj.__name__}: required argument {name!r} is not one the conformance checks "
                f"can fill ({', '.join(known)}, likelihood, field); give it a default"
            )
    return obj(**kwargs)


def _any_conditioned_field(in_dim: int, out_dim: int):
    from zoo.registry import get_registry

    for entry in get_registry().list("field"):
        try:
            return entry.obj(in_dim=in_dim, out_dim=out_dim, latent_dim=EXAMPLE_LATENT)
        except TypeError:
            continue
    raise AssertionError("no registered field accepts in_dim/out_dim/latent_dim")


def check_field(obj: Any) -> None:
    """Shapes without and (when it takes ``latent_dim``) with a latent; gradients in the coordinates."""
    import torch

    from zoo.recipes import parameters

    conditionings = [0, EXAMPLE_LATENT] if "latent_dim" in parameters(obj)[0] else [None]
    for latent_dim in conditionings:
        field = _example("field", obj, in_dim=2, out_dim=3, latent_dim=latent_dim)
        assert (field.in_dim, field.out_dim) == (2, 3)
        coords = (torch.rand(5, 7, 2) * 2 - 1).requires_grad_()
        latent = torch.randn(5, EXAMPLE_LATENT) if latent_dim else None
        values = field(coords, latent)
        assert values.shape == (5, 7, 3), f"field output {tuple(values.shape)}, expected (5, 7, 3)"
        (grad,) = torch.autograd.grad(values.sum(), coords)
        assert grad.shape == coords.shape and torch.isfinite(grad).all() and grad.abs().sum() > 0
        if latent is not None:  # the latent must matter
            assert not torch.allclose(values, field(coords, latent + 1.0)), "the field ignores its latent"


def check_divergence(obj: Any) -> None:
    """Shapes of both flavours; D(q, q) ≤ D(q, p) (holds for divergences and for cross entropy)."""
    import torch
    from torch.distributions import Independent, Normal

    div = _example("divergence", obj)
    torch.manual_seed(0)
    if div.batch_level:
        x = torch.randn(64, 1, requires_grad=True)  # (n, d) with d = 1: every batch-level divergence takes it
        same, far = div(x, x.detach().clone()), div(x, x.detach() + 3)
        assert same.shape == far.shape == (), f"a batch-level divergence returns a scalar, got {tuple(far.shape)}"
        assert same <= far
        (grad,) = torch.autograd.grad(far, x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    else:
        loc = torch.randn(3, 2, requires_grad=True)
        q = Independent(Normal(loc, torch.ones(3, 2)), 1)
        p = Independent(Normal(torch.zeros(2), torch.ones(2) * 2), 1)
        same, far = div(q, q), div(q, p)
        assert far.shape == (3,), f"per-example divergence must return (b,), got {tuple(far.shape)}"
        assert (same <= far + 1e-4).all()
        assert torch.autograd.grad(far.sum(), loc)[0].abs().sum() > 0


def check_likelihood(obj: Any) -> None:
    """Params ``(b, num_params(c), h, w)`` -> batch ``(b,)``, event ``(c, h, w)`` for c = 1 and 3; finite
    log-probs of [0, 1] data, differentiable in the params."""
    import torch

    likelihood = _example("likelihood", obj)
    for c in (1, 3):
        params = torch.randn(2, likelihood.num_params(c), 4, 5, requires_grad=True)
        dist = likelihood(params)
        assert dist.batch_shape == (2,) and dist.event_shape == (c, 4, 5), (c, dist.batch_shape, dist.event_shape)
        x = torch.rand(2, c, 4, 5).round() if "ernoulli" in type(likelihood).__name__ else torch.rand(2, c, 4, 5)
        log_prob = dist.log_prob(x)
        assert log_prob.shape == (2,) and torch.isfinite(log_prob).all()
        assert dist.mean.shape == (2, c, 4, 5)
        assert torch.autograd.grad(log_prob.sum(), params)[0].abs().sum() > 0


def check_encoder(obj: Any) -> None:
    """``(b, *shape)`` -> q(z|x) with batch ``(b,)`` and event ``(latent_dim,)``; rsample carries gradients."""
    import torch

    encoder = _example("encoder", obj, shape=EXAMPLE_SHAPE, latent_dim=EXAMPLE_LATENT)
    assert encoder.latent_dim == EXAMPLE_LATENT
    x = torch.rand(3, *EXAMPLE_SHAPE)
    q = encoder(x)
    assert q.batch_shape == (3,) and q.event_shape == (EXAMPLE_LATENT,), (q.batch_shape, q.event_shape)
    z = q.rsample()
    assert z.shape == (3, EXAMPLE_LATENT)
    z.square().sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.parameters())


def check_decoder(obj: Any) -> None:
    """``(b, latent_dim)`` -> p(x|z) with batch ``(b,)`` and event ``shape``; log-probs differentiable in z."""
    import torch

    decoder = _example("decoder", obj, shape=EXAMPLE_SHAPE, latent_dim=EXAMPLE_LATENT)
    assert decoder.latent_dim == EXAMPLE_LATENT
    z = torch.randn(3, EXAMPLE_LATENT, requires_grad=True)
    p = decoder(z)
    assert p.batch_shape == (3,) and p.event_shape == EXAMPLE_SHAPE, (p.batch_shape, p.event_shape)
    log_prob = p.log_prob(torch.rand(3, *EXAMPLE_SHAPE).round())
    assert log_prob.shape == (3,) and torch.isfinite(log_prob).all()
    assert torch.autograd.grad(log_prob.sum(), z)[0].abs().sum() > 0


CHECKS = {
    "field": check_field,
    "divergence": check_divergence,
    "likelihood": check_likelihood,
    "encoder": check_encoder,
    "decoder": check_decoder,
}


def check_component(kind: str, obj: Any) -> None:
    """Run the conformance checks of ``kind`` on the component class ``obj`` (AssertionError if it fails)."""
    CHECKS[kind](obj)
