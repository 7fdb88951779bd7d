"""Provider fixtures live in tests/tasks/conftest.py (shared with the gateway tests)."""
