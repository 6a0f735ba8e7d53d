"""An independent verifier of signed checkpoints and consistency proofs.

Written from the texts of c2sp.org/signed-note, c2sp.org/tlog-checkpoint and RFC 9162
§2.1 alone; it shares no code with receipt-attest (Ed25519 itself is pyca/cryptography).

Usage: verify_tlog.py CASES.json

CASES.json is a list of cases, each {"name", "expect": "accept"|"reject", "kind", ...}:
- kind "checkpoint": "note" (path of a signed checkpoint), "public_key" (SPKI PEM path),
  "vkey" (the verifier key string the producer printed; must equal the one computed here),
  "leaves" (hex leaf hashes; the checkpoint's root must be their RFC 6962 root).
- kind "consistency": "old" and "new" (signed checkpoint paths), "proof" (the proof JSON
  path), "public_key"; both checkpoints must verify and the proof must link them.
Exits 1 when any case does not meet its expectation.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)

from case_runner import run_cases

EM_DASH = "\u2014"


def b64decode_strict(s: str) -> bytes:
    raw = base64.b64decode(s, validate=True)
    if base64.b64encode(raw).decode("ascii") != s:
        raise ValueError("non-canonical base64")
    return raw


def raw_ed25519(path: str) -> bytes:
    with open(path, "rb") as f:
        key = load_pem_public_key(f.read())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError("not an Ed25519 key")
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, pub: bytes) -> bytes:
    # signed-note: key ID = SHA-256(key name || 0x0A || 0x01 || public key)[:4]
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + pub).digest()[:4]


def vkey_string(name: str, pub: bytes) -> str:
    blob = base64.b64encode(b"\x01" + pub).decode("ascii")
    return f"{name}+{key_id(name, pub).hex()}+{blob}"


def open_note(data: bytes, name: str, pub: bytes) -> str:
    text = data.decode("utf-8")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise ValueError("control character")
    split = text.rfind("\n\n")
    if split < 0:
        raise ValueError("no blank line")
    body, sigs = text[: split + 1], text[split + 2 :]
    if not sigs.endswith("\n") or not sigs[:-1]:
        raise ValueError("bad signature block")
    want = key_id(name, pub)
    verified = 0
    for line in sigs[:-1].split("\n"):
        if not line.startswith(EM_DASH + " "):
            raise ValueError("signature line without em dash")
        sig_name, _, b64 = line[2:].partition(" ")
        if not sig_name or "+" in sig_name or any(c.isspace() for c in sig_name):
            raise ValueError("bad key name")
        blob = b64decode_strict(b64)
        if len(blob) < 5:
            raise ValueError("short signature")
        if sig_name != name or blob[:4] != want:
            continue  # unknown key: ignored
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(blob[4:], body.encode())
        except InvalidSignature:
            raise ValueError("a known key's signature does not verify") from None
        verified += 1
    if not verified:
        raise ValueError("no signature by the known key")
    return body


def parse_checkpoint(body: str) -> tuple[str, int, bytes]:
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise ValueError("fewer than three lines")
    origin, size, root = lines[0], lines[1], lines[2]
    if not origin:
        raise ValueError("empty origin")
    if not size.isdigit() or not size.isascii() or (size != "0" and size.startswith("0")):
        raise ValueError("bad size")
    root_bytes = b64decode_strict(root)
    if len(root_bytes) != 32:
        raise ValueError("bad root")
    if any(not e for e in lines[3:]):
        raise ValueError("empty extension line")
    return origin, int(size), root_bytes


def open_checkpoint(path: str, pub: bytes) -> tuple[str, int, bytes]:
    with open(path, "rb") as f:
        data = f.read()
    origin = data.split(b"\n", 1)[0].decode("utf-8")
    return parse_checkpoint(open_note(data, origin, pub))


def node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(leaves: list[bytes]) -> bytes:
    # RFC 9162 §2.1.1, recursively.
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, path: list[bytes]) -> None:
    # RFC 9162 §2.1.4.2, step by step.
    if first == second:
        if path or first_hash != second_hash:
            raise ValueError("equal sizes need an empty proof and equal roots")
        return
    if first == 0 or first > second:
        raise ValueError("sizes out of order")
    if not path:
        raise ValueError("empty proof")
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ValueError("proof too long")
        if fn & 1 or fn == sn:
            fr = node(c, fr)
            sr = node(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0 or fr != first_hash or sr != second_hash:
        raise ValueError("proof does not verify")


def run(case) -> str:
    pub = raw_ed25519(case["public_key"])
    if case["kind"] == "checkpoint":
        origin, size, root = open_checkpoint(case["note"], pub)
        if vkey_string(origin, pub) != case["vkey"]:
            raise ValueError("the producer's verifier key string differs")
        leaves = [bytes.fromhex(h) for h in case["leaves"]]
        if size != len(leaves) or root != mth(leaves):
            raise ValueError("the checkpoint is not the tree head of the leaves")
        return f"{origin} size {size}"
    old = open_checkpoint(case["old"], pub)
    new = open_checkpoint(case["new"], pub)
    with open(case["proof"], encoding="utf-8") as f:
        doc = json.load(f)
    if (doc["origin"], doc["old_size"], doc["new_size"]) != (old[0], old[1], new[1]) or old[0] != new[0]:
        raise ValueError("the proof is not about these checkpoints")
    if bytes.fromhex(doc["old_root"]) != old[2] or bytes.fromhex(doc["new_root"]) != new[2]:
        raise ValueError("the proof's roots are not the checkpoints'")
    verify_consistency(old[1], new[1], old[2], new[2], [bytes.fromhex(h) for h in doc["proof"]])
    return f"{old[1]} -> {new[1]} consistent"


if __name__ == "__main__":
    sys.exit(run_cases(run))
