"""Transport tests of the client: HTTP/1.1 over a Unix socket, addresses from the environment, and fail-closed
errors. The peer is a real stdlib HTTP server (on a Unix socket or a loopback port) that answers like the
decision API or misbehaves on purpose; the real `countersign serve` over a socket is tested elsewhere."""

import json
import socket
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from countersign import (ActionBlocked, Countersign, CountersignError, CountersignUnavailable, Gate,
                         default_url)


class Handler(BaseHTTPRequestHandler):
    """Answers according to the server's `mode`; records each request."""

    def do_POST(self):
        self.handle_one()

    def do_GET(self):
        self.handle_one()

    def handle_one(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"method": self.command, "path": self.path, "body": body,
                                 "authorization": self.headers.get("Authorization"), "host": self.headers.get("Host")})
        mode = self.server.mode
        if mode == "slow":
            time.sleep(2)
        status, payload = {
            "allow": (200, {"decision_id": "dec_1", "status": "allowed", "decision": "allow", "rule": "r"}),
            "deny": (200, {"decision_id": "dec_2", "status": "denied", "decision": "deny", "rule": "no_rm",
                           "reason": "Recursive deletes are denied."}),
            "not-json": (200, b"<html>proxy login</html>"),
            "array": (200, [1, 2]),
            "not-a-decision": (200, {"status": "maybe"}),
            "5xx": (503, {"error": "ledger unavailable"}),
            "4xx": (400, {"error": "unknown field"}),
            "slow": (200, {"decision_id": "dec_3", "status": "allowed"}),
        }[mode]
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args):
        pass


class UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        request, _ = super().get_request()
        return request, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port) client address


def serve(server, mode):
    server.mode, server.seen = mode, []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def unix_server(tmp_path):
    path = str(tmp_path / "countersign.sock")
    server = serve(UnixHTTPServer(path, Handler), "allow")
    server.path = path
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def tcp_server():
    server = serve(HTTPServer(("127.0.0.1", 0), Handler), "allow")
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


ACTION = {"actor": "a", "surface": "shell", "tool": "shell.exec", "intent": "execute", "args": {"command": "ls"}}


def test_http_over_a_unix_socket(unix_server):
    for address in (f"unix://{unix_server.path}", unix_server.path):
        decision = Countersign(address, token="agent-token-0123456789").decide(ACTION)
        assert decision["status"] == "allowed"
    request = unix_server.seen[-1]
    assert request["method"] == "POST" and request["path"] == "/v1/decide"
    assert json.loads(request["body"]) == {"action": ACTION, "wait": 0}
    assert request["authorization"] == "Bearer agent-token-0123456789" and request["host"] == "localhost"


def test_the_environment_names_the_server_and_the_token(unix_server, tcp_server, monkeypatch):
    monkeypatch.delenv("COUNTERSIGN_SIGNER", raising=False)
    monkeypatch.setenv("COUNTERSIGN_URL", tcp_server.url)
    monkeypatch.setenv("COUNTERSIGN_TOKEN", "from-the-environment-0123")
    assert default_url() == tcp_server.url
    assert Countersign().decide(ACTION)["status"] == "allowed"
    assert tcp_server.seen[-1]["authorization"] == "Bearer from-the-environment-0123"
    monkeypatch.setenv("COUNTERSIGN_SIGNER", f"unix://{unix_server.path}")  # the signer service wins
    assert Countersign().decide(ACTION)["status"] == "allowed" and len(unix_server.seen) == 1
    monkeypatch.delenv("COUNTERSIGN_SIGNER")
    monkeypatch.delenv("COUNTERSIGN_URL")
    assert default_url() == "http://127.0.0.1:8787"


@pytest.mark.parametrize("mode,status", [("not-json", 200), ("array", 200), ("not-a-decision", 200), ("5xx", 503)])
def test_malformed_answers_and_server_errors_are_unavailable(tcp_server, mode, status):
    tcp_server.mode = mode
    with pytest.raises(CountersignUnavailable) as error:
        Countersign(tcp_server.url).decide(ACTION)
    assert error.value.status == status


def test_a_refused_request_is_an_error_but_not_unavailable(tcp_server):
    tcp_server.mode = "4xx"
    with pytest.raises(CountersignError) as error:
        Countersign(tcp_server.url).decide(ACTION)
    assert not isinstance(error.value, CountersignUnavailable)
    assert (error.value.status, error.value.message) == (400, "unknown field")


def test_down_and_slow_servers_are_unavailable(tmp_path, tcp_server):
    with pytest.raises(CountersignUnavailable, match="cannot reach"):
        Countersign(f"unix://{tmp_path}/nobody-listens.sock").decide(ACTION)
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    with pytest.raises(CountersignUnavailable, match="cannot reach"):
        Countersign(f"http://127.0.0.1:{port}").decide(ACTION)
    tcp_server.mode = "slow"
    with pytest.raises(CountersignUnavailable, match="timed out"):
        Countersign(tcp_server.url, timeout=0.3).decide(ACTION)


@pytest.mark.parametrize("address", ["", "ftp://example.com", "unix://relative.sock", "http://", "not a url"])
def test_addresses_that_are_not_servers_are_refused(address):
    with pytest.raises(ValueError):
        Countersign(address or " ")


def test_the_gate_runs_nothing_unless_allowed(tcp_server):
    ran = []
    gate = Gate(url=tcp_server.url, session_id="s1")
    tcp_server.mode = "deny"
    with pytest.raises(ActionBlocked) as blocked:
        gate.run(gate.envelope("shell", "shell.exec", "execute", args={"command": "rm -rf /"}), ran.append, 1)
    assert ran == [] and blocked.value.rule == "no_rm"
    assert str(blocked.value) == "Countersign blocked shell.exec: deny by rule no_rm: Recursive deletes are denied."
    tcp_server.mode = "5xx"
    with pytest.raises(CountersignUnavailable):
        gate.run(gate.envelope("shell", "shell.exec", "execute", args={"command": "ls"}), ran.append, 2)
    assert ran == []
    sent = json.loads(tcp_server.seen[0]["body"])["action"]
    assert sent["session_id"] == "s1" and sent["actor"] == "agent"
