"""The two errors every step turns into a one-line message and exit 2 (``ganlee.cli.main``).

They live in their own base module so that every other module can raise them without importing
the configuration or the file helpers (docs/design.md, "Layers").
"""

from __future__ import annotations

__all__ = ["ConfigError", "InputError"]


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


class InputError(RuntimeError):
    """An input file is missing, unreadable or does not hold what the step needs."""
