"""The curl commands ``demo`` prints, pasted into bash as they are, against a server with ``MCP_AUTH_TOKEN``."""

from __future__ import annotations

import json
import os
import subprocess

from conftest import small_settings
from security.conftest import TOKEN
from server.embedded import curl_examples


def test_the_printed_curl_commands_work_in_bash_with_the_token_set_and_never_show_it(secured_server, tmp_path):
    printed = curl_examples(small_settings(tmp_path / "unused.duckdb", mcp_auth_token=TOKEN), secured_server.url)
    assert TOKEN not in printed
    commands = printed.split("\n\n")
    assert len(commands) == 3
    for command in commands:
        done = subprocess.run(["bash", "-c", command], env={**os.environ, "MCP_AUTH_TOKEN": TOKEN},
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        answer = json.loads(done.stdout)
        assert answer["result"]["isError"] is False, (command, done.stdout[:300])
        without = subprocess.run(["bash", "-c", command], env={k: v for k, v in os.environ.items() if k != "MCP_AUTH_TOKEN"},
                                 capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        assert json.loads(without.stdout)["status"] == 401
