"""Helpers for the red-team suite (Tests/e2e/test_red_team.py): hook and CLI drivers, a raw JSON-RPC
client for the MCP proxy, and hostile MCP servers that run as real processes."""
