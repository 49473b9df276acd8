"""Fixtures for the trust tests: two real nodes on loopback that trust each other."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.node.federation import Federation


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    """Augsburg and Bonn, serving on loopback and paired (modules that need other nodes define their own)."""
    federation = Federation(tmp_path)
    a = await federation.add("augsburg")
    b = await federation.add("bonn")
    federation.pair(a, b)
    yield federation
    await federation.close()
