"""Report defaults the CLI shows in ``--help``, kept apart so the help imports no plotting."""

from __future__ import annotations

DEFAULT_TOP_K = 4
"""How many of the most important parameters get a marginal-effect plot."""
