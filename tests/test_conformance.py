"""Every registered component passes its kind's conformance checks (zoo.testing) — new ones included."""

import pytest

import zoo
from zoo.testing import CHECKS, check_component

ENTRIES = [e for kind in CHECKS for e in zoo.list_components(kind)]


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: f"{e.kind}-{e.name}")
def test_component_conforms(entry):
    check_component(entry.kind, entry.obj)
