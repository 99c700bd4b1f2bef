"""The core names no paper: nothing in zoo/ imports a plugin, names a paper's metric, option or data type, or
reads a model's sampling options from its signature. Docstrings and comments may mention them.

The only exceptions are the aliases of what moved into a plugin, which import it by name when touched and go
in 0.3 (zoo/_aliases.py): each of them is listed here with what it may name, and still works."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest

from zoo.plugins import builtin_config

CORE = Path(__file__).parents[1] / "zoo"
PAPER_WORDS = re.compile(r"kl_layer|ViewDataset|ViewRenderer|\bCamera\b|temperature")
PLUGINS = [name for name in builtin_config()["plugins"] if not name.startswith("zoo.")]
PLUGIN_MODULE = re.compile(rf"^({'|'.join(PLUGINS)})(\.|$)")
#: file -> the old names it keeps alive until 0.3 (the plugin modules they live in are named there as strings)
ALIASES = {
    "cameras.py": ("zoo.cameras", ["Camera", "ViewRenderer", "intrinsics_from_fov", "look_at", "orbit",
                                   "pixel_centres", "pixel_rays"]),
    "data/scenes.py": ("zoo.data.scenes", ["BACKGROUNDS", "ProceduralScene", "ViewDataset", "blender_scene",
                                          "procedural_scene"]),
    "interfaces.py": ("zoo.interfaces", ["ViewRenderer", "Camera"]),
    "data/__init__.py": ("zoo.data", ["ViewDataset", "blender_scene", "procedural_scene"]),
    "training/api.py": ("zoo.training.api", ["render_views"]),
}


def _docstrings(tree: ast.AST) -> set[int]:
    """The ids of the string constants that are docstrings (of the module, classes and functions)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _words(path: Path) -> list[tuple[int, str]]:
    """``(line, text)`` of every name, attribute, import, argument and non-docstring string in the file's code."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append((node.lineno, node.id))
        elif isinstance(node, ast.Attribute):
            words.append((node.lineno, node.attr))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            words.append((node.lineno, node.name))
        elif isinstance(node, ast.arg):
            words.append((node.lineno, node.arg))
        elif isinstance(node, ast.alias):
            words.append((node.lineno, node.name))
        elif isinstance(node, ast.ImportFrom):
            words.append((node.lineno, node.module or ""))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            words.append((node.lineno, node.value))
    return words


FILES = sorted(p.relative_to(CORE).as_posix() for p in CORE.rglob("*.py"))


@pytest.mark.parametrize("name", FILES)
def test_core_code_names_no_paper_and_imports_no_plugin(name):
    allowed = ALIASES.get(name, (None, []))[1]
    words = _words(CORE / name)
    imports = [(line, word) for line, word in words if PLUGIN_MODULE.match(word)]
    papers = [(line, word) for line, word in words
              if PAPER_WORDS.search(word) and word not in allowed and not PLUGIN_MODULE.match(word)]
    if name not in ALIASES:
        assert not imports, f"zoo/{name} names plugin modules: {imports}"
    else:  # an alias names the plugin module its names moved to, and nothing else of a plugin
        assert all(re.fullmatch(r"zoo_\w+(\.\w+)*", word) for _, word in imports), imports
    assert not papers, f"zoo/{name} names a paper's metric, option or data type in code: {papers}"


def test_no_core_code_reads_a_model_s_signature_for_its_options():
    for name in FILES:
        for node in ast.walk(ast.parse((CORE / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "signature":
                for arg in node.args:
                    assert not (isinstance(arg, ast.Attribute) and arg.attr in ("sample", "render", "reconstruct")), \
                        f"zoo/{name}:{node.lineno} probes {ast.unparse(arg)}'s signature"


@pytest.mark.parametrize("name", sorted(ALIASES))
def test_each_alias_still_works_and_names_its_new_home(name):
    import importlib

    module_name, names = ALIASES[name]
    module = importlib.import_module(module_name)
    for old in names:
        says = rf"{re.escape(module_name)}\.{old} moved to (zoo_nerf\.\w+)\.{old}: import it from there \(the old path "
        with pytest.warns(DeprecationWarning, match=says + r"goes in genzoo 0\.3\)") as w:
            value = getattr(module, old)
        new = importlib.import_module(re.search(r"moved to (zoo_nerf\.\w+)\.", str(w[0].message)).group(1))
        assert value is getattr(new, old)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a name that did not move is not an alias: no warning, an AttributeError
        with pytest.raises(AttributeError):
            module.no_such_name  # noqa: B018


def test_the_old_from_imports_work():
    with pytest.warns(DeprecationWarning, match="zoo_nerf.cameras.Camera"):
        from zoo.cameras import Camera
    with pytest.warns(DeprecationWarning, match="zoo_nerf.cameras.ViewRenderer"):
        from zoo.interfaces import ViewRenderer
    with pytest.warns(DeprecationWarning, match="zoo_nerf.scenes.ViewDataset"):
        from zoo.data.scenes import ViewDataset  # noqa: F401 (the alias itself is under test)
    from zoo_nerf.cameras import Camera as NewCamera
    from zoo_nerf.model import NeRF

    assert Camera is NewCamera and issubclass(NeRF, ViewRenderer) and "views" in NeRF.data_kinds
