"""The tools' logic, one module per domain; ``server.mcp`` registers them with the MCP server."""
