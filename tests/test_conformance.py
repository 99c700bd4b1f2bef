"""Every registered component passes its kind's conformance checks (zoo.testing) — new ones included."""

from zoo.testing import conformance_test

test_registered_components_conform = conformance_test()
