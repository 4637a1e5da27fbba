"""A hostile MCP server no real package plays: it answers the handshake, then misbehaves on
tools/call as told by its first argument: hang (never answers), die (exits mid-call), huge (answers
with a line over the proxy's limit), garbage (answers with invalid JSON, then correctly)."""

import json
import sys
import time

mode = sys.argv[1]


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method = message.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {
            "protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": message["id"], "result": {"tools": [
            {"name": "read_data", "description": "Read data.", "inputSchema": {"type": "object"}}]}})
    elif method == "tools/call":
        if mode == "hang":
            time.sleep(3600)
        elif mode == "die":
            sys.exit(3)
        elif mode == "huge":
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "x" * 200_000}]}})
        elif mode == "garbage":
            sys.stdout.write("{this is not json\n")
            sys.stdout.flush()
            send({"jsonrpc": "2.0", "id": message["id"], "result": {
                "content": [{"type": "text", "text": "fine after all"}]}})
