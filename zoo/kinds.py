"""The core's kinds of component, registered through ``register_kinds`` as any plugin registers its own.

Each kind names the interface its components implement (``zoo.interfaces``), the sizes its slots dictate
(a recipe that swaps a component in keeps them) and its conformance check (``zoo.testing.conformance``).
The order here is the order ``zoo list`` shows them in. A plugin adds a kind the same way
(docs/plugins.md, "Adding a kind").
"""

from __future__ import annotations

from zoo.hookspecs import hookimpl
from zoo.interfaces import Decoder, Divergence, Encoder, ImplicitField, Likelihood, Model, Prior
from zoo.testing import conformance

__all__ = ["register_kinds"]


@hookimpl
def register_kinds(register):
    register("divergence", Divergence, check=conformance.check_divergence)
    register("encoder", Encoder, sizes=("shape", "latent_dim", "deterministic"), check=conformance.check_encoder)
    register("decoder", Decoder, sizes=("shape", "latent_dim"), check=conformance.check_decoder)
    register("field", ImplicitField, sizes=("in_dim", "out_dim", "latent_dim"), check=conformance.check_field)
    register("likelihood", Likelihood, sizes=("num_bins",), check=conformance.check_likelihood)
    register("prior", Prior, sizes=("latent_dim",), check=conformance.check_prior)
    register("model", Model, check=conformance.check_model)
    register("dataset", None, sizes=("size",), check=conformance.check_dataset, per_device=False,
             summary="a factory f(*, root=None, split='train', **options) -> a torch Dataset of float tensors "
                     "(or dicts of them) whose `shape` is the shape of one item")
    register("artifact", None, per_device=False,
             summary="what a run draws, samples, renders or exports (zoo train's pictures, zoo sample | interpolate | "
                     "render), for the models of a capability, with options it declares; registered with "
                     "register_artifacts")
    register("recipe", None, summary="a named tree of components with their arguments, the data and the training "
                                     "settings: `zoo train NAME --set a.b=c`")
