"""docker-compose.yml checked statically (no Docker engine here): the DuckDB profile runs a real sub-command
with real roles and real settings, and the README's compose command names it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from server.cli import _parser
from server.embedded import check_roles
from sql.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_readme_compose_command_starts_the_duckdb_profile_service():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^docker compose --profile duckdb up (\S+)$", readme, re.M)
    assert commands, "README does not document `docker compose --profile duckdb up <service>`"
    services = _compose()["services"]
    for name in commands:
        assert "duckdb" in services[name].get("profiles", []), name


def test_the_duckdb_service_runs_up_with_real_roles_and_real_settings():
    compose = _compose()
    services = compose["services"]
    profiled = [name for name, service in services.items() if "duckdb" in service.get("profiles", [])]
    assert profiled == ["embedded"]
    service = services["embedded"]
    args = _parser().parse_args(service["command"])  # exits (SystemExit) on an unknown command or option
    assert args.command == "up"
    environment = service["environment"]
    assert {key.lower() for key in environment} <= set(Settings.model_fields), environment
    settings = Settings(**{key.lower(): value for key, value in environment.items()})
    assert settings.db_backend == "duckdb" and settings.kafka_bootstrap_servers == "kafka:9092"
    roles = check_roles(settings, args.roles.split(","), simulate=args.simulate)
    assert roles == {"stream", "load", "transform", "serve"}
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy" and "kafka" in services
    assert settings.mcp_host == "0.0.0.0" and f"127.0.0.1:{settings.mcp_port}:{settings.mcp_port}" in service["ports"]
    volume = next(v.split(":")[0] for v in service["volumes"] if v.endswith(":/data"))
    assert volume in compose["volumes"] and str(settings.duckdb_path).startswith("/data/")
