"""The signer service with real OS users: `countersign serve --socket` runs as its own user, an agent user in
the agent group reaches it only through the socket, an outsider cannot connect at all.

Needs root (it creates users and groups with useradd/groupadd and removes them at the end, even when a test
fails). Everything lives under one temporary base directory (mode 0755, so the other users can traverse it),
with the binaries copied into base/bin: the build directory need not be readable by those users.

The set-up prefers `countersign system install --no-systemd` (its own test checks what it creates); while
that command is missing from the binary, the same layout is made by hand so that the other tests still run.
"""

import json
import os
import pwd
import grp
import re
import secrets
import select
import shutil
import signal
import stat
import subprocess
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign")))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("useradd"),
    reason="creates real OS users and runs the signer as one of them: needs root and useradd/groupadd")

AGENTS = 4
CALLS_PER_AGENT = 500


def pre_tool_use(command, session="sess-a", tool_use_id="toolu_01", cwd="/tmp"):
    return {"session_id": session, "transcript_path": f"/tmp/.claude/projects/demo/{session}.jsonl", "cwd": cwd,
            "permission_mode": "default", "hook_event_name": "PreToolUse", "tool_name": "Bash",
            "tool_input": {"command": command, "description": "Run a command"}, "tool_use_id": tool_use_id}


def post_tool_use(command, session="sess-a", tool_use_id="toolu_01", cwd="/tmp"):
    return {**pre_tool_use(command, session, tool_use_id, cwd), "hook_event_name": "PostToolUse",
            "tool_response": {"stdout": "README.md\nSources\n", "stderr": "", "interrupted": False,
                              "isImage": False}}


def has_subcommand(name):
    """Whether `countersign --help` lists this subcommand (an unknown one just prints the top-level help)."""
    out = subprocess.run([str(BIN), "--help"], capture_output=True, text=True)
    return re.search(rf"^\s+{re.escape(name)}\s", out.stdout, re.MULTILINE) is not None


def run_quiet(*args):
    return subprocess.run(list(args), capture_output=True, text=True)


class Deployment:
    """Users, groups, the directory layout, and the service process (started as the service user)."""

    def __init__(self):
        suffix = secrets.token_hex(2)
        self.service_user = f"cs-sig-{suffix}"
        self.agent_user = f"cs-agt-{suffix}"
        self.outsider_user = f"cs-out-{suffix}"
        self.agent_group = f"cs-agents-{suffix}"
        self.created_users, self.created_groups = [], []
        self.base = Path(tempfile.mkdtemp(prefix="countersign-signer-"))
        os.chmod(self.base, 0o755)
        self.bin = self.base / "bin"
        self.state = self.base / "state"
        self.config = self.base / "etc"
        self.run_dir = self.base / "run"
        self.socket = self.run_dir / "countersign.sock"
        self.address = f"unix:{self.socket}"
        self.ledger = self.state / "ledger.sqlite"
        self.logs = self.base / "logs"
        self.process = None
        self.installed_with = None  # "system install" or "by hand"
        self.install_output = None
        self.uninstalled = False

    # -- set-up and teardown

    def set_up(self):
        self.bin.mkdir(mode=0o755)
        for name in ("countersign", "countersign-hook-client"):
            shutil.copy2(BIN.parent / name, self.bin / name)
            os.chmod(self.bin / name, 0o755)
        self.logs.mkdir(mode=0o755)
        home = self.base / "home"
        home.mkdir(mode=0o755)
        self._groupadd(self.agent_group)
        self._useradd(self.agent_user, "-m", "-d", str(home / self.agent_user), "-G", self.agent_group)
        self._useradd(self.outsider_user, "-m", "-d", str(home / self.outsider_user))
        if has_subcommand("system"):
            self._system_install()
        else:
            self._install_by_hand()
        self.service_uid = pwd.getpwnam(self.service_user).pw_uid
        self.service_gid = pwd.getpwnam(self.service_user).pw_gid
        self.agent_uid = pwd.getpwnam(self.agent_user).pw_uid
        self.agent_gid = pwd.getpwnam(self.agent_user).pw_gid
        self.outsider_uid = pwd.getpwnam(self.outsider_user).pw_uid
        self.agent_group_gid = grp.getgrnam(self.agent_group).gr_gid

    def _groupadd(self, name):
        out = run_quiet("groupadd", name)
        assert out.returncode == 0, out.stderr
        self.created_groups.append(name)

    def _useradd(self, name, *options):
        out = run_quiet("useradd", "-s", "/usr/sbin/nologin", *options, name)
        assert out.returncode == 0, out.stderr
        self.created_users.append(name)

    def _system_install(self):
        self.installed_with = "system install"
        # The service user and its group are the command's to create.
        self.created_users.append(self.service_user)
        self.created_groups.append(self.service_user)
        out = run_quiet(*self.system_command("install", "--no-systemd"))
        self.install_output = out
        assert out.returncode == 0, f"countersign system install failed:\n{out.stdout}\n{out.stderr}"

    def system_command(self, action, *options):
        return [str(self.bin / "countersign"), "system", action, *options, "--user", self.service_user,
                "--group", self.service_user, "--agent-group", self.agent_group, "--state-dir", str(self.state),
                "--config-dir", str(self.config), "--socket", str(self.socket)]

    def _install_by_hand(self):
        """What `countersign system install --no-systemd` is to do, while the command is missing."""
        self.installed_with = "by hand"
        self._useradd(self.service_user, "-r", "-U", "-M", "-d", str(self.state), "-G", self.agent_group)
        self.created_groups.append(self.service_user)
        uid = pwd.getpwnam(self.service_user).pw_uid
        gid = pwd.getpwnam(self.service_user).pw_gid
        # The state directory: the service's alone.
        self.state.mkdir(mode=0o700)
        os.chown(self.state, uid, gid)
        # The policy: the starter policy of `countersign init`, owned by root, readable by the service.
        scratch = self.base / "scratch"
        out = subprocess.run([str(self.bin / "countersign"), "init"], capture_output=True, text=True, cwd=self.base,
                             env={**os.environ, "COUNTERSIGN_HOME": str(scratch / "home"),
                                  "XDG_CONFIG_HOME": str(scratch / "config")})
        assert out.returncode == 0, out.stderr
        self.config.mkdir(mode=0o755)
        shutil.copy(scratch / "home" / "policy.yaml", self.config / "policy.yaml")
        os.chmod(self.config / "policy.yaml", 0o644)
        shutil.rmtree(scratch)
        # The socket's directory: the service's; others may only traverse it (0751, as in the unit).
        self.run_dir.mkdir()
        os.chown(self.run_dir, uid, gid)
        os.chmod(self.run_dir, 0o751)

    def tear_down(self):
        self.stop()
        if self.installed_with == "system install" and not self.uninstalled:
            run_quiet(*self.system_command("uninstall", "--purge"))
        for user in reversed(self.created_users):
            if _exists(pwd.getpwnam, user):
                out = run_quiet("userdel", user)
                if out.returncode != 0:
                    print(f"userdel {user}: {out.stderr}")
        for group in reversed(self.created_groups):
            if _exists(grp.getgrnam, group):
                run_quiet("groupdel", group)
        shutil.rmtree(self.base, ignore_errors=True)

    # -- the service

    def service_env(self):
        return {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": str(self.state), "LANG": "C.UTF-8",
                "COUNTERSIGN_HOME": str(self.state), "XDG_CONFIG_HOME": str(self.state / "config")}

    def start(self):
        assert self.process is None or self.process.poll() is not None, "already running"
        stdout = open(self.logs / "serve.out", "a")
        stderr = open(self.logs / "serve.err", "a")
        start_size = (self.logs / "serve.out").stat().st_size
        env_args = [f"{k}={v}" for k, v in self.service_env().items()]
        # As the systemd unit runs it: its own user and group with its supplementary groups (the agent group,
        # which it needs to give the socket that group), umask 0077.
        self.process = subprocess.Popen(
            ["setpriv", f"--reuid={self.service_user}", f"--regid={self.service_user}", "--init-groups", "--",
             "env", "-i", *env_args, str(self.bin / "countersign"), "serve", "--socket", str(self.socket),
             "--socket-group", self.agent_group, "--policy", str(self.config / "policy.yaml"),
             "--ledger", str(self.ledger), "--sessions", str(self.state / "sessions.sqlite")],
            stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL, cwd=self.state, umask=0o077)
        stdout.close()
        stderr.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            text = (self.logs / "serve.out").read_text()[start_size:]
            if f"listening on unix:{self.socket}" in text:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"the service did not start (exit {self.process.poll()}):\n"
                             f"{(self.logs / 'serve.out').read_text()}\n{(self.logs / 'serve.err').read_text()}")

    def stop(self):
        if self.process is None or self.process.poll() is not None:
            return None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError("the service did not stop within 30 s of SIGTERM")

    def ensure_running(self):
        if self.process is None or self.process.poll() is not None:
            self.start()

    # -- acting as one of the users

    def as_user(self, user, args, stdin=None, timeout=60, env=None):
        entry = pwd.getpwnam(user)
        groups = [g.gr_gid for g in grp.getgrall() if user in g.gr_mem]
        return subprocess.run(
            args, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=self.base,
            user=entry.pw_uid, group=entry.pw_gid, extra_groups=groups,
            env=env or {"PATH": f"{self.bin}:/usr/bin:/bin", "HOME": entry.pw_dir, "LANG": "C.UTF-8"})

    def hook_client(self, user, payload, agent="claude-code"):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return self.as_user(user, [str(self.bin / "countersign-hook-client"), agent, "--signer", self.address],
                            stdin=body)

    def service_cli(self, *args):
        return self.as_user(self.service_user, [str(self.bin / "countersign"), *args], env=self.service_env())

    def receipts(self):
        out = self.service_cli("receipts", str(self.ledger), "--format", "jsonl")
        assert out.returncode == 0, out.stderr
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def verify(self):
        out = self.service_cli("verify", str(self.ledger), "--format", "json")
        return out.returncode, out.stdout, out.stderr


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


@pytest.fixture(scope="module")
def deployment():
    deployed = Deployment()
    try:
        deployed.set_up()
        deployed.start()
        yield deployed
    finally:
        deployed.tear_down()


def decision_of(result):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout)["hookSpecificOutput"]["permissionDecision"]


# -- set-up

def test_system_install_creates_the_users_the_state_the_policy_and_the_socket_directory(deployment):
    assert deployment.installed_with == "system install", (
        "`countersign system install` is missing from this binary: the deployment was set up by hand "
        f"(`{BIN} --help` lists no `system` subcommand)")
    out = deployment.install_output
    said = out.stdout + out.stderr
    state = deployment.state.stat()
    assert stat.S_IMODE(state.st_mode) == 0o700, oct(state.st_mode)
    assert state.st_uid == deployment.service_uid
    # The service's own group, and membership of the agent group (to give the socket that group).
    assert grp.getgrgid(deployment.service_gid).gr_name == deployment.service_user
    assert deployment.service_user in grp.getgrnam(deployment.agent_group).gr_mem
    assert deployment.agent_user in grp.getgrnam(deployment.agent_group).gr_mem
    policy = deployment.config / "policy.yaml"
    assert policy.is_file(), said
    # The service reads its policy but cannot change it.
    assert policy.stat().st_uid == 0 and not policy.stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    readable = deployment.as_user(deployment.service_user, ["/bin/cat", str(policy)])
    assert readable.returncode == 0, readable.stderr
    assert deployment.socket.parent.is_dir() and deployment.socket.parent.stat().st_uid == deployment.service_uid
    # No systemd unit (--no-systemd), so it says how to start the service by hand.
    assert f"serve --socket {deployment.socket} --socket-group {deployment.agent_group}" in said, said
    # Installing again changes nothing.
    modes = {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid)
             for p in (deployment.state, deployment.config, policy, deployment.socket.parent)}
    policy_text = policy.read_bytes()
    again = run_quiet(*deployment.system_command("install", "--no-systemd"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert {p: (p.stat().st_mode, p.stat().st_uid, p.stat().st_gid) for p in modes} == modes
    assert policy.read_bytes() == policy_text


def test_the_installed_policy_is_not_readable_by_the_agents_as_system_install_says(deployment):
    """`system install` reports the policy as "root-owned, mode 0640: the service reads it, agents cannot"."""
    if deployment.installed_with != "system install":
        pytest.fail("`countersign system install` is missing from this binary")
    said = deployment.install_output.stdout
    assert "agents cannot" in said, said
    policy = deployment.config / "policy.yaml"
    out = deployment.as_user(deployment.agent_user, ["/bin/cat", str(policy)])
    assert out.returncode != 0, (
        f"the agent user {deployment.agent_user} read {policy} "
        f"(mode {oct(stat.S_IMODE(policy.stat().st_mode))}, group {grp.getgrgid(policy.stat().st_gid).gr_name}); "
        f"system install said: {[line for line in said.splitlines() if 'policy.yaml' in line]}")


def test_the_service_created_its_key_and_pinned_it_in_its_own_trust_file(deployment):
    key = deployment.state / "signing-key"
    assert key.is_file()
    assert key.stat().st_uid == deployment.service_uid
    assert stat.S_IMODE(key.stat().st_mode) & 0o077 == 0, oct(key.stat().st_mode)
    trust = deployment.state / "config" / "countersign" / "trusted-keys.json"
    assert trust.is_file()
    shown = deployment.service_cli("keys", "show", "--key", str(key), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["public_key"] in trust.read_text()
    sock = deployment.socket.stat()
    assert stat.S_ISSOCK(sock.st_mode)
    assert stat.S_IMODE(sock.st_mode) == 0o660, oct(sock.st_mode)
    assert sock.st_uid == deployment.service_uid
    assert sock.st_gid == deployment.agent_group_gid


def test_a_service_that_cannot_give_its_socket_the_group_exits_with_an_error(deployment):
    """Run as the service user but without the agent group: the socket cannot be given that group, and the
    service must not look like it stopped cleanly (systemd's Restart=on-failure and `systemctl status` go by
    the exit code)."""
    probe = deployment.base / "probe"
    probe.mkdir(mode=0o700)
    os.chown(probe, deployment.service_uid, deployment.service_gid)
    policy = probe / "policy.yaml"
    shutil.copy(deployment.config / "policy.yaml", policy)
    os.chmod(policy, 0o644)
    env = [f"COUNTERSIGN_HOME={probe}", f"XDG_CONFIG_HOME={probe / 'config'}", f"HOME={probe}"]
    socket = probe / "probe.sock"
    out = subprocess.run(
        ["setpriv", f"--reuid={deployment.service_user}", f"--regid={deployment.service_user}", "--clear-groups",
         "--", "env", "-i", *env, str(deployment.bin / "countersign"), "serve", "--socket", str(socket),
         "--socket-group", deployment.agent_group, "--policy", str(policy)],
        capture_output=True, text=True, timeout=60, cwd=probe, stdin=subprocess.DEVNULL)
    assert "cannot give" in out.stderr and "group" in out.stderr, out.stdout + out.stderr
    assert out.returncode != 0, (
        f"serve exited {out.returncode} after failing to set the socket's group:\n{out.stdout}{out.stderr}")


# -- 1. the agent user's calls are decided and recorded through the socket

def test_agent_hook_calls_are_decided_and_recorded_as_separate_user(deployment):
    deployment.ensure_running()
    session = f"agent-{secrets.token_hex(3)}"
    assert decision_of(deployment.hook_client(
        deployment.agent_user, pre_tool_use("ls", session, "toolu_ls"))) == "allow"
    denied = deployment.hook_client(deployment.agent_user, pre_tool_use("rm -rf /", session, "toolu_rm"))
    assert decision_of(denied) == "deny"
    assert "destructive" in denied.stdout
    post = deployment.hook_client(deployment.agent_user, post_tool_use("ls", session, "toolu_ls"))
    assert post.returncode == 0, post.stderr
    # The full CLI's hook, forwarding to the same signer.
    full = deployment.as_user(
        deployment.agent_user,
        [str(deployment.bin / "countersign"), "hook", "claude-code", "--signer", deployment.address],
        stdin=json.dumps(pre_tool_use("ls -la", session, "toolu_ls2")))
    assert decision_of(full) == "allow"

    # A caller of another user has its sessions kept apart from every other caller's: uid:N/ before the id.
    kept = f"uid:{deployment.agent_uid}/{session}"
    mine = [r for r in deployment.receipts() if r.get("session_id") == kept]
    decisions = [(r["trace_id"], r["decision"], r["status"]) for r in mine if r["kind"] == "decision"]
    assert decisions == [(f"{kept}:toolu_ls", "allow", "authorized"),
                         (f"{kept}:toolu_rm", "deny", "blocked"),
                         (f"{kept}:toolu_ls2", "allow", "authorized")], decisions
    outcomes = [r for r in mine if r["kind"] == "outcome"]
    assert [(r["trace_id"], r["status"]) for r in outcomes] == [(f"{kept}:toolu_ls", "executed")], outcomes
    for receipt in mine:
        caller = receipt["caller"]
        assert caller["isolation"] == "separate-user", receipt
        assert caller["uid"] == deployment.agent_uid, receipt
        assert caller["gid"] in (deployment.agent_gid, deployment.agent_group_gid), receipt
        assert isinstance(caller["pid"], int) and caller["pid"] > 0, receipt
    assert mine[0]["action"]["args"]["command"] == "ls"


# -- 2. what the agent user and the outsider cannot do

def attempt(deployment, user, script):
    return deployment.as_user(user, ["/bin/sh", "-c", script])


def test_the_agent_user_cannot_touch_the_key_the_ledger_the_policy_the_sessions_or_the_socket(deployment):
    deployment.ensure_running()
    # Something is in every file first, so that a failure below is about permissions.
    assert decision_of(deployment.hook_client(deployment.agent_user, pre_tool_use("ls", "perm", "t1"))) == "allow"
    key, ledger = deployment.state / "signing-key", deployment.ledger
    sessions, policy = deployment.state / "sessions.sqlite", deployment.config / "policy.yaml"
    for path in (key, ledger, sessions, policy):
        assert path.is_file(), path
    before = {path: path.read_bytes() for path in (key, policy)}
    agent = deployment.agent_user

    attempts = {
        "read the signing key": f"cat '{key}'",
        "list the state directory": f"ls '{deployment.state}'",
        "append to the ledger": f"echo tampered >> '{ledger}'",
        "overwrite the ledger": f"echo tampered > '{ledger}'",
        "delete the ledger": f"rm -f '{ledger}'",
        "edit the policy": f"echo 'default_decision: allow' >> '{policy}'",
        "replace the policy": f"echo 'default_decision: allow' > '{deployment.base}/p' && mv -f '{deployment.base}/p' '{policy}'",
        "write sessions.sqlite": f"echo tampered >> '{sessions}'",
        "remove the socket": f"rm -f '{deployment.socket}'",
        "replace the socket": f"touch \"$HOME/fake\" && mv -f \"$HOME/fake\" '{deployment.socket}'",
    }
    succeeded = {what: out.stdout + out.stderr for what, out in
                 ((what, attempt(deployment, agent, script)) for what, script in attempts.items())
                 if out.returncode == 0}
    assert succeeded == {}, f"the agent user could: {sorted(succeeded)}"
    for path, content in before.items():
        assert path.read_bytes() == content, path
    assert stat.S_ISSOCK(deployment.socket.stat().st_mode)
    code, out, err = deployment.verify()
    assert code == 0, out + err
    # The socket still answers the agent.
    assert decision_of(deployment.hook_client(agent, pre_tool_use("ls", "perm", "t2"))) == "allow"


def test_the_agent_user_cannot_use_the_ledger_with_the_embedded_hook(deployment):
    """Without the socket (the embedded hook, with the service's files named): blocked, nothing recorded."""
    deployment.ensure_running()
    count = len(deployment.receipts())
    out = deployment.as_user(
        deployment.agent_user,
        [str(deployment.bin / "countersign"), "hook", "claude-code", "--policy",
         str(deployment.config / "policy.yaml"), "--ledger", str(deployment.ledger), "--key",
         str(deployment.state / "signing-key"), "--sessions", str(deployment.state / "sessions.sqlite")],
        stdin=json.dumps(pre_tool_use("ls", "embedded", "t1")))
    assert out.returncode == 2, out.stdout + out.stderr
    assert len(deployment.receipts()) == count


def test_an_outsider_cannot_connect_to_the_socket(deployment):
    deployment.ensure_running()
    count = len(deployment.receipts())
    out = deployment.hook_client(deployment.outsider_user, pre_tool_use("ls", "outsider", "t1"))
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stdout.strip() == "", out.stdout
    assert str(deployment.socket) in out.stderr, out.stderr
    full = deployment.as_user(
        deployment.outsider_user,
        [str(deployment.bin / "countersign"), "hook", "claude-code", "--signer", deployment.address],
        stdin=json.dumps(pre_tool_use("ls", "outsider", "t2")))
    assert full.returncode == 2, full.stdout + full.stderr
    receipts = deployment.receipts()
    assert len(receipts) == count
    assert not [r for r in receipts if (r.get("caller") or {}).get("uid") == deployment.outsider_uid]


# -- 3. the service stopped, then restarted

def test_with_the_service_stopped_the_hook_blocks_and_after_a_restart_it_answers_and_the_ledger_verifies(
        deployment):
    deployment.ensure_running()
    assert decision_of(deployment.hook_client(deployment.agent_user, pre_tool_use("ls", "restart", "t1"))) == "allow"
    assert deployment.stop() == 0, (deployment.logs / "serve.err").read_text()[-2000:]
    assert "every receipt is committed" in (deployment.logs / "serve.out").read_text()

    down = deployment.hook_client(deployment.agent_user, pre_tool_use("ls", "restart", "t2"))
    assert down.returncode == 2, down.stdout + down.stderr
    assert str(deployment.socket) in down.stderr, down.stderr
    full = deployment.as_user(
        deployment.agent_user,
        [str(deployment.bin / "countersign"), "hook", "claude-code", "--signer", deployment.address],
        stdin=json.dumps(pre_tool_use("ls", "restart", "t3")))
    assert full.returncode == 2, full.stdout + full.stderr
    assert str(deployment.socket) in full.stderr, full.stderr

    deployment.start()
    assert decision_of(deployment.hook_client(deployment.agent_user, pre_tool_use("ls", "restart", "t4"))) == "allow"
    kept = f"uid:{deployment.agent_uid}/restart"
    traces = [r["trace_id"] for r in deployment.receipts() if r.get("session_id") == kept]
    assert traces == [f"{kept}:t1", f"{kept}:t4"], traces

    code, out, err = deployment.verify()
    assert code == 0, out + err
    report = json.loads(out)
    assert report["valid"] is True and report["status"] == "VALID" and report["failures"] == [], report
    assert report["trust"].startswith("pinned"), report
    # One chain, one signer, from the first receipt to the last.
    assert report["first_seq"] == 1 and report["last_seq"] == report["receipts"], report
    assert list(report["signers"].values()) == [report["receipts"]], report


# -- 4. four agents at once

def test_four_agents_making_500_calls_each_at_once_lose_no_receipt(deployment):
    deployment.ensure_running()
    run = secrets.token_hex(3)
    sessions = [f"load-{run}-{n}" for n in range(AGENTS)]
    failures = []

    def agent(session):
        for i in range(CALLS_PER_AGENT):
            out = deployment.hook_client(deployment.agent_user, pre_tool_use(f"ls -la src/{i}", session, f"t{i}"))
            try:
                decision = decision_of(out)
            except (AssertionError, ValueError, KeyError) as error:
                failures.append(f"{session} call {i}: {error}")
                continue
            if decision != "allow":
                failures.append(f"{session} call {i}: {out.stdout}")

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=AGENTS) as pool:
        list(pool.map(agent, sessions))
    wall = time.monotonic() - started
    total = AGENTS * CALLS_PER_AGENT
    print(f"\n{AGENTS} agents x {CALLS_PER_AGENT} hook calls through the socket: {wall:.1f} s "
          f"({total / wall:.0f} calls/s)")
    assert failures == [], f"{len(failures)} calls unanswered or wrong, first: {failures[:5]}"

    receipts = deployment.receipts()
    for session in sessions:
        kept = f"uid:{deployment.agent_uid}/{session}"
        decided = [r for r in receipts if r["kind"] == "decision" and r.get("session_id") == kept]
        assert len(decided) == CALLS_PER_AGENT, (session, len(decided))
        assert len({r["trace_id"] for r in decided}) == CALLS_PER_AGENT
        assert all(r["caller"]["isolation"] == "separate-user" for r in decided)
    assert [r["seq"] for r in receipts] == list(range(1, len(receipts) + 1))
    code, out, err = deployment.verify()
    assert code == 0, out + err
    assert json.loads(out)["receipts"] == len(receipts)


# -- countersign doctor

def doctor(deployment, user):
    entry = pwd.getpwnam(user)
    return deployment.as_user(user, [str(deployment.bin / "countersign"), "doctor", "--signer", deployment.address],
                              env={"PATH": f"{deployment.bin}:/usr/bin:/bin", "HOME": entry.pw_dir,
                                   "LANG": "C.UTF-8"})


def test_doctor_as_the_agent_user_finds_the_signer_running_as_another_user(deployment):
    assert has_subcommand("doctor"), f"`countersign doctor` is missing from this binary ({BIN})"
    deployment.ensure_running()
    out = doctor(deployment, deployment.agent_user)
    print(f"\n--- countersign doctor as {deployment.agent_user}:\n{out.stdout}{out.stderr}")
    assert out.returncode == 0, out.stdout + out.stderr
    assert str(deployment.socket) in out.stdout, out.stdout
    assert deployment.service_user in out.stdout, out.stdout


def test_doctor_as_the_outsider_reports_a_signer_it_cannot_reach(deployment):
    assert has_subcommand("doctor"), f"`countersign doctor` is missing from this binary ({BIN})"
    deployment.ensure_running()
    out = doctor(deployment, deployment.outsider_user)
    print(f"\n--- countersign doctor as {deployment.outsider_user}:\n{out.stdout}{out.stderr}")
    assert out.returncode == 1, out.stdout + out.stderr
    assert str(deployment.socket) in out.stdout + out.stderr


# -- 6. Claude Code's HTTP hooks over TCP

@pytest.fixture
def tcp_server(tmp_path):
    env = {**os.environ, "COUNTERSIGN_HOME": str(tmp_path / "home"), "XDG_CONFIG_HOME": str(tmp_path / "config")}
    binary = tmp_path / "countersign"
    shutil.copy2(BIN, binary)
    out = subprocess.run([str(binary), "init"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    err = open(tmp_path / "serve.err", "w")
    process = subprocess.Popen([str(binary), "serve", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=err,
                               text=True, env=env, cwd=tmp_path)
    err.close()
    ready, _, _ = select.select([process.stdout], [], [], 60)
    line = process.stdout.readline() if ready else ""
    while line and "listening on http://" not in line:
        line = process.stdout.readline()
    assert "listening on http://" in line, line + (tmp_path / "serve.err").read_text()
    url = line.split("listening on ")[1].split(" ")[0]
    # Keep draining stdout so that the server never blocks on a full pipe.
    threading.Thread(target=process.stdout.read, daemon=True).start()

    def receipts():
        listed = subprocess.run([str(binary), "receipts", str(tmp_path / "home" / "ledger.sqlite"), "--format", "jsonl"],
                                capture_output=True, text=True, env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        return [json.loads(r) for r in listed.stdout.splitlines() if r.strip()]

    yield url, receipts
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def post_hook(url, body):
    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/v1/hooks/claude-code", data=data, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def test_claude_code_http_hooks_over_tcp_are_answered_in_claude_codes_schema(tcp_server, tmp_path):
    url, receipts = tcp_server
    session = "3b9f2c1e-8d4a-4f6b-9a7e-0c5d1e2f3a4b"
    cwd = str(tmp_path)

    status, answer = post_hook(url, {"session_id": session, "transcript_path": f"/tmp/{session}.jsonl",
                                     "cwd": cwd, "permission_mode": "default", "hook_event_name": "UserPromptSubmit",
                                     "prompt": "List the files in this project."})
    assert status == 200 and isinstance(answer, dict), answer
    assert answer.get("decision") != "block" and answer.get("continue", True) is True, answer

    status, answer = post_hook(url, pre_tool_use("ls", session, "toolu_01ABCDEF", cwd))
    assert status == 200
    out = answer["hookSpecificOutput"]
    assert (out["hookEventName"], out["permissionDecision"]) == ("PreToolUse", "allow"), answer

    status, answer = post_hook(url, post_tool_use("ls", session, "toolu_01ABCDEF", cwd))
    assert status == 200 and isinstance(answer, dict), answer
    assert answer.get("decision") != "block", answer

    status, answer = post_hook(url, pre_tool_use("rm -rf /", session, "toolu_02BCDEFG", cwd))
    assert status == 200
    out = answer["hookSpecificOutput"]
    assert (out["hookEventName"], out["permissionDecision"]) == ("PreToolUse", "deny"), answer
    assert "destructive" in out["permissionDecisionReason"].lower(), answer

    permission = {"session_id": session, "transcript_path": f"/tmp/{session}.jsonl", "cwd": cwd,
                  "permission_mode": "default", "hook_event_name": "PermissionRequest", "tool_name": "Bash",
                  "tool_input": {"command": "rm -rf /", "description": "Delete everything"}}
    status, answer = post_hook(url, permission)
    assert status == 200
    out = answer["hookSpecificOutput"]
    assert out["hookEventName"] == "PermissionRequest" and out["decision"]["behavior"] == "deny", answer

    status, answer = post_hook(url, "not json{")
    assert status == 200
    assert answer["decision"] == "block" and answer["reason"], answer
    # Cut short after the event name: still a blocking answer (in the event's own schema, or the generic one).
    status, answer = post_hook(url, '{"session_id": "broken", "hook_event_name": "PreToolUse", "tool_na')
    assert status == 200
    assert (answer.get("decision") == "block"
            or answer.get("hookSpecificOutput", {}).get("permissionDecision") == "deny"), answer

    mine = [r for r in receipts() if r.get("session_id") == session]
    decided = [(r["trace_id"], r["decision"]) for r in mine if r["kind"] == "decision"]
    assert (f"{session}:toolu_01ABCDEF", "allow") in decided, decided
    assert (f"{session}:toolu_02BCDEFG", "deny") in decided, decided
    assert mine and all(r["caller"]["isolation"] == "remote" for r in mine), [r["caller"] for r in mine]
    assert all("uid" not in r["caller"] or r["caller"]["uid"] is None for r in mine), [r["caller"] for r in mine]


# -- last: system uninstall, then --purge

def test_system_uninstall_keeps_the_record_and_purge_removes_what_install_created(deployment):
    if deployment.installed_with != "system install":
        pytest.fail("`countersign system install`/`uninstall` is missing from this binary")
    assert deployment.stop() in (0, None)
    count = len(deployment.receipts())
    assert count > 0
    out = run_quiet(*deployment.system_command("uninstall"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert not deployment.socket.parent.exists()
    # The record outlives the service: ledger, key, policy and service user stay, and the ledger verifies.
    for path in (deployment.ledger, deployment.state / "signing-key", deployment.config / "policy.yaml"):
        assert path.is_file(), path
    assert _exists(pwd.getpwnam, deployment.service_user)
    code, report, err = deployment.verify()
    assert code == 0 and json.loads(report)["receipts"] == count, report + err

    out = run_quiet(*deployment.system_command("uninstall", "--purge"))
    deployment.uninstalled = True
    assert out.returncode == 0, out.stdout + out.stderr
    assert not deployment.state.exists() and not deployment.config.exists()
    assert not _exists(pwd.getpwnam, deployment.service_user)
    assert not _exists(grp.getgrnam, deployment.service_user)
    # What install did not create stays: the agent group (it existed before) and its members.
    assert _exists(grp.getgrnam, deployment.agent_group)
    assert deployment.agent_user in grp.getgrnam(deployment.agent_group).gr_mem
