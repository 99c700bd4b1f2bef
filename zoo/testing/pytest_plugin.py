"""``pytest --zoo-conformance[=PLUGIN]``: the conformance suite as pytest items.

genzoo declares ``zoo.testing`` in the ``pytest11`` entry-point group, so wherever genzoo is installed
pytest knows the option (elsewhere: ``pytest -p zoo.testing``). With it, one test item per registered
component, dtype and device (``zoo-conformance::field-siren-float64-cpu``) runs beside the tests pytest
collected; ``=PLUGIN`` (an entry-point or a distribution name) keeps one plugin's components. A failure
prints the check's message, which says what was wrong and what to do, instead of a traceback.

pytest itself is imported only when pytest runs these hooks: ``zoo.testing`` (whose checks the kinds
name when they register) imports without it, as genzoo runs without its test extras.
"""

from __future__ import annotations

import functools
import traceback

import pluggy

__all__ = ["pytest_addoption", "pytest_collection_modifyitems"]

ALL = "*"
pytest_hookimpl = pluggy.HookimplMarker("pytest")  # what pytest.hookimpl is, without importing pytest


def pytest_addoption(parser) -> None:
    parser.getgroup("zoo", "genzoo").addoption(
        "--zoo-conformance",
        nargs="?",
        const=ALL,
        default=None,
        metavar="PLUGIN",
        help="run genzoo's conformance checks over every installed component, or with "
        "--zoo-conformance=PLUGIN (an entry-point or distribution name) over one plugin's",
    )


@functools.cache
def _item_class() -> type:
    """``ConformanceItem``: one conformance case (``zoo.testing.conformance.Case``) as a pytest item."""
    import pytest

    from zoo.testing.conformance import ConformanceError

    class ConformanceItem(pytest.Item):
        def __init__(self, *, case, **kwargs):
            super().__init__(**kwargs)
            self.case = case

        def runtest(self) -> None:
            self.case.run()

        def repr_failure(self, excinfo, style=None):
            if not isinstance(excinfo.value, ConformanceError):
                return super().repr_failure(excinfo, style=style)
            cause = excinfo.value.__cause__
            if cause is None:  # the component broke the contract: the message is the whole story
                return str(excinfo.value)
            # the component raised: its own traceback is what its author needs
            return f"{excinfo.value}\n\n{''.join(traceback.format_exception(cause))}"

        def reportinfo(self):
            return self.path, None, f"zoo conformance: {self.case.label}"

    return ConformanceItem


@pytest_hookimpl(tryfirst=True)  # before -k / -m deselect, so they apply to these items too
def pytest_collection_modifyitems(session, config, items: list) -> None:
    selected = config.getoption("zoo_conformance", None)
    if selected is None:
        return
    import pytest

    from zoo.errors import ZooError
    from zoo.testing.conformance import conformance_cases

    try:
        cases = conformance_cases(None if selected == ALL else selected)
    except ZooError as exc:
        raise pytest.UsageError(f"--zoo-conformance: {exc}") from None
    items.extend(
        _item_class().from_parent(session, name=case.id, nodeid=f"zoo-conformance::{case.id}", case=case)
        for case in cases
    )
