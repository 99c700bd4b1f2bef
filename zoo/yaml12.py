"""YAML for recipes, ``--set`` values and registry.yaml: PyYAML's safe loader with YAML 1.2's core schema.

PyYAML resolves plain scalars by YAML 1.1, where ``3e-4`` and ``1e3`` are strings (a 1.1 float needs a
dot and a signed exponent: ``3.0e-4``), ``yes``/``on``/``no`` are booleans and ``2024-01-01`` is a date.
YAML 1.2's core schema is what people type: ``3e-4``, ``1e3``, ``-1e-5`` and ``.5`` are floats,
``true``/``false`` the only booleans, ``.inf``/``.nan`` the only non-finite floats, and nothing becomes a
date (which JSON, hence checkpoint.json, could not hold). Anything else stays a string.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["safe_load"]

TAG = "tag:yaml.org,2002:"
# (tag, pattern, first characters) of YAML 1.2.2's core schema, section 10.3.2
CORE_SCHEMA = [
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
              r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$", list("-+.0123456789")),
]


class Yaml12Loader(yaml.SafeLoader):
    """``yaml.SafeLoader`` resolving untagged plain scalars by YAML 1.2's core schema."""


# keep 1.1's other resolvers (merge keys ``<<``, ``=``), drop its bool/int/float/null/timestamp rules
Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers
            if tag not in {TAG + name for name in ("bool", "int", "float", "null", "timestamp")}]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _name, _pattern, _first in CORE_SCHEMA:
    Yaml12Loader.add_implicit_resolver(TAG + _name, re.compile(_pattern), _first)


def _construct_int(loader: Yaml12Loader, node: yaml.ScalarNode) -> int:
    """1.2 integers: decimal (``010`` is ten, not 1.1's octal eight), ``0o17`` octal, ``0x1f`` hexadecimal."""
    value = loader.construct_scalar(node)
    bases = {"0o": 8, "0x": 16}
    return int(value[2:], bases[value[:2]]) if value[:2] in bases else int(value, 10)


Yaml12Loader.add_constructor(TAG + "int", _construct_int)


def safe_load(text: str) -> Any:
    """Plain data (dicts, lists, str, int, float, bool, None) from YAML text; nothing in it executes."""
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 (a SafeLoader subclass)
