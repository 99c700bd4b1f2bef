"""YAML for recipes, ``--set`` values and registry.yaml: PyYAML's safe loader with YAML 1.2's core schema.

PyYAML resolves plain scalars by YAML 1.1, where ``3e-4`` and ``1e3`` are strings (a 1.1 float needs a
dot and a signed exponent: ``3.0e-4``), ``yes``/``on``/``no`` are booleans and ``2024-01-01`` is a date.
YAML 1.2's core schema is what people type: ``3e-4``, ``1e3``, ``-1e-5`` and ``.5`` are floats,
``true``/``false`` the only booleans, ``.inf``/``.nan`` the only non-finite floats, and nothing becomes a
date (which JSON, hence checkpoint.json, could not hold). Anything else stays a string.

A recipe file is untrusted input, so what the safe loader would still accept is refused, each as one
line with its line number (``YamlError``):

- a key stated twice in one mapping (``train: {steps: 2, steps: 3}``: YAML says keys are unique, PyYAML
  keeps the last); keys merged in with ``<<: *defaults`` may be overridden, as YAML intends;
- a tag outside the core schema (``!!binary``, ``!!set``, ``!!timestamp``, ``!!python/...``, ``!local``):
  a recipe holds null, booleans, numbers, strings, lists and mappings, nothing else;
- aliases that expand the document past ``MAX_VALUES`` values (the "billion laughs": nine aliases of nine
  aliases of ... is nine to the n values, which every later walk of the recipe would visit), an alias
  inside the node it names (a recursive document), and nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable
from typing import Any

import yaml

__all__ = ["MAX_DEPTH", "MAX_VALUES", "YamlError", "safe_load"]

TAG = "tag:yaml.org,2002:"
# (tag, pattern, first characters) of YAML 1.2.2's core schema, section 10.3.2
CORE_SCHEMA = [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]
CORE_TAGS = ("null", "bool", "int", "float", "str", "seq", "map")
MAX_VALUES = 100_000  # a document's values, counted as if every alias were written out
MAX_DEPTH = 64  # lists and mappings inside each other (a recipe needs six or seven)


class YamlError(yaml.YAMLError):
    """YAML a recipe may not hold, or YAML that does not parse: one line, starting with the line number."""


def _line(node_or_mark: Any) -> int:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    return mark.line + 1


def _place(node: yaml.Node) -> str:
    return f"line {node.start_mark.line + 1}, column {node.start_mark.column + 1}"


def _tag_name(tag: str) -> str:
    return "!!" + tag[len(TAG):] if tag.startswith(TAG) else tag


class Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` resolving untagged plain scalars by YAML 1.2's core schema, refusing what the
    module docstring lists."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):  # remembered to name them if they expand too far
            event = self.peek_event()
            self.aliases_used = [*getattr(self, "aliases_used", []), event.anchor]
        return super().compose_node(parent, index)

    def construct_document(self, node: yaml.Node) -> Any:
        _check_expansion(node, Counter(getattr(self, "aliases_used", [])))
        return super().construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        if isinstance(node, yaml.MappingNode):
            first_seen: dict[Any, str] = {}
            for key_node, _ in node.value:
                if key_node.tag == TAG + "merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # SafeConstructor refuses it below
                if key in first_seen:
                    raise YamlError(f"{_place(key_node)}: the key {key!r} is stated twice in one mapping "
                                    f"(first at {first_seen[key]}); keep one")
                first_seen[key] = _place(key_node)
        return super().construct_mapping(node, deep=deep)

    def construct_undefined(self, node: yaml.Node) -> Any:
        raise YamlError(f"line {_line(node)}: the tag {_tag_name(node.tag)} is not in YAML's core schema; a recipe "
                        f"holds plain values (null, booleans, numbers, strings, lists, mappings): remove the tag")


def _check_expansion(root: yaml.Node, aliases: Counter) -> None:
    """Refuse a node graph that is recursive, nested deeper than MAX_DEPTH or expands past MAX_VALUES."""
    sizes: dict[int, int] = {}  # id(node) -> values it expands to (each node counted once, however often aliased)
    open_nodes: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise YamlError(f"line {_line(node)}: an alias refers to a list or mapping that contains it (a "
                            "recursive document); write the values out")
        if depth > MAX_DEPTH:
            raise YamlError(f"line {_line(node)}: lists and mappings nested more than {MAX_DEPTH} deep")
        open_nodes.add(id(node))
        children = node.value if isinstance(node, yaml.SequenceNode) else (
            [part for pair in node.value for part in pair] if isinstance(node, yaml.MappingNode) else [])
        total = 1 + sum(size(child, depth + 1) for child in children)
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    total = size(root, 0)
    if total > MAX_VALUES:
        named = ", ".join(f"*{anchor} {count} time{'s' * (count > 1)}" for anchor, count in aliases.items())
        raise YamlError(f"aliases ({named}) expand this document to {total:,} values, more than the "
                        f"{MAX_VALUES:,} a recipe may hold: write the values out, or use fewer aliases")


# keep 1.1's other resolvers (merge keys ``<<``, ``=``), drop its bool/int/float/null/timestamp rules
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers
            if tag not in {TAG + name for name in ("bool", "int", "float", "null", "timestamp")}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _name, _pattern, _first in CORE_SCHEMA:
    Yaml12Loader.add_implicit_resolver(TAG + _name, re.compile(_pattern), _first)
# the core schema's tags only: !!binary, !!set, !!omap, !!pairs and !!timestamp go to construct_undefined
Yaml12Loader.yaml_constructors = {tag: constructor for tag, constructor in yaml.SafeLoader.yaml_constructors.items()
                                  if tag in {TAG + name for name in CORE_TAGS}}
Yaml12Loader.add_constructor(None, Yaml12Loader.construct_undefined)


def _construct_int(loader: Yaml12Loader, node: yaml.ScalarNode) -> int:
    """1.2 integers: decimal (``010`` is ten, not 1.1's octal eight), ``0o17`` octal, ``0x1f`` hexadecimal."""
    value = loader.construct_scalar(node)
    bases = {"0o": 8, "0x": 16}
    return int(value[2:], bases[value[:2]]) if value[:2] in bases else int(value, 10)


Yaml12Loader.add_constructor(TAG + "int", _construct_int)


def safe_load(text: str) -> Any:
    """Plain data (dicts, lists, str, int, float, bool, None) from YAML text; nothing in it executes.

    Raises ``YamlError`` (a ``yaml.YAMLError``), one line starting with the line number, for text that does
    not parse and for what the module docstring lists.
    """
    try:
        return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        raise YamlError(f"{where}not valid YAML: {exc.problem or exc.context}{context}") from None
    except RecursionError:  # PyYAML composes nested nodes recursively
        raise YamlError("lists and mappings nested too deep for the YAML reader") from None
