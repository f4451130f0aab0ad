"""pytest settings for the notebooks under nbval (``pytest notebooks --nbval-lax``)."""

from __future__ import annotations

#: Seconds nbval waits for a cell's output messages after the kernel has replied. nbval fixes this at 5 s,
#: which a loaded 2-core CI machine has exceeded while a cell's last output was still queued (the cell had
#: finished); the cell itself is limited by ``--nbval-cell-timeout`` as before.
OUTPUT_TIMEOUT = 120


def pytest_collection_modifyitems(items) -> None:
    """Give every nbval cell the longer output timeout."""
    for item in items:
        if hasattr(item, "output_timeout"):
            item.output_timeout = OUTPUT_TIMEOUT
