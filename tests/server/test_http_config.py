"""``http_config`` sets the server process's GIL switch interval from ``MCP_SWITCH_INTERVAL_MS``."""

from __future__ import annotations

import sys

from conftest import small_settings
from server.http_server import http_config


def test_the_switch_interval_is_the_settings(tiny_db):
    path, storage = tiny_db
    kept = sys.getswitchinterval()
    try:
        for ms in (0.5, 2.5):
            http_config(small_settings(path, mcp_switch_interval_ms=ms), storage)
            assert abs(sys.getswitchinterval() - ms / 1000) < 1e-9
    finally:
        sys.setswitchinterval(kept)
