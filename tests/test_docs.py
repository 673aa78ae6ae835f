"""Docs drift: every setting is documented, and the documented defaults are the real ones."""

from __future__ import annotations

from pathlib import Path

from sql.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _env_example() -> dict[str, str]:
    entries = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            entries[key] = value
    return entries


def test_env_example_lists_every_setting_and_nothing_else():
    assert set(_env_example()) == {name.upper() for name in Settings.model_fields}


def test_env_example_defaults_are_the_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .env here
    for key in _env_example():
        monkeypatch.delenv(key, raising=False)
    defaults = Settings()
    for key, value in _env_example().items():
        monkeypatch.setenv(key, value)
    assert Settings() == defaults


def test_readme_mentions_every_setting_tool_and_view():
    from server.mcp import TOOL_NAMES

    readme = (ROOT / "README.md").read_text()
    for name in [*(n.upper() for n in Settings.model_fields), *TOOL_NAMES,
                 "enriched_market_data", "jump_events", "symbol_metrics", "latest_signals"]:  # fmt: skip
        assert name in readme, f"README.md does not mention {name}"
