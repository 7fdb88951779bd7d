"""Fixtures shared with the registry tests."""

from tests.registry.conftest import uri  # noqa: F401 (a fixture)
