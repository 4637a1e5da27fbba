"""The Python bundle verifier (python/tools/verify_bundle.py) against bundles the real binary exports.

It re-implements the receipt hash, the manifest, the C2SP checkpoint signature and the RFC 6962
inclusion proofs from docs/receipts.md alone, so a passing run shows the spec is enough to verify.
"""

import importlib.util
import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
BIN = os.environ.get("COUNTERSIGN_BIN", str(ROOT / ".build" / "debug" / "countersign"))
spec = importlib.util.spec_from_file_location("verify_bundle", ROOT / "python" / "tools" / "verify_bundle.py")
verify_bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(verify_bundle)


def run(*args, home):
    env = dict(os.environ, COUNTERSIGN_HOME=str(home))
    result = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, cwd=home, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture
def ledger(tmp_path):
    key = tmp_path / "log-key"
    run("keys", "generate", "--out", str(key), home=tmp_path)
    path = tmp_path / "ledger.sqlite"
    run("ledger", "bench", "--ledger", str(path), "--key", str(key), "--count", "37", home=tmp_path)
    public = json.loads(run("keys", "show", "--key", str(key), "--format", "json", home=tmp_path))["public_key"]
    return tmp_path, path, key, public


def export(home, path, key, name, *filters):
    out = home / name
    run("receipts", str(path), *filters, "--format", "bundle", "--output", str(out), "--key", str(key), home=home)
    return out


def test_a_whole_ledger_bundle_verifies_without_swift(ledger):
    home, path, key, public = ledger
    bundle = export(home, path, key, "all")
    result = verify_bundle.verify_bundle(str(bundle), [bytes.fromhex(public)], [], None)
    assert result["problems"] == []
    assert result["valid"] and result["receipts"] == 37 and result["inclusion_proofs_verified"] == 37
    assert result["tree_size"] >= 37
    # The Swift verifier agrees on the same bundle.
    report = json.loads(run("verify", str(bundle), "--trusted-key", public, "--format", "json", home=home))
    assert report["valid"] and report["inclusion_proofs_verified"] == 37
    assert report["assurance"] == "pinned"


def test_a_filtered_bundle_proves_each_receipt_against_the_whole_tree(ledger):
    home, path, key, public = ledger
    bundle = export(home, path, key, "some", "--limit", "5")
    assert verify_bundle.main([str(bundle), "--trusted-key", public]) == 0
    result = verify_bundle.verify_bundle(str(bundle), [], [], None)
    assert result["valid"] and result["receipts"] == 5 and result["inclusion_proofs_verified"] == 5


def test_a_changed_proof_a_planted_file_and_a_forged_checkpoint_are_caught(ledger):
    home, path, key, public = ledger
    bundle = export(home, path, key, "tampered")
    proofs_path = bundle / "inclusion-proofs.json"
    document = json.loads(proofs_path.read_text())
    first = document["proofs"][3]["hashes"][0]
    document["proofs"][3]["hashes"][0] = ("0" if first[0] != "0" else "1") + first[1:]
    proofs_path.write_text(json.dumps(document))
    (bundle / "extra.txt").write_text("planted\n")
    result = verify_bundle.verify_bundle(str(bundle), [bytes.fromhex(public)], [], None)
    assert not result["valid"]
    assert "receipt #4's inclusion proof does not lead to the checkpoint's root" in result["problems"]
    assert "extra.txt is not listed in the manifest (added after export)" in result["problems"]
    assert "inclusion-proofs.json was changed after export" in result["problems"]
    assert verify_bundle.main([str(bundle)]) == 1

    forged = export(home, path, key, "forged")
    checkpoint = (forged / "checkpoint").read_text().split("\n")
    checkpoint[1] = str(int(checkpoint[1]) - 1)
    (forged / "checkpoint").write_text("\n".join(checkpoint))
    result = verify_bundle.verify_bundle(str(forged), [], [], None)
    assert "the checkpoint is not signed by the log's key" in result["problems"]
    swift = subprocess.run([BIN, "verify", str(forged), "--format", "json"], capture_output=True, text=True,
                           env=dict(os.environ, COUNTERSIGN_HOME=str(home)))
    assert swift.returncode == 1
    assert json.loads(swift.stdout)["assurance"] == "none"


def test_merkle_hashing_matches_rfc_6962():
    # RFC 6962 §2.1: the empty-data leaf is SHA-256(0x00); a two-leaf root is SHA-256(0x01 || a || b).
    assert verify_bundle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    a, b, c = (verify_bundle.leaf_hash(bytes([i])) for i in range(3))
    ab = verify_bundle.node_hash(a, b)
    root = verify_bundle.node_hash(ab, c)
    assert verify_bundle.verify_inclusion(c, 2, 3, [ab], root)
    assert verify_bundle.verify_inclusion(a, 0, 3, [b, c], root)
    assert not verify_bundle.verify_inclusion(a, 1, 3, [b, c], root)
    assert not verify_bundle.verify_inclusion(a, 0, 3, [b], root)
