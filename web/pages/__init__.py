"""The pages, one module each, named after what the officer does there; `routes()` collects them all.

A page module defines `routes`, an aiohttp RouteTableDef whose routes carry names (templates link by
name); adding a module here is all it takes to add its pages.
"""

from __future__ import annotations

import importlib
import pkgutil

from aiohttp import web


def routes() -> list[web.AbstractRouteDef]:
    """Every page module's routes, for `create_ui_app`."""
    found: list[web.AbstractRouteDef] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        table = getattr(module, "routes", None)
        if isinstance(table, web.RouteTableDef):
            found.extend(table)
    return found
