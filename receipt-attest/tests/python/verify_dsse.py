"""Verifies DSSE envelopes written by receipt-attest with the ecosystem's own code.

Usage: verify_dsse.py CASES.json

CASES.json is a list of {"name", "envelope" (path), "public_key" (SPKI PEM path),
"keyid", "expect" ("accept" or "reject")}. Each envelope is verified with
securesystemslib's DSSE implementation (securesystemslib.dsse.Envelope, keys from
securesystemslib.signer.SSlibKey.from_crypto); an accepted in-toto payload is then parsed
strictly with in-toto-attestation's protobuf bindings (Statement v1, SLSA Provenance v1)
and validated with its Statement validator. Prints one line per case; exits 1 when any
case does not meet its expectation.
"""

import json
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key
from google.protobuf import json_format
from in_toto_attestation.predicates.provenance.v1 import provenance_pb2
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement
from securesystemslib.dsse import Envelope
from securesystemslib.signer import SSlibKey

from case_runner import run_cases

SLSA_V1 = "https://slsa.dev/provenance/v1"


def check_statement(payload: bytes) -> str:
    # Strict proto3 JSON parse: unknown fields, wrong types and malformed timestamps fail.
    pb = json_format.Parse(payload.decode("utf-8"), statement_pb2.Statement())
    Statement.copy_from_pb(pb).validate()
    if pb.predicate_type != SLSA_V1:
        raise ValueError(f"predicateType {pb.predicate_type!r}")
    predicate = json.loads(payload)["predicate"]
    prov = json_format.ParseDict(predicate, provenance_pb2.Provenance())
    # The fields SLSA Provenance v1 marks REQUIRED.
    if not prov.build_definition.build_type:
        raise ValueError("buildDefinition.buildType is empty")
    if "externalParameters" not in predicate["buildDefinition"]:
        raise ValueError("buildDefinition.externalParameters is missing")
    if not prov.run_details.builder.id:
        raise ValueError("runDetails.builder.id is empty")
    for rd in prov.build_definition.resolved_dependencies:
        if not (rd.uri or rd.digest or rd.content):
            raise ValueError("a resolved dependency without uri, digest or content")
    return f"statement ok: {len(pb.subject)} subjects, buildType {prov.build_definition.build_type}"


def run(case) -> str:
    with open(case["public_key"], "rb") as f:
        crypto_key = load_pem_public_key(f.read())
    key = SSlibKey.from_crypto(crypto_key, keyid=case["keyid"])
    with open(case["envelope"], "rb") as f:
        envelope = Envelope.from_dict(json.loads(f.read()))
    accepted = envelope.verify([key], 1)
    detail = f"verified by {sorted(accepted)} ({key.scheme})"
    if envelope.payload_type == "application/vnd.in-toto+json":
        detail += "; " + check_statement(envelope.payload)
    return detail


if __name__ == "__main__":
    sys.exit(run_cases(run))
