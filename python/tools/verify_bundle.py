#!/usr/bin/env python3
"""Verify a Countersign audit bundle without Swift: an independent implementation of docs/receipts.md.

Checks, offline:
  * the manifest: every listed file's SHA-256, no unlisted file, the manifest hash (RFC 8785 JSON) and
    its Ed25519 signature;
  * every receipt: its hash (SHA-256 of the stored canonical text without `hash` and `signature`), its
    Ed25519 signature, and that the receipts are exactly the manifest's list;
  * the checkpoint (C2SP signed note, c2sp.org/tlog-checkpoint): its Ed25519 log signature by a receipt
    signer (or a --trusted-key), and optionally witness cosignatures (c2sp.org/tlog-cosignature);
  * one RFC 6962 inclusion proof per receipt against the checkpoint's root (RFC 9162 §2.1.3.2).

Usage: verify_bundle.py BUNDLE_DIR [--trusted-key HEX]... [--witness HEX]... [--witness-quorum N] [--json]
Exit status: 0 valid, 1 invalid. Needs only the standard library and `cryptography` (Ed25519).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import os
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

EM_DASH = "\u2014"


class BundleError(Exception):
    pass


# --- RFC 6962 / RFC 9162 -------------------------------------------------------------------------

def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index < 0 or index >= size or any(len(p) != 32 for p in proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- RFC 8785 (the subset manifests use: objects, arrays, strings, integers, booleans, null) --------

def jcs(value) -> str:
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + jcs(value[k]) for k in keys) + "}"
    if isinstance(value, list):
        return "[" + ",".join(jcs(v) for v in value) + "]"
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return json.dumps(value, ensure_ascii=False)
    raise BundleError(f"unexpected value in the manifest: {value!r}")


# --- Ed25519 and signed notes --------------------------------------------------------------------

def ed25519_ok(public_key: bytes, signature: bytes, message: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
        return True
    except (InvalidSignature, ValueError):
        return False


def key_id(public_key: bytes) -> str:
    """Countersign's signer id: ed25519: + the first 16 hex of SHA-256 of the public key."""
    return "ed25519:" + hashlib.sha256(public_key).hexdigest()[:16]


def note_key_id(name: str, sig_type: int, public_key: bytes) -> bytes:
    """c2sp.org/signed-note: SHA-256(name || 0x0A || type || public key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_key).digest()[:4]


def parse_note(text: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    if not text.endswith("\n") or any(ord(c) < 0x20 and c != "\n" for c in text):
        raise BundleError("the checkpoint is not a well-formed signed note")
    split = text.rfind("\n\n", 0, len(text) - 1)
    if split < 0:
        raise BundleError("the checkpoint has no blank line before its signatures")
    body, block = text[: split + 1], text[split + 2:]
    signatures = []
    for line in block[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise BundleError(f"malformed signature line: {line[:60]!r}")
        parts = line[2:].split(" ")
        if len(parts) != 2 or not parts[0] or "+" in parts[0]:
            raise BundleError(f"malformed signature line: {line[:60]!r}")
        try:
            blob = base64.b64decode(parts[1], validate=True)
        except binascii.Error as error:
            raise BundleError(f"malformed signature: {error}") from None
        if len(blob) < 5:
            raise BundleError("a signature is too short")
        signatures.append((parts[0], blob[:4], blob[4:]))
    if not signatures:
        raise BundleError("the checkpoint has no signatures")
    return body, signatures


def parse_checkpoint_body(body: str) -> tuple[str, int, bytes]:
    lines = body.split("\n")[:-1]
    if len(lines) < 3 or not lines[0]:
        raise BundleError("a checkpoint needs origin, size and root hash lines")
    size_line = lines[1]
    if not size_line.isdigit() or (size_line != "0" and size_line.startswith("0")):
        raise BundleError(f"bad checkpoint size {size_line!r}")
    root = base64.b64decode(lines[2], validate=True)
    if len(root) != 32:
        raise BundleError("the checkpoint root is not 32 bytes")
    return lines[0], int(size_line), root


# --- the bundle ----------------------------------------------------------------------------------

def stored_text_hash(text: str, hash_: str, signature: str) -> str | None:
    """The receipt's hash from its stored canonical text: cut out the hash and signature members."""
    hash_member = f',"hash":"{hash_}"'
    signature_member = f',"signature":"{signature}"'
    h, s = text.find(hash_member), text.find(signature_member)
    if h < 0 or s < 0 or h + len(hash_member) > s:
        return None
    hashed = text[:h] + text[h + len(hash_member): s] + text[s + len(signature_member):]
    return "sha256:" + hashlib.sha256(hashed.encode()).hexdigest()


def verify_bundle(directory: str, trusted: list[bytes], witnesses: list[bytes], quorum: int | None) -> dict:
    problems: list[str] = []
    with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as handle:
        manifest = json.load(handle)
    if manifest.get("format") != "countersign.bundle.v1":
        raise BundleError("not a countersign.bundle.v1 manifest")
    files = manifest.get("files") or {}
    for name, expected in sorted(files.items()):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            problems.append(f"{name} is missing")
            continue
        with open(path, "rb") as handle:
            if "sha256:" + hashlib.sha256(handle.read()).hexdigest() != expected:
                problems.append(f"{name} was changed after export")
    for name in sorted(os.listdir(directory)):
        if name != "manifest.json" and name not in files:
            problems.append(f"{name} is not listed in the manifest (added after export)")
    unsigned = {k: v for k, v in manifest.items() if k not in ("manifest_hash", "signature")}
    manifest_hash = "sha256:" + hashlib.sha256(jcs(unsigned).encode()).hexdigest()
    if manifest_hash != manifest.get("manifest_hash"):
        problems.append("the manifest was changed after export (hash mismatch)")
    manifest_key = bytes.fromhex(manifest.get("signer_public_key", ""))
    if key_id(manifest_key) != manifest.get("signer") or not ed25519_ok(
            manifest_key, bytes.fromhex(manifest.get("signature", "")), manifest.get("manifest_hash", "").encode()):
        problems.append("bad manifest signature")

    receipts = []
    with open(os.path.join(directory, "receipts.jsonl"), encoding="utf-8") as handle:
        for number, line in enumerate(handle.read().split("\n")[:-1], start=1):
            receipt = json.loads(line)
            public = bytes.fromhex(receipt.get("signer_public_key", ""))
            if stored_text_hash(line, receipt["hash"], receipt["signature"]) != receipt["hash"]:
                problems.append(f"receipt #{receipt.get('seq')}: hash mismatch (edited after signing)")
            if key_id(public) != receipt.get("signer") or not ed25519_ok(
                    public, bytes.fromhex(receipt["signature"]), receipt["hash"].encode()):
                problems.append(f"receipt #{receipt.get('seq')}: bad signature")
            if trusted and public not in trusted:
                problems.append(f"receipt #{receipt.get('seq')}: signed by an untrusted key")
            receipts.append(receipt)
    if [[r["seq"], r["hash"]] for r in receipts] != manifest.get("receipts"):
        problems.append("the receipts differ from the manifest's list")

    with open(os.path.join(directory, "checkpoint"), encoding="utf-8") as handle:
        body, signatures = parse_note(handle.read())
    origin, size, root = parse_checkpoint_body(body)
    log_keys = trusted or list({bytes.fromhex(r["signer_public_key"]) for r in receipts} | {manifest_key})
    log_signed = False
    for public in log_keys:
        name = key_id(public)
        for sig_name, sig_id, signature in signatures:
            if sig_name == name and sig_id == note_key_id(name, 0x01, public):
                if not ed25519_ok(public, signature, body.encode()):
                    problems.append(f"a bad checkpoint signature claims to be by {name}")
                else:
                    log_signed = True
    if not log_signed:
        problems.append("the checkpoint is not signed by the log's key")
    cosigned = 0
    for public in witnesses:
        for sig_name, sig_id, signature in signatures:
            if sig_id == note_key_id(sig_name, 0x04, public) and len(signature) == 72:
                timestamp = int.from_bytes(signature[:8], "big")
                message = f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()
                if ed25519_ok(public, signature[8:], message):
                    cosigned += 1
                    break
    required = len(witnesses) if quorum is None else quorum
    if cosigned < required:
        problems.append(f"only {cosigned} of {len(witnesses)} witnesses cosigned the checkpoint ({required} required)")

    with open(os.path.join(directory, "inclusion-proofs.json"), encoding="utf-8") as handle:
        document = json.load(handle)
    if document.get("tree_size") != size:
        problems.append("the inclusion proofs are for another tree size than the checkpoint's")
    proofs = {entry["seq"]: [bytes.fromhex(h) for h in entry["hashes"]] for entry in document.get("proofs", [])}
    verified = 0
    for receipt in receipts:
        proof = proofs.get(receipt["seq"])
        leaf = leaf_hash(bytes.fromhex(receipt["hash"][len("sha256:"):]))
        if proof is None:
            problems.append(f"receipt #{receipt['seq']} has no inclusion proof")
        elif not verify_inclusion(leaf, receipt["seq"] - 1, size, proof, root):
            problems.append(f"receipt #{receipt['seq']}'s inclusion proof does not lead to the checkpoint's root")
        else:
            verified += 1
    return {
        "valid": not problems, "origin": origin, "tree_size": size, "root_hash": root.hex(),
        "receipts": len(receipts), "inclusion_proofs_verified": verified,
        "witnesses": {"cosigned": cosigned, "total": len(witnesses), "quorum": required},
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify a Countersign audit bundle offline.")
    parser.add_argument("bundle")
    parser.add_argument("--trusted-key", action="append", default=[], help="a trusted signer public key (hex)")
    parser.add_argument("--witness", action="append", default=[], help="a witness public key (hex)")
    parser.add_argument("--witness-quorum", type=int)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        trusted = [bytes.fromhex(k) for k in args.trusted_key]
        witnesses = [bytes.fromhex(k) for k in args.witness]
        result = verify_bundle(args.bundle, trusted, witnesses, args.witness_quorum)
    except (OSError, ValueError, KeyError, TypeError, BundleError) as error:
        result = {"valid": False, "problems": [f"unreadable bundle: {error}"]}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"bundle {args.bundle}: {'VALID' if result['valid'] else 'INVALID'}")
        if "tree_size" in result:
            print(f"checkpoint: {result['origin']} size {result['tree_size']} root {result['root_hash']}")
            print(f"inclusion proofs: {result['inclusion_proofs_verified']} of {result['receipts']} verified")
        for problem in result["problems"]:
            print(f"problem: {problem}")
    return 0 if result["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())
