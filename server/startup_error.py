"""The exception a process raises when it cannot start, in a module of its own so the command line can catch it
without importing the server's HTTP and MCP stack (``transform`` and ``sql`` never load it)."""

from __future__ import annotations

__all__ = ["StartupError"]


class StartupError(RuntimeError):
    """The process cannot start: a setting is missing or the HTTP port is taken (the message says which)."""
