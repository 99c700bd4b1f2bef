"""The registry and the plugin manager: fixture plugins, broken plugins, duplicates, ZOO_LOAD_PLUGINS."""

from __future__ import annotations

import types
from typing import Annotated

import pytest
import torch

import zoo
from zoo import hookimpl
from zoo.errors import DuplicateComponentError, PluginError, RecipeError, UnknownComponentError, ZooError
from zoo.interfaces import ImplicitField
from zoo.plugins import load_plugins
from zoo.recipes import Interval
from zoo.testing import registry_with


class ConstantField(ImplicitField):
    """A field that is the same everywhere (fixture)."""

    def __init__(self, in_dim: int = 2, out_dim: int = 1, value: float = 0.5):
        super().__init__()
        self.in_dim, self.out_dim, self.value = in_dim, out_dim, value

    def forward(self, coords, latent=None):
        return torch.full((*coords.shape[:-1], self.out_dim), self.value)


def fixture_plugin(name: str, registrations):
    """A plugin module whose register_components hook calls ``registrations(register)``."""
    module = types.ModuleType(name)
    module.register_components = hookimpl(registrations)
    return module


def test_fixture_plugin_component_is_created_and_listed():
    plugin = fixture_plugin("const", lambda register: register("field", "const", ConstantField, paper="none"))
    registry = registry_with(plugin)
    field = registry.create("field", "const", value=2.0)
    assert torch.equal(field(torch.zeros(3, 2)), torch.full((3, 1), 2.0))
    entry = registry.get("field", "const")
    assert (entry.plugin, entry.distribution, entry.version) == ("const", "fixture-dist", "0.0")
    assert entry.summary == "A field that is the same everywhere (fixture)."
    assert [e.name for e in registry.list("field", "con*")] == ["const"]


class ScaledField(ImplicitField):
    """Another field, scaled (fixture): a component, a number with a range, a tuple and a plain object."""

    def __init__(self, field: ImplicitField, *, scale: Annotated[float, Interval(gt=0)] = 1.0,
                 offsets: tuple[float, ...] = (), generator: torch.Generator | None = None):
        super().__init__()
        self.field, self.scale, self.offsets, self.generator = field, scale, offsets, generator
        self.in_dim, self.out_dim = field.in_dim, field.out_dim

    def forward(self, coords, latent=None):
        return self.scale * self.field(coords, latent)


def test_create_checks_keyword_arguments_against_their_annotations_and_passes_them_converted():
    registry = registry_with(fixture_plugin("scaled", lambda register: register("field", "scaled", ScaledField)))
    inner, generator = ConstantField(), torch.Generator()
    field = registry.create("field", "scaled", field=inner, scale=2, offsets=[1, 2], generator=generator)
    assert field.field is inner and field.generator is generator  # a component and an object: passed as they are
    assert (type(field.scale), field.scale, field.offsets) == (float, 2.0, (1.0, 2.0))  # converted as in a recipe
    with pytest.raises(RecipeError, match=r"^field 'scaled': scale: expected float > 0, got 0$"):
        registry.create("field", "scaled", field=inner, scale=0)
    with pytest.raises(RecipeError, match=r"^field 'scaled': offsets\[1\]: expected float, got 'far' \(str\)$"):
        registry.create("field", "scaled", field=inner, offsets=[1, "far"])
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):  # a name it lacks: its own error
        registry.create("field", "scaled", field=inner, colour=1)


@pytest.mark.parametrize("kind, name, key, value, expected", [
    ("field", "siren", "hidden_dim", 0, "int >= 1"),
    ("model", "vae", "beta", -0.5, "float >= 0"),
    ("model", "vae", "kl_warmup_steps", -1, "int >= 0"),
    ("model", "variational-gon", "beta", -1.0, "float >= 0"),
    ("model", "nerf", "num_samples", 0, "int >= 1"),
    ("model", "nerf", "rays_per_step", 0, "int >= 1"),
    ("model", "nerf", "num_importance", -1, "int >= 0"),
    ("model", "nerf", "occupancy_fraction", 1.5, "float > 0 and <= 1"),
    ("dataset", "procedural-scene", "size", 0, "int >= 1"),
])
def test_zoo_create_refuses_a_built_in_s_out_of_range_argument_in_one_line(kind, name, key, value, expected):
    """The ranges these constructors once checked by hand, now only annotated: a Python caller is refused too."""
    with pytest.raises(RecipeError, match=rf"^{kind} '{name}': {key}: expected {expected}, got {value}$"):
        zoo.create(kind, name, **{key: value})


def test_unknown_name_suggests_the_close_one():
    registry = registry_with()
    with pytest.raises(UnknownComponentError, match=r"unknown divergence 'kll' — did you mean 'kl'\?"):
        registry.get("divergence", "kll")
    with pytest.raises(UnknownComponentError, match="did you mean 'field'"):
        registry.list("feild")


def test_name_registered_under_another_kind_is_pointed_out():
    registry = registry_with()
    with pytest.raises(UnknownComponentError, match="'kl' is a divergence"):
        registry.get("field", "kl")


def refused(registry, plugin: str) -> str:
    """The error of a plugin the registry refused (it must be listed as broken)."""
    info = {p.name: p for p in registry.plugins}[plugin]
    assert info.status == "broken", f"plugin {plugin!r} should have been refused"
    return info.error


def test_duplicate_names_both_plugins_and_disables_the_second_only(monkeypatch):
    one = fixture_plugin("one", lambda register: register("field", "const", ConstantField))

    def also_registers_const(register):
        register("field", "other", ConstantField)
        register("field", "const", ConstantField)

    two = fixture_plugin("two", also_registers_const)
    registry = registry_with(one, two)
    error = refused(registry, "two")
    assert "field 'const' is registered twice: by plugin 'one'" in error and "'two'" in error
    assert "pip uninstall fixture-dist" in error
    assert registry.get("field", "const").plugin == "one"
    assert registry.list("field", "other") == []  # all of a plugin or nothing
    assert registry.get("divergence", "kl")  # the rest of the zoo works
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(DuplicateComponentError, match=r"'one'.*'two'"):
        registry_with(one, two)


@pytest.mark.parametrize(("registration", "message"), [
    (lambda register: register("divergence", "const", ConstantField), "does not subclass zoo.interfaces.Divergence"),
    (lambda register: register("field", "Const", ConstantField), "names are lower-case"),
    (lambda register: register("fields", "const", ConstantField), "unknown kind 'fields'"),
])
def test_a_refused_registration_disables_that_plugin_only(monkeypatch, registration, message):
    registry = registry_with(fixture_plugin("bad", registration))
    assert message in refused(registry, "bad")
    assert registry.get("divergence", "kl") and registry.get("recipe", "vae-digits")
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(ZooError, match=message):
        registry_with(fixture_plugin("bad", registration))


def test_a_refused_plugin_leaves_every_command_working(capsys):
    from zoo.cli import main
    from zoo.testing import use_registry

    bad = fixture_plugin("bad", lambda register: register("field", "siren", ConstantField))  # a built-in's name
    with use_registry(registry_with(bad)):
        assert main(["list", "--kind", "divergence"]) == 0
        assert main(["plugins"]) == 0
    out = capsys.readouterr()
    assert "kl" in out.out and "bad" in out.out + out.err


def test_plugin_whose_hook_raises_is_broken_and_the_rest_works(monkeypatch):
    def explode(register):
        register("field", "half", ConstantField)
        raise RuntimeError("boom")

    registry = registry_with(fixture_plugin("exploding", explode))
    info = {p.name: p for p in registry.plugins}["exploding"]
    assert info.status == "broken" and "boom" in info.error
    assert registry.list("field", "half") == []  # nothing half-registered
    assert registry.get("divergence", "kl")
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="exploding"):
        registry_with(fixture_plugin("exploding", explode))


def test_plugin_that_fails_to_import_is_listed_as_broken(monkeypatch, fresh_registry):
    from zoo import plugins

    config = dict(plugins.builtin_config())
    config["plugins"] = [*config["plugins"], "zoo_does_not_exist"]
    monkeypatch.setattr(plugins, "builtin_config", lambda: config)
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", ",".join(config["plugins"]))
    registry = fresh_registry()
    info = {p.name: p for p in registry.plugins}["zoo_does_not_exist"]
    assert info.status == "broken" and "ModuleNotFoundError" in info.error
    assert registry.get("divergence", "kl")  # the rest keeps working
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="zoo_does_not_exist"):
        load_plugins()


def test_zoo_load_plugins_restricts_which_plugins_load(monkeypatch, fresh_registry):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_divergences")
    names = {p.name for p in fresh_registry().plugins}
    assert "zoo_divergences" in names
    assert all(n == "zoo_divergences" or n.startswith("zoo.") for n in names)
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "")
    zoo.registry.reset_registry()
    assert fresh_registry().list("divergence") == []


@pytest.mark.parametrize(("value", "strict"), [
    ("1", True), ("true", True), ("Yes", True), ("on", True), (" ON ", True),
    ("0", False), ("false", False), ("no", False), ("off", False), ("", False),
])
def test_zoo_strict_plugins_takes_the_documented_values(monkeypatch, value, strict):
    from zoo import plugins

    monkeypatch.setenv("ZOO_STRICT_PLUGINS", value)
    assert plugins.strict() is strict


@pytest.mark.parametrize("value", ["2", "maybe", "strict"])
def test_zoo_strict_plugins_refuses_any_other_value_in_one_line(monkeypatch, capsys, fresh_registry, value):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_STRICT_PLUGINS", value)
    with pytest.raises(PluginError, match=rf"ZOO_STRICT_PLUGINS='{value}' is not a setting: use 1, true, yes or on"):
        load_plugins()
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "0, false, no, off or nothing" in " ".join(err.split())


def test_zoo_load_plugins_says_when_a_name_matches_nothing(monkeypatch, fresh_registry):
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_divergences,zoo_divergence")
    with pytest.warns(UserWarning, match="ZOO_LOAD_PLUGINS names 'zoo_divergence', which no installed plugin is "
                                         "called.*plugin names: .*zoo_divergences"):
        fresh_registry()


def test_register_components_hook_takes_summary_and_paper():
    class Plugin:
        @hookimpl
        def register_components(self, register):
            register("field", "flat", ConstantField, summary="Flat as a pancake.", paper="Nobody 2026")

    plugin = Plugin()
    plugin.__name__ = "flat-plugin"
    entry = registry_with(plugin).get("field", "flat")
    assert (entry.summary, entry.paper, entry.plugin) == ("Flat as a pancake.", "Nobody 2026", "flat-plugin")


def test_register_recipes_hook_adds_a_buildable_recipe():
    class Plugin:
        @hookimpl
        def register_recipes(self, register):
            register("kl-only", {"model": {"name": "kl"}}, summary="not a model")

    plugin = Plugin()
    plugin.__name__ = "recipe-plugin"
    entry = registry_with(plugin).get("recipe", "kl-only")
    assert entry.obj == {"model": {"name": "kl"}} and entry.summary == "not a model"
    assert entry.plugin == "recipe-plugin"


def test_public_api_create_and_list():
    kl = zoo.create("divergence", "kl")
    assert isinstance(kl, torch.nn.Module)
    assert {e.name for e in zoo.list_components("divergence")} >= {"kl", "cross-entropy", "sliced-wasserstein"}
    assert all(e.kind == "recipe" for e in zoo.list_components("recipe"))


def test_every_hookspec_has_a_test_and_documentation():
    """Like datasette's test_plugins: a hook nobody tests or documents fails the suite."""
    from pathlib import Path

    from zoo import hookspecs

    hooks = [n for n in dir(hookspecs) if n.startswith("register_")]
    tests = "".join(p.read_text() for p in Path(__file__).parent.rglob("test_*.py"))
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    guide = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text()
    for hook in hooks:
        assert getattr(hookspecs, hook).__doc__, f"hookspec {hook} has no docstring"
        assert f"def test_{hook}" in tests, f"no test named test_{hook}*: every hook needs one"
        assert hook in readme, f"README does not document {hook}"
        assert f"### `{hook}(register)`" in guide, f"docs/plugins.md has no section on {hook}"


# ----------------------------------------------------------------------------------------------------
# Kinds are registered (register_kinds), the core's own included


class Tone(torch.nn.Module):
    """The interface of a fixture kind: a tone generator (fixture)."""

    def forward(self, t):
        raise NotImplementedError


class Sine(Tone):
    """A sine tone (fixture)."""

    def forward(self, t):
        return torch.sin(t)


def kind_plugin(name: str, kinds, components=None):
    """A plugin module whose register_kinds hook calls ``kinds(register)`` (and register_components, if given)."""
    module = types.ModuleType(name)
    module.register_kinds = hookimpl(kinds)
    if components is not None:
        module.register_components = hookimpl(components)
    return module


def test_register_kinds_hook_adds_a_kind_whose_components_register_after_it():
    tones = kind_plugin("tones", lambda register: register("tone", Tone, sizes=["rate"], summary="Beeps."),
                        lambda register: register("tone", "sine", Sine))
    registry = registry_with(tones)
    kind = registry.kind("tone")
    assert (kind.interface, kind.sizes, kind.summary, kind.check, kind.plugin) == (Tone, ("rate",), "Beeps.", None,
                                                                                  "tones")
    assert registry.interface_kind(Sine) == "tone" and registry.get("tone", "sine").obj is Sine
    # a component of the kind from another plugin, whichever plugin's hooks run first: kinds come first
    other = fixture_plugin("more-tones", lambda register: register("tone", "also-sine", Sine))
    for order in ((tones, other), (other, tones)):
        assert registry_with(*order).get("tone", "also-sine").plugin == "more-tones"


def test_the_core_registers_its_kinds_through_the_same_hook():
    registry = registry_with()
    assert list(registry.kinds) == ["divergence", "encoder", "decoder", "field", "likelihood", "prior", "model",
                                    "dataset", "artifact", "recipe"]
    assert {k.plugin for k in registry.kinds.values()} == {"zoo.kinds"}
    assert registry.kind("prior").sizes == ("latent_dim",) and registry.kind("field").check is not None
    assert registry.kind("dataset").interface is None and not registry.kind("dataset").per_device
    with pytest.raises(UnknownComponentError, match="unknown kind 'feild' — did you mean 'field'"):
        registry.kind("feild")


def test_a_component_under_an_unregistered_kind_is_refused_naming_the_kinds():
    registry = registry_with(fixture_plugin("bad", lambda register: register("tone", "sine", Sine)))
    assert "unknown kind 'tone'; kinds are: divergence, encoder, decoder, field, likelihood, prior" in refused(
        registry, "bad")


def test_two_plugins_registering_one_kind_is_an_error_naming_both(monkeypatch):
    one = kind_plugin("one", lambda register: register("tone", Tone))
    two = kind_plugin("two", lambda register: register("tone", Tone))
    registry = registry_with(one, two)
    error = refused(registry, "two")
    assert "kind 'tone' is registered twice: by plugin 'one' (fixture-dist) and by plugin 'two'" in error
    assert registry.kind("tone").plugin == "one"
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(DuplicateComponentError, match=r"kind 'tone'.*'one'.*'two'"):
        registry_with(one, two)


@pytest.mark.parametrize(("registration", "message"), [
    (lambda register: register("Tone", Tone), "kind names are lower-case"),
    (lambda register: register("tone", "Tone"), "the interface is the class"),
    (lambda register: register("tone", Tone, check="check_tone"), "a check is a function"),
    (lambda register: register("tone", ImplicitField), "already the interface of kind 'field'"),
])
def test_a_refused_kind_disables_that_plugin_only(registration, message):
    registry = registry_with(kind_plugin("bad", registration, lambda register: register("field", "flat",
                                                                                      ConstantField)))
    assert message in refused(registry, "bad")
    assert registry.list("field", "flat") == []  # all of a plugin or nothing
    assert registry.get("divergence", "kl")


def test_a_plugin_whose_register_kinds_raises_is_broken_and_the_rest_works(monkeypatch):
    def explode(register):
        register("tone", Tone)
        raise RuntimeError("boom")

    registry = registry_with(kind_plugin("exploding", explode, lambda register: register("tone", "sine", Sine)))
    assert "register_kinds: RuntimeError: boom" in refused(registry, "exploding")
    assert "tone" not in registry.kinds and registry.get("divergence", "kl")
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError, match="exploding"):
        registry_with(kind_plugin("exploding", explode))


def test_a_plugin_using_the_kind_of_a_broken_plugin_is_refused_and_says_why():
    def tones_and_a_clash(register):
        register("tone", "sine", Sine)
        register("field", "siren", ConstantField)  # a built-in's name: the plugin is refused, its kind goes

    tones = kind_plugin("tones", lambda register: register("tone", Tone), tones_and_a_clash)
    user = fixture_plugin("user", lambda register: register("tone", "also-sine", Sine))
    for order in ((tones, user), (user, tones)):  # refused before or after the user's components were added
        registry = registry_with(*order)
        assert "tone" not in registry.kinds and "field 'siren' is registered twice" in refused(registry, "tones")
        error = refused(registry, "user")
        assert "'tone'" in error and "plugin 'tones', which registers that kind, is broken" in error
        assert registry.get("field", "siren").plugin == "zoo_siren"


def test_kinds_and_sizes_are_deprecated_views_of_the_registry():
    import zoo.interfaces

    with pytest.warns(DeprecationWarning, match=r"zoo.interfaces.KINDS .*deprecated.*zoo.get_registry\(\).kinds"):
        kinds = zoo.interfaces.KINDS
    assert kinds["field"] is ImplicitField and kinds["prior"] is zoo.interfaces.Prior and kinds["dataset"] is None
    with pytest.warns(DeprecationWarning, match="zoo.interfaces.SIZES"):
        from zoo.interfaces import SIZES
    assert SIZES["field"] == ("in_dim", "out_dim", "latent_dim") and SIZES["prior"] == ("latent_dim",)
    assert "divergence" not in SIZES  # as before: kinds whose slots dictate nothing are not in it
    with pytest.raises(AttributeError, match="no attribute 'KIND'"):
        zoo.interfaces.KIND  # noqa: B018


def test_the_registry_does_not_import_the_recipes_and_the_kinds_load_without_pytest():
    """No import circle zoo.registry <-> zoo.recipes; the core's kinds name zoo.testing's checks, which must load
    where genzoo runs without its test extras (no pytest)."""
    import subprocess
    import sys

    code = ("import sys; sys.modules['pytest'] = None\n"  # `import pytest` now fails, as without the extras
            "import zoo.registry\n"
            "assert not any(m.startswith('zoo.recipes') for m in sys.modules), 'zoo.registry imported zoo.recipes'\n"
            "registry = zoo.registry.get_registry()\n"
            "assert 'prior' in registry.kinds and all(p.status == 'ok' for p in registry.plugins), registry.plugins\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


# -- recipes belong to plugins ----------------------------------------------------------------------------------


def test_each_shipped_recipe_is_filed_under_the_plugin_of_its_model_and_names_the_others_it_uses():
    """registry.yaml says who provides each recipe and what else it needs; the components the recipe names
    (its provenance, derived by walking it) say the same: its model's plugin first, then the others."""
    from zoo.plugins import builtin_config
    from zoo.recipes import load_recipe, provenance

    for owner, recipes in builtin_config()["recipes"].items():
        for name, data in recipes.items():
            used = [p["plugin"] for p in provenance(load_recipe(name))]
            # the core is always loaded: named only where it provides the recipe (zoo.quality's feature networks)
            used = list(dict.fromkeys(p for p in used if not p.startswith("zoo.") or p == owner))
            assert [owner, *data.get("needs", [])] == used, name
            assert zoo.registry.get_registry().get("recipe", name).plugin == owner


def test_a_recipe_is_offered_only_when_every_plugin_it_needs_is_loaded(monkeypatch, fresh_registry, capsys):
    from zoo.cli import main

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_vae")
    registry = fresh_registry()
    offered = {e.name for e in registry.list("recipe")}
    core = {e.name for e in registry.list("recipe") if e.plugin.startswith("zoo.")}  # the core always loads
    assert core == {"features-digits", "features-faces", "feature-classifier-tiny"}
    assert offered - core == {"ae-digits", "ae-tiny"}  # every VAE's KL is zoo_divergences'
    assert main(["list", "nerf-*"]) == 0 and "no components match" in capsys.readouterr().out
    assert main(["train", "nerf-tiny"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert ("error: recipe 'nerf-tiny' is provided by plugin zoo_nerf; not loaded: zoo_nerf "
            "(ZOO_LOAD_PLUGINS=zoo_vae); load it with ZOO_LOAD_PLUGINS=zoo_vae,zoo_nerf, or unset it") in err
    with pytest.raises(zoo.errors.UnknownComponentError, match=r"'vae-siren-digits' is provided by plugin zoo_vae and "
                                                               r"uses components of zoo_siren, zoo_divergences; not "
                                                               r"loaded: zoo_siren, zoo_divergences"):
        registry.get("recipe", "vae-siren-digits")

    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_vae,zoo_divergences")  # a SIREN inside a VAE needs zoo_siren too
    zoo.registry.reset_registry()
    offered = {e.name for e in fresh_registry().list("recipe")}
    assert "vae-digits" in offered and "vae-siren-digits" not in offered
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", "zoo_vae,zoo_divergences,zoo_siren")
    zoo.registry.reset_registry()
    offered = {e.name for e in fresh_registry().list("recipe")}
    assert {"vae-siren-digits", "siren-camera"} <= offered and "gon-siren-digits" not in offered


def test_a_recipe_of_a_broken_plugin_says_so(monkeypatch, fresh_registry):
    from zoo import plugins

    config = dict(plugins.builtin_config())
    config["plugins"] = [*config["plugins"], "zoo_does_not_exist"]
    config["recipes"] = {**config["recipes"], "zoo_does_not_exist": {"lost": {"model": {"name": "lost"}}}}
    monkeypatch.setattr(plugins, "builtin_config", lambda: config)
    monkeypatch.setattr(zoo.registry, "builtin_config", lambda: config)
    monkeypatch.setenv("ZOO_LOAD_PLUGINS", ",".join(config["plugins"]))
    with pytest.raises(zoo.errors.UnknownComponentError, match=r"^recipe 'lost' is provided by plugin "
                                                               r"zoo_does_not_exist; zoo_does_not_exist is broken "
                                                               r"\(ModuleNotFoundError: .*see: zoo plugins --all\)$"):
        fresh_registry().get("recipe", "lost")
