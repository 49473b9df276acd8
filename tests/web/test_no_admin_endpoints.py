"""Issue 13: metrics and health are never served on the officers' web interface (only on [admin] listen)."""

from __future__ import annotations

import pytest

from node.ops.admin import create_admin_app
from tests.web.conftest import Ui


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz"])
async def test_the_web_interface_serves_no_metrics_and_no_health(ui: Ui, path: str) -> None:
    create_admin_app(ui.node)  # counting the node's events adds nothing to its web interface
    anonymous = await ui.client.get(path, allow_redirects=False)
    assert anonymous.status == 303  # to the login, as for any page
    await ui.login("ada")  # even the node's admin finds nothing there
    response = await ui.client.get(path)
    assert response.status == 404
    assert "praevnet_" not in await response.text()
