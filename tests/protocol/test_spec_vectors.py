"""The test vectors in protocol/SPEC.md, re-derived from fixed seeds and checked block by block.

SPEC.md carries each vector as a fenced code block whose info string is `text vector=<name>` or
`json vector=<name>`. Text blocks must match byte for byte; JSON blocks must parse to the same value.
Every block in SPEC.md must be derived here, and every vector derived here must be in SPEC.md.

To regenerate the blocks after a deliberate change to the protocol:

    .venv/bin/python -m tests.protocol.test_spec_vectors
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from http_message_signatures import HTTPMessageSigner, algorithms

from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import build_descriptor, follows_from, verify_descriptor
from protocol.encoding import b64url_decode, sha256_b64url
from protocol.envelope import (
    build_envelope,
    content_hash,
    envelope_ref,
    redact,
    signed_bytes,
    verify_envelope,
)
from protocol.errors import ProtocolError
from protocol.httpsig import (
    LABEL,
    REQUEST_SIGNED,
    TAG,
    HttpRequest,
    HttpResponse,
    http_key_id,
    sign_request,
    sign_response,
)
from protocol.keys import NodeKey, fingerprint, node_id_for, safety_number, verify
from protocol.network import (
    BUNDLE_PREFIX,
    check_member,
    issue_certificate,
    issue_revocations,
    make_bundle,
    network_id_for,
    parse_bundle,
    verify_certificate,
    verify_revocations,
)
from protocol.peering import issue_card, issue_peering, verify_card, verify_peering
from protocol.records import case_band, case_bands
from protocol.timestamps import format_timestamp
from protocol.wire import result

SPEC = Path(__file__).resolve().parents[2] / "protocol" / "SPEC.md"
BLOCK_RE = re.compile(r"^```(text|json) vector=([a-z0-9_.-]+)\n(.*?)\n```$", re.MULTILINE | re.DOTALL)

SEED_A = bytes(range(0, 32))
SEED_B = bytes(range(32, 64))
CREATED = datetime(2026, 1, 15, 9, 30, tzinfo=UTC)
RETRACTED = datetime(2026, 1, 16, 14, 0, tzinfo=UTC)
VALID_UNTIL = datetime(2026, 2, 15, 0, 0, tzinfo=UTC)
URL_A = "https://praevnet.musterstadt.example"
URL_B = "https://praevnet.nachbarstadt.example"
REQUEST_NONCE = "vector-nonce-0123456789"
SEED_NETWORK = bytes(range(96, 128))
SEED_C = bytes(range(128, 160))
SEED_ATTACKER = bytes(range(192, 224))
CERT_NOT_BEFORE = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
CERT_EXPIRES = datetime(2027, 1, 15, 0, 0, tzinfo=UTC)
LIST_EXPIRES = datetime(2026, 1, 22, 9, 30, tzinfo=UTC)
REVOKED_SINCE = datetime(2026, 1, 10, 0, 0, tzinfo=UTC)
NETWORK_NAME = "Präventionsnetz Musterland"
URL_OPERATOR = "https://praevnet.musterland.example"
RESPONSE_NONCE = "vector-nonce-response-0123"
SEED_PEER_NETWORK = bytes(range(160, 192))
PEER_NETWORK_NAME = "Präventionsnetz Nachbarland"

CANONICAL_INPUT = """{
  "zeta": [1, -2, true, false, null],
  "alpha": "Gr\\u00fc\\u00dfe aus M\\u00fcnster \\u20ac\\n\\"tab\\"\\t\\u001f",
  "\\ud83d\\ude00": "emoji key (UTF-16 D83D DE00)",
  "\\ufb33": "sorts after the emoji",
  "nested": {"b": {}, "a": [], "max": 9007199254740991, "min": -9007199254740991}
}"""

EXPERIENCE = {
    "title": "Sicherer Schulweg",
    "summary": "Eltern, Schule und Ordnungsamt begleiten den Schulweg gemeinsam.",
    "topics": ["öffentlicher Raum", "Kinder und Jugendliche"],
    "evidence_level": "probable",
    "contact": {"mailbox": "praevention@musterstadt.example"},
}
ALERT = {
    "headline": "Falsche Wasserwerker an der Haustür",
    "area": {"name": "Nordstadt", "ars": "051130000000"},
    "effective": "2026-01-15T00:00:00Z",
    "expires": "2026-02-15T00:00:00+01:00",
    "severity": "Moderate",
    "trend": "rising",
    "case_band": "5-9",
}


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def _signature_header_value(header: str) -> bytes:
    """The raw signature bytes from a `praevnet=:<base64>:` Signature header."""
    match = re.fullmatch(rf"{LABEL}=:([A-Za-z0-9+/=]+):", header)
    assert match is not None, header
    return base64.b64decode(match.group(1))


def derive() -> dict[str, tuple[str, str]]:
    """Every vector, by name: (block type, block text)."""
    a, b = NodeKey.from_seed(SEED_A), NodeKey.from_seed(SEED_B)
    node_a, node_b = node_id_for(a.public), node_id_for(b.public)
    out: dict[str, tuple[str, str]] = {}

    def text(name: str, value: str | bytes) -> None:
        out[name] = ("text", value.decode("utf-8") if isinstance(value, bytes) else value)

    # Identity.
    text("identity.seed", SEED_A.hex())
    text("identity.public_key_hex", a.public.hex())
    text("identity.public_key", a.public_b64)
    text("identity.key_id", a.key_id)
    text("identity.node_id_digest", hashlib.sha256(b"praevnet-node-id:" + a.public).digest()[:20].hex())
    text("identity.node_id", node_a)
    text("identity.fingerprint", fingerprint(a.public))
    text("identity.safety_number", safety_number(a.public))
    text("identity.b.seed", SEED_B.hex())
    text("identity.b.public_key", b.public_b64)
    text("identity.b.node_id", node_b)

    # Canonical JSON.
    out["canonical.input"] = ("json", CANONICAL_INPUT)
    text("canonical.output", canonical_bytes(parse(CANONICAL_INPUT)))
    text("canonical.output_hex", canonical_bytes(parse(CANONICAL_INPUT)).hex())

    # Envelopes: an experience record (seq 1), an alert chained to it (seq 2) and the alert's
    # retraction (seq 3).
    first = build_envelope(
        a,
        origin=node_a,
        kind="experience",
        record_id="exp-2026-0001",
        version=1,
        tlp="TLP:AMBER",
        seq=1,
        prev=None,
        created=CREATED,
        content=EXPERIENCE,
    )
    second = build_envelope(
        a,
        origin=node_a,
        kind="alert",
        record_id="alert-2026-0001",
        version=1,
        tlp="TLP:GREEN",
        seq=2,
        prev=envelope_ref(first),
        created=CREATED,
        content=ALERT,
    )
    third = build_envelope(
        a,
        origin=node_a,
        kind="retraction",
        record_id="alert-2026-0001",
        version=1,
        tlp="TLP:GREEN",
        seq=3,
        prev=envelope_ref(second),
        created=RETRACTED,
        content={},
    )
    for name, envelope in (("envelope1", first), ("envelope2", second), ("envelope3", third)):
        text(f"{name}.content", canonical_bytes(envelope["content"]))
        text(f"{name}.content_hash", envelope["hashes"]["sha256"])
        text(f"{name}.signed", signed_bytes(envelope))
        text(f"{name}.signature", envelope["signatures"]["ed25519:1"])
        text(f"{name}.ref", envelope_ref(envelope))
        out[f"{name}.json"] = ("json", _pretty(envelope))

    # Case bands for the default small-number threshold and two others.
    bands = {str(k): list(case_bands(k)) for k in (5, 3, 10)}
    out["case_bands"] = ("json", _pretty(bands))

    # Descriptor of node A.
    descriptor = build_descriptor(
        [a], node_id=node_a, name="Präventionsrat Musterstadt", url=URL_A + "/", valid_until=VALID_UNTIL
    )
    text("descriptor.signed", canonical_bytes({k: v for k, v in descriptor.items() if k != "signatures"}))
    text("descriptor.signature", descriptor["signatures"]["ed25519:1"])
    out["descriptor.json"] = ("json", _pretty(descriptor))

    # What a receiver holding A's key must refuse (sections 6.5, 8.5 and 4): A's descriptor as an
    # attacker writes it, signed only by the attacker's key; and envelope 1 with data in `unsigned`.
    attacker = NodeKey.from_seed(SEED_ATTACKER, 2)
    forged = build_descriptor(
        [attacker],
        node_id=node_a,
        name="Präventionsrat Musterstadt",
        url=URL_A,
        valid_until=VALID_UNTIL,
        old_keys={"ed25519:1": {"key": a.public_b64, "expired": "2026-01-15T09:30:00Z"}},
        revoked={"ed25519:1": {"since": "2026-01-15T09:30:00Z"}},
        revocation_version=2**53 - 1,
    )
    out["refused.forged_revocation.json"] = ("json", _pretty(forged))
    out["refused.unsigned_data.json"] = ("json", _pretty(first | {"unsigned": {"internal_notes": "geheim"}}))

    # A signed inbox request from A to B, and B's signed answer.
    body = canonical_bytes({"envelopes": [first]})
    request = HttpRequest(method="PUT", url=URL_B + "/fed/v1/inbox/txn-0001", headers={})
    sign_request(request, body, a, node_a, nonce=REQUEST_NONCE, created=CREATED)
    text("request.line", f"{request.method} {request.url}")
    text("request.body", body)
    text("request.content_digest", request.headers["Content-Digest"])
    text("request.signature_base", _request_base(request, body, a, node_a))
    text("request.signature_input", request.headers["Signature-Input"])
    text("request.signature", request.headers["Signature"])

    answer = canonical_bytes({"results": [result(0, first, "accepted")]})
    response = HttpResponse(status_code=200, headers={}, request=request)
    sign_response(response, answer, b, node_b, nonce=RESPONSE_NONCE, created=CREATED)
    text("response.body", answer)
    text("response.content_digest", response.headers["Content-Digest"])
    text("response.signature_base", _response_base(response, answer))
    text("response.signature_input", response.headers["Signature-Input"])
    text("response.signature", response.headers["Signature"])

    # A network: its key and id, node A's membership certificate, a revocation list that revokes a
    # certificate of node C, and node A's join code, with node B as the operator's node.
    network = NodeKey.from_seed(SEED_NETWORK)
    node_c = node_id_for(NodeKey.from_seed(SEED_C).public)
    text("network.seed", SEED_NETWORK.hex())
    text("network.public_key", network.public_b64)
    text("network.id_digest", hashlib.sha256(b"praevnet-network-id:" + network.public).digest()[:20].hex())
    text("network.id", network_id_for(network.public))
    text("network.c.seed", SEED_C.hex())
    text("network.c.node_id", node_c)
    certificate = issue_certificate(
        network,
        node_id=node_a,
        fingerprint=fingerprint(a.public),
        roles=["member"],
        not_before=CERT_NOT_BEFORE,
        expires=CERT_EXPIRES,
        serial=1,
    )
    text("network.certificate.signed", canonical_bytes({k: v for k, v in certificate.items() if k != "signature"}))
    text("network.certificate.signature", certificate["signature"])
    out["network.certificate.json"] = ("json", _pretty(certificate))
    revocations = issue_revocations(
        network,
        version=2,
        issued=CREATED,
        expires=LIST_EXPIRES,
        revoked=[{"serial": 4, "node_id": node_c, "since": format_timestamp(REVOKED_SINCE)}],
    )
    text("network.revocations.signed", canonical_bytes({k: v for k, v in revocations.items() if k != "signature"}))
    text("network.revocations.signature", revocations["signature"])
    out["network.revocations.json"] = ("json", _pretty(revocations))
    join_code = make_bundle(
        network_public=network.public,
        name=NETWORK_NAME,
        operator_url=URL_OPERATOR,
        operator_fingerprint=fingerprint(b.public),
        certificate=certificate,
    )
    text("network.join_code", join_code)
    join = {
        "network": network_id_for(network.public),
        "name": NETWORK_NAME,
        "key": network.public_b64,
        "operator_url": URL_OPERATOR,
        "operator_fingerprint": fingerprint(b.public),
        "certificate": certificate,
    }
    assert parse(b64url_decode(join_code.removeprefix(BUNDLE_PREFIX))) == join
    out["network.join_code.json"] = ("json", _pretty(join))

    # Peering (section 8A.6): the network's card, and its statement that it peers with a second network.
    card = issue_card(
        network,
        name=NETWORK_NAME,
        operator_node=node_b,
        operator_url=URL_OPERATOR,
        operator_fingerprint=fingerprint(b.public),
        issued=CREATED,
    )
    text("peering.card.signed", canonical_bytes({k: v for k, v in card.items() if k != "signature"}))
    out["peering.card.json"] = ("json", _pretty(card))
    peer = NodeKey.from_seed(SEED_PEER_NETWORK)
    text("peering.peer.seed", SEED_PEER_NETWORK.hex())
    text("peering.peer.id", network_id_for(peer.public))
    statement = issue_peering(network, peer_key=peer.public, not_before=CERT_NOT_BEFORE, expires=CERT_EXPIRES, serial=1)
    text("peering.statement.signed", canonical_bytes({k: v for k, v in statement.items() if k != "signature"}))
    out["peering.statement.json"] = ("json", _pretty(statement))
    return out


def _request_base(request: HttpRequest, body: bytes, key: NodeKey, node_id: str) -> str:
    """The request's signature base, as the signing library builds it for sign_request."""
    fresh = HttpRequest(method=request.method, url=request.url, headers={})
    prepared = HTTPMessageSigner(signature_algorithm=algorithms.ED25519).prepare(
        fresh,
        key_id=http_key_id(node_id, key.key_id),
        created=CREATED,
        nonce=REQUEST_NONCE,
        label=LABEL,
        tag=TAG,
        covered_component_ids=REQUEST_SIGNED,
        body=body,
    )
    return prepared.signature_base.decode("ascii")


def _response_base(response: HttpResponse, body: bytes) -> str:
    """The response's signature base, written out by hand from SPEC.md's rules."""
    params = response.headers["Signature-Input"].removeprefix(f"{LABEL}=")
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    request_signature = response.request.headers["Signature"].removeprefix(f"{LABEL}=")
    lines = [
        f'"@status": {response.status_code}',
        f'"@method";req: {response.request.method}',
        f'"@target-uri";req: {response.request.url}',
        f'"signature";req;key="{LABEL}": {request_signature}',
        f'"content-digest": {digest}',
        f'"@signature-params": {params}',
    ]
    return "\n".join(lines)


def spec_blocks() -> dict[str, tuple[str, str]]:
    """The vector blocks of SPEC.md, by name."""
    blocks: dict[str, tuple[str, str]] = {}
    for kind, name, body in BLOCK_RE.findall(SPEC.read_text(encoding="utf-8")):
        assert name not in blocks, f"vector {name} appears twice in SPEC.md"
        blocks[name] = (kind, body)
    return blocks


DERIVED = derive()


def test_spec_has_exactly_the_derived_vectors() -> None:
    blocks = spec_blocks()
    assert sorted(blocks) == sorted(DERIVED)


@pytest.mark.parametrize("name", sorted(DERIVED))
def test_spec_vector_matches(name: str) -> None:
    kind, expected = DERIVED[name]
    found_kind, found = spec_blocks()[name]
    assert found_kind == kind
    if kind == "json":
        assert parse(found) == parse(expected)
    else:
        assert found == expected


# --- independent checks of the vectors against the rules as SPEC.md states them ---------------


def _v(name: str) -> str:
    return DERIVED[name][1]


def test_identity_vectors_follow_the_stated_derivation() -> None:
    public = bytes.fromhex(_v("identity.public_key_hex"))
    digest = hashlib.sha256(b"praevnet-node-id:" + public).digest()[:20]
    assert _v("identity.node_id_digest") == digest.hex()
    assert _v("identity.node_id") == "pn" + base64.b32encode(digest).decode("ascii").lower()
    assert _v("identity.public_key") == base64.urlsafe_b64encode(public).decode().rstrip("=")
    assert _v("identity.fingerprint") == "SHA256:" + base64.b64encode(hashlib.sha256(public).digest()).decode().rstrip(
        "="
    )


def test_envelope_vectors_verify() -> None:
    a = NodeKey.from_seed(SEED_A)
    node_a = node_id_for(a.public)

    def resolve(origin: str, kid: str) -> bytes | None:
        return a.public if (origin, kid) == (node_a, "ed25519:1") else None

    first, second, third = (parse(_v(f"envelope{n}.json")) for n in (1, 2, 3))
    for name, envelope in (("envelope1", first), ("envelope2", second), ("envelope3", third)):
        verified = verify_envelope(envelope, resolve)
        assert verified.ref == _v(f"{name}.ref") == sha256_b64url(_v(f"{name}.signed").encode())
        assert content_hash(envelope["content"]) == _v(f"{name}.content_hash")
        assert _v(f"{name}.content_hash") == sha256_b64url(_v(f"{name}.content").encode())
        verify(a.public, b64url_decode(_v(f"{name}.signature")), _v(f"{name}.signed").encode())
        assert verify_envelope(redact(envelope), resolve).ref == verified.ref
        signed = json.loads(_v(f"{name}.signed"))
        assert set(signed) == {"type", "id", "version", "tlp", "origin", "seq", "prev", "created", "hashes"}
        assert (signed["version"], signed["tlp"]) == (verified.version, verified.tlp)
    assert second["prev"] == _v("envelope1.ref")
    assert third["prev"] == _v("envelope2.ref")
    # The retraction names the alert's id and version, carries its label and has empty content.
    assert (third["type"], third["id"], third["version"], third["tlp"]) == (
        "retraction",
        second["id"],
        second["version"],
        second["tlp"],
    )
    assert _v("envelope3.content") == "{}"
    assert _v("envelope3.content_hash") == sha256_b64url(b"{}")


def test_case_band_vector_follows_the_stated_rule() -> None:
    bands = parse(_v("case_bands"))
    for key, (below, low, middle, high) in bands.items():
        k = int(key)
        assert (below, low, middle, high) == (f"<{k}", f"{k}-{2 * k - 1}", f"{2 * k}-{4 * k - 1}", f"{4 * k}+")
        assert [case_band(n, k) for n in (0, k - 1, k, 2 * k - 1, 2 * k, 4 * k - 1, 4 * k)] == [
            below,
            below,
            low,
            low,
            middle,
            middle,
            high,
        ]
    assert bands["5"] == ["<5", "5-9", "10-19", "20+"]


def test_descriptor_vector_verifies() -> None:
    descriptor = parse(_v("descriptor.json"))
    assert verify_descriptor(descriptor, now=CREATED) == descriptor
    a = NodeKey.from_seed(SEED_A)
    verify(a.public, b64url_decode(_v("descriptor.signature")), _v("descriptor.signed").encode())


def test_refused_vectors_are_well_formed_yet_refused() -> None:
    """The forged revocation verifies on its own (6.2) but no key A's peers hold signed it (6.5);
    the envelope's signature verifies but its `unsigned` member holds data (4.2)."""
    a = NodeKey.from_seed(SEED_A)
    forged = verify_descriptor(parse(_v("refused.forged_revocation.json")), now=CREATED)
    assert forged["revocation_version"] == 2**53 - 1
    assert not follows_from(forged, {"ed25519:1": a.public})
    leaky = parse(_v("refused.unsigned_data.json"))
    origin = node_id_for(a.public)

    def resolve(node_id: str, key_id: str) -> bytes | None:
        return a.public if (node_id, key_id) == (origin, a.key_id) else None

    assert verify_envelope({k: v for k, v in leaky.items() if k != "unsigned"}, resolve).has_content
    with pytest.raises(ProtocolError, match="unsigned may hold only crossing"):
        verify_envelope(leaky, resolve)


def test_request_vector_signature_base_and_signature() -> None:
    a = NodeKey.from_seed(SEED_A)
    body = _v("request.body").encode()
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode() + ":"
    assert _v("request.content_digest") == digest
    params = _v("request.signature_input").removeprefix(f"{LABEL}=")
    method, url = _v("request.line").split(" ")
    by_hand = "\n".join(
        [
            f'"@method": {method}',
            '"@authority": praevnet.nachbarstadt.example',
            f'"@target-uri": {url}',
            f'"content-digest": {digest}',
            f'"@signature-params": {params}',
        ]
    )
    assert _v("request.signature_base") == by_hand
    assert params == (
        '("@method" "@authority" "@target-uri" "content-digest");created=1768469400;'
        f'keyid="{node_id_for(a.public)}#ed25519:1";alg="ed25519";nonce="{REQUEST_NONCE}";tag="praevnet"'
    )
    signature = _signature_header_value(_v("request.signature"))
    verify(a.public, signature, by_hand.encode("ascii"))


def test_response_vector_signature() -> None:
    b = NodeKey.from_seed(SEED_B)
    signature = _signature_header_value(_v("response.signature"))
    verify(b.public, signature, _v("response.signature_base").encode("ascii"))
    assert _v("response.signature_base").startswith('"@status": 200\n"@method";req: PUT\n')


def test_network_vectors_follow_the_stated_rules() -> None:
    network = NodeKey.from_seed(bytes.fromhex(_v("network.seed")))
    a, b = NodeKey.from_seed(SEED_A), NodeKey.from_seed(SEED_B)
    public = b64url_decode(_v("network.public_key"))
    assert public == network.public
    digest = hashlib.sha256(b"praevnet-network-id:" + public).digest()[:20]
    assert _v("network.id_digest") == digest.hex()
    network_id = "nw" + base64.b32encode(digest).decode("ascii").lower()
    assert _v("network.id") == network_id
    assert network_id[2:] != node_id_for(public)[2:]
    assert _v("network.c.node_id") == node_id_for(NodeKey.from_seed(bytes.fromhex(_v("network.c.seed"))).public)

    # Certificate: signed bytes are the canonical bytes of every member but the signature.
    certificate = parse(_v("network.certificate.json"))
    assert set(certificate) == {
        "type",
        "network",
        "node_id",
        "fingerprint",
        "roles",
        "not_before",
        "expires",
        "serial",
        "signature",
    }
    body = {k: v for k, v in certificate.items() if k != "signature"}
    assert canonical_bytes(body).decode() == _v("network.certificate.signed")
    assert certificate["signature"] == _v("network.certificate.signature")
    verify(public, b64url_decode(_v("network.certificate.signature")), _v("network.certificate.signed").encode())
    assert (certificate["network"], certificate["node_id"], certificate["fingerprint"]) == (
        network_id,
        node_id_for(a.public),
        fingerprint(a.public),
    )
    membership = verify_certificate(certificate, public, now=CREATED)
    assert (membership.serial, membership.roles) == (1, ("member",))

    # Revocation list.
    revocations = parse(_v("network.revocations.json"))
    body = {k: v for k, v in revocations.items() if k != "signature"}
    assert canonical_bytes(body).decode() == _v("network.revocations.signed")
    assert revocations["signature"] == _v("network.revocations.signature")
    verify(public, b64url_decode(_v("network.revocations.signature")), _v("network.revocations.signed").encode())
    held = verify_revocations(revocations, public, now=CREATED, held_version=2)
    assert (held.version, set(held.serials), set(held.nodes)) == (2, {4}, {_v("network.c.node_id")})
    with pytest.raises(ProtocolError, match="rolled back"):
        verify_revocations(revocations, public, now=CREATED, held_version=3)
    node_a, fingerprint_a = node_id_for(a.public), fingerprint(a.public)
    accepted = check_member(certificate, public, held, node_id=node_a, fingerprints=[fingerprint_a], now=CREATED)
    assert accepted == membership

    # Join code: the prefix and the base64url of the canonical bytes of its JSON.
    join = parse(_v("network.join_code.json"))
    encoded = base64.urlsafe_b64encode(canonical_bytes(join)).decode().rstrip("=")
    assert _v("network.join_code") == BUNDLE_PREFIX + encoded
    assert join["certificate"] == certificate
    assert (join["network"], join["key"]) == (network_id, _v("network.public_key"))
    assert join["operator_fingerprint"] == fingerprint(b.public)
    bundle = parse_bundle(_v("network.join_code"))
    assert (bundle.network, bundle.key, bundle.name, bundle.operator_url) == (
        network_id,
        public,
        NETWORK_NAME,
        URL_OPERATOR,
    )


def test_peering_vectors_follow_the_stated_rules() -> None:
    network = NodeKey.from_seed(bytes.fromhex(_v("network.seed")))
    peer = NodeKey.from_seed(bytes.fromhex(_v("peering.peer.seed")))
    assert _v("peering.peer.id") == network_id_for(peer.public)
    card = parse(_v("peering.card.json"))
    assert canonical_bytes({k: v for k, v in card.items() if k != "signature"}).decode() == _v("peering.card.signed")
    verify(network.public, b64url_decode(card["signature"]), _v("peering.card.signed").encode())
    verified = verify_card(card)
    assert (verified.network, verified.key, verified.operator_url) == (_v("network.id"), network.public, URL_OPERATOR)
    assert fingerprint(verified.key) == fingerprint(b64url_decode(_v("network.public_key")))
    statement = parse(_v("peering.statement.json"))
    signed = _v("peering.statement.signed")
    assert canonical_bytes({k: v for k, v in statement.items() if k != "signature"}).decode() == signed
    verify(network.public, b64url_decode(statement["signature"]), signed.encode())
    peering = verify_peering(statement, network.public)
    assert (peering.network, peering.peer_network, peering.labels) == (
        _v("network.id"),
        _v("peering.peer.id"),
        ("TLP:CLEAR",),
    )
    with pytest.raises(ProtocolError, match="rolled back"):
        verify_peering(statement, network.public, held_serial=2)
    with pytest.raises(ProtocolError, match="signature"):
        verify_peering(statement, peer.public)


def render() -> str:
    """All vector blocks in order, for pasting into SPEC.md."""
    parts = []
    for name, (kind, body) in DERIVED.items():
        parts.append(f"```{kind} vector={name}\n{body}\n```")
    return "\n\n".join(parts)


if __name__ == "__main__":
    print(render())
