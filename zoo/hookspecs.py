"""The plugin hooks. A plugin implements any of them with ``@zoo.hookimpl``.

Every hook is ``register_*(register)``: the core hands the plugin a callback and the plugin calls it
once per thing it provides, as in ``llm``. Hook names and signatures here are the plugin API; changing
one is a breaking change for every third-party plugin.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("zoo")
hookimpl = pluggy.HookimplMarker("zoo")


@hookspec
def register_kinds(register):
    """Register kinds of component: ``register(name, interface, *, sizes=(), check=None, per_device=True,
    summary=None)``.

    ``interface`` is the class every component of the kind subclasses (``None``: any callable, as for
    datasets); a constructor argument annotated with it takes a component of the kind in a recipe.
    ``sizes`` are the size arguments a slot dictates to its component (kept when a recipe swaps one in);
    ``check(entry, dtype, device)`` is its conformance check (``zoo.testing``: raise ``ConformanceError``),
    run in float32 and float64 on every device unless ``per_device=False``; ``summary`` (by default the
    first line of the interface's docstring) is what ``zoo info KIND`` says it is. Every plugin's kinds are
    registered before any component, so a plugin may use a kind another plugin adds. The core's own kinds
    (divergence, encoder, decoder, field, likelihood, prior, model, dataset, recipe) come through this hook
    too (``zoo.kinds``).

    Example::

        @zoo.hookimpl
        def register_kinds(register):
            register("noise-schedule", NoiseSchedule, check=check_schedule)
    """


@hookspec
def register_components(register):
    """Register components: ``register(kind, name, obj, *, summary=None, paper=None)``.

    ``kind`` is a registered kind (``zoo list`` shows them: divergence, encoder, decoder, field, likelihood,
    prior, model, dataset, and those plugins add); ``obj`` is the class (or factory) that
    ``zoo.create(kind, name, **kwargs)`` calls. The summary defaults to the first line of ``obj``'s
    docstring; ``paper`` is a citation or link.

    Example::

        @zoo.hookimpl
        def register_components(register):
            register("field", "gabor", GaborField, paper="Fathony et al. 2021, Multiplicative Filter Networks")
    """


@hookspec
def register_recipes(register):
    """Register named recipes: ``register(name, recipe, *, summary=None)``.

    ``recipe`` is the same tree of plain data that ``registry.yaml`` holds under ``recipes:`` (``model``,
    ``data``, ``train``); every component it names is resolved through the registry, so a recipe may
    use components from any installed plugin.
    """


@hookspec
def register_artifacts(register):
    """Register what a run draws: ``register(name, write, *, applies_to, output, command=None,
    after_training=True, applies_if=None, summary=None)``.

    ``write(run, out, *, <options>) -> list[Path]`` draws from a ``zoo.artifacts.Run`` into ``out``; it applies
    to models that are an ``applies_to`` (a capability class); ``output`` is the file or folder it writes in
    the run directory by default (``"samples.png"``, ``"render/"``, ``"render-{size}.png"``); ``command``
    (``"sample"``, ``"interpolate"`` or ``"render"``) is the ``zoo`` command that runs it, None for a picture
    that only ``zoo train`` writes; ``applies_if(run) -> bool`` narrows it to the runs whose data it draws. Its
    options are the keyword-only parameters of ``write``, with defaults and annotations (``PositiveInt``,
    ``Annotated[float, Interval(ge=0, le=2), "help"]``), checked as recipe arguments are and given on the
    command line as ``--name``. See ``zoo.artifacts``.

    Example::

        @zoo.hookimpl
        def register_artifacts(register):
            register("samples-at-temperature", tempered_samples, applies_to=TemperedSampler,
                     output="samples.png", command="sample")
    """
