"""Signed envelopes: build, verify, tamper, redact."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from protocol.canonical import canonical_bytes
from protocol.encoding import b64url, b64url_decode, sha256_b64url
from protocol.envelope import (
    build_envelope,
    content_hash,
    envelope_ref,
    redact,
    signed_bytes,
    signing_form,
    verify_envelope,
)
from protocol.errors import EnvelopeError, ProtocolError, SchemaError, SignatureError
from protocol.keys import NodeKey, node_id_for
from protocol.tlp import LABELS

KEY = NodeKey.from_seed(bytes(range(32)))
OTHER = NodeKey.from_seed(bytes(range(1, 33)))
ORIGIN = node_id_for(KEY.public)
OTHER_ORIGIN = node_id_for(OTHER.public)
CREATED = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
CONTENT = {
    "title": "Sicherer Schulweg",
    "summary": "Eltern, Schule und Ordnungsamt begleiten den Schulweg.",
    "topics": ["öffentlicher Raum"],
    "implementation": {"duration": "2 Jahre", "partners": ["Grundschule Nord"]},
}
ALERT = {
    "headline": "Falsche Handwerker an der Haustür",
    "area": {"name": "Nordstadt", "ars": "064140000000"},
    "expires": "2026-12-31T00:00:00Z",
    "case_band": "5-9",
}

Resolver = Callable[[str, str], bytes | None]


def resolver(keys: dict[tuple[str, str], bytes]) -> Resolver:
    return lambda origin, kid: keys.get((origin, kid))


TRUSTED = resolver({(ORIGIN, "ed25519:1"): KEY.public, (OTHER_ORIGIN, "ed25519:1"): OTHER.public})


def make(seq: int = 1, prev: str | None = None, content: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "origin": ORIGIN,
        "kind": "experience",
        "record_id": "rec-0001abcd",
        "version": 1,
        "tlp": "TLP:AMBER",
        "seq": seq,
        "prev": prev,
        "created": CREATED,
        "content": CONTENT if content is None else content,
    }
    args.update(kw)
    return build_envelope(KEY, **args)


def resign(envelope: dict[str, Any], key: NodeKey = KEY) -> dict[str, Any]:
    """Sign an arbitrary (possibly malicious) envelope the way an attacker holding the key would."""
    envelope = dict(envelope)
    envelope.pop("signatures", None)
    envelope["signatures"] = {key.key_id: b64url(key.sign(signed_bytes(envelope)))}
    return envelope


# --- building and verifying -------------------------------------------------------------------


def test_build_and_verify_roundtrip() -> None:
    envelope = make()
    assert set(envelope) == {
        "type",
        "id",
        "version",
        "tlp",
        "origin",
        "seq",
        "prev",
        "created",
        "content",
        "hashes",
        "signatures",
    }
    assert envelope["created"] == "2026-11-22T08:00:00Z"
    assert envelope["hashes"] == {"sha256": sha256_b64url(canonical_bytes(CONTENT))}
    verified = verify_envelope(envelope, TRUSTED)
    assert verified.kind == "experience"
    assert verified.id == "rec-0001abcd"
    assert verified.version == 1
    assert verified.tlp == "TLP:AMBER"
    assert verified.origin == ORIGIN
    assert verified.seq == 1
    assert verified.prev is None
    assert verified.created == CREATED
    assert verified.key_id == "ed25519:1"
    assert verified.has_content
    assert verified.ref == envelope_ref(envelope)
    assert verified.envelope == envelope


def test_verify_survives_json_roundtrip() -> None:
    from protocol.canonical import parse

    envelope = make(content=ALERT, kind="alert")
    assert verify_envelope(parse(canonical_bytes(envelope)), TRUSTED).kind == "alert"


def test_signature_covers_the_redacted_form() -> None:
    envelope = make()
    form = signing_form(envelope)
    assert set(form) == {"type", "id", "version", "tlp", "origin", "seq", "prev", "created", "hashes"}
    assert signed_bytes(envelope) == canonical_bytes(form)
    signature = b64url_decode(envelope["signatures"]["ed25519:1"])
    from protocol.keys import verify

    verify(KEY.public, signature, canonical_bytes(form))


def test_content_hash() -> None:
    assert content_hash(CONTENT) == sha256_b64url(canonical_bytes(CONTENT))
    assert content_hash(dict(reversed(list(CONTENT.items())))) == content_hash(CONTENT)


def test_chain_of_envelopes() -> None:
    first = make()
    second = make(seq=2, prev=envelope_ref(first), record_id="rec-0002abcd")
    verified = verify_envelope(second, TRUSTED)
    assert verified.prev == envelope_ref(first)
    assert verified.seq == 2


def test_unsigned_part_is_not_covered() -> None:
    envelope = make()
    envelope["unsigned"] = {"crossing": {"certificate": {}, "key_id": "ed25519:1", "key": "", "revocations": {}}}
    assert verify_envelope(envelope, TRUSTED).has_content
    assert signed_bytes(envelope) == signed_bytes(make())


def test_unsigned_must_be_an_object() -> None:
    envelope = make()
    envelope["unsigned"] = "x"
    with pytest.raises(EnvelopeError, match="unsigned"):
        verify_envelope(envelope, TRUSTED)


@pytest.mark.parametrize(
    ("unsigned", "problem"),
    [
        ({"internal_notes": "LOCAL-ONLY"}, "refusing 'internal_notes'"),
        ({"crossing": {}, "received": "2026-11-22T08:01:00Z"}, "refusing 'received'"),
        ({}, "must hold crossing"),
        ({"crossing": "x"}, "unsigned.crossing must be an object"),
    ],
)
def test_unsigned_holds_only_a_crossing_attachment(unsigned: Any, problem: str) -> None:
    """Issue 11, item 12: data no signature covers is limited to what SPEC defines for `unsigned`."""
    envelope = make()
    envelope["unsigned"] = unsigned
    with pytest.raises(EnvelopeError, match=problem):
        verify_envelope(envelope, TRUSTED)


# --- tampering --------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(envelope: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target = envelope
        for name in parents:
            target = target[name]
        target[last] = value

    return change


def _drop(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda envelope: envelope.pop(name)


def _flip_signature(envelope: dict[str, Any]) -> None:
    raw = bytearray(b64url_decode(envelope["signatures"]["ed25519:1"]))
    raw[0] ^= 0x80
    envelope["signatures"]["ed25519:1"] = b64url(bytes(raw))


TAMPERING: dict[str, tuple[Callable[[dict[str, Any]], None], type[ProtocolError], str]] = {
    "content changed": (_set("content.title", "Anderer Titel"), EnvelopeError, "content does not match"),
    "content member added": (_set("content.problem", "neu"), EnvelopeError, "content does not match"),
    "hashes changed": (_set("hashes.sha256", sha256_b64url(b"other")), SignatureError, "does not verify"),
    "seq changed": (_set("seq", 2), EnvelopeError, "prev must be"),
    "seq changed, prev set": (_set("prev", sha256_b64url(b"x")), EnvelopeError, "seq 1"),
    "origin changed": (_set("origin", OTHER_ORIGIN), SignatureError, "does not verify"),
    "origin unknown": (_set("origin", "pn" + "a" * 32), SignatureError, "no signature by a known key"),
    "id changed": (_set("id", "rec-9999abcd"), SignatureError, "does not verify"),
    "type changed": (_set("type", "alert"), SignatureError, "does not verify"),
    "type changed to retraction": (_set("type", "retraction"), SignatureError, "does not verify"),
    "version raised": (_set("version", 2), SignatureError, "does not verify"),
    "version at the maximum": (_set("version", 2**53 - 1), SignatureError, "does not verify"),
    "tlp loosened": (_set("tlp", "TLP:CLEAR"), SignatureError, "does not verify"),
    "tlp tightened": (_set("tlp", "TLP:RED"), SignatureError, "does not verify"),
    "tlp unknown": (_set("tlp", "TLP:WHITE"), EnvelopeError, "tlp: must be one of"),
    "tlp lower case": (_set("tlp", "tlp:amber"), EnvelopeError, "tlp: must be one of"),
    "version zero": (_set("version", 0), EnvelopeError, "version must be a positive integer"),
    "version bool": (_set("version", True), EnvelopeError, "version must be a positive integer"),
    "version text": (_set("version", "1"), EnvelopeError, "version must be a positive integer"),
    "version float": (_set("version", 1.0), EnvelopeError, "floating-point"),
    "version too big": (_set("version", 2**53), EnvelopeError, "outside"),
    "created changed": (_set("created", "2026-11-22T08:00:01Z"), SignatureError, "does not verify"),
    "signature flipped": (_flip_signature, SignatureError, "does not verify"),
    "signature removed": (_set("signatures", {}), SignatureError, "not signed"),
    "signatures missing": (_drop("signatures"), SignatureError, "not signed"),
    "signature malformed": (_set("signatures.ed25519:1", "!!"), SignatureError, "malformed"),
    "signature key id malformed": (_set("signatures", {"ed25519": "AAAA"}), SignatureError, "malformed"),
    "signature short": (_set("signatures.ed25519:1", b64url(b"x" * 32)), SignatureError, "64 bytes"),
    "signature under unknown key id only": (
        lambda e: e.update(signatures={"ed25519:7": e["signatures"]["ed25519:1"]}),
        SignatureError,
        "no signature by a known key",
    ),
    "extra unknown field": (_set("extra", 1), EnvelopeError, "unknown envelope field 'extra'"),
    "missing type": (_drop("type"), EnvelopeError, "'type' is missing"),
    "missing id": (_drop("id"), EnvelopeError, "'id' is missing"),
    "missing version": (_drop("version"), EnvelopeError, "'version' is missing"),
    "missing tlp": (_drop("tlp"), EnvelopeError, "'tlp' is missing"),
    "missing origin": (_drop("origin"), EnvelopeError, "'origin' is missing"),
    "missing seq": (_drop("seq"), EnvelopeError, "'seq' is missing"),
    "missing prev": (_drop("prev"), EnvelopeError, "'prev' is missing"),
    "missing created": (_drop("created"), EnvelopeError, "'created' is missing"),
    "missing hashes": (_drop("hashes"), EnvelopeError, "'hashes' is missing"),
    "hashes with extra member": (_set("hashes.sha512", "x"), EnvelopeError, "exactly one member"),
    "bad origin": (_set("origin", "node-a"), EnvelopeError, "malformed node id"),
    "bad id": (_set("id", "short"), EnvelopeError, "id must be"),
    "id with newline": (_set("id", "rec-0001abcd\n"), EnvelopeError, "id must be"),
    "bad created": (_set("created", "2026-11-22T08:00:00"), EnvelopeError, "UTC offset"),
    "unknown type": (_set("type", "note"), EnvelopeError, "unknown type"),
    "float inside content": (_set("content.implementation.duration", 2.5), EnvelopeError, "floating-point"),
    "big integer in content": (_set("content.title", 2**60), EnvelopeError, "outside"),
    "content not an object": (_set("content", ["x"]), EnvelopeError, "content must be an object"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_envelope_is_refused(case: str) -> None:
    change, error, message = TAMPERING[case]
    envelope = copy.deepcopy(make())
    change(envelope)
    with pytest.raises(error, match=message):
        verify_envelope(envelope, TRUSTED)


@pytest.mark.parametrize("seq", [True, False, 0, -1, "1", None])
def test_bad_seq_is_refused_even_when_signed(seq: Any) -> None:
    envelope = make()
    envelope["seq"] = seq
    with pytest.raises(EnvelopeError, match="seq must be a positive integer"):
        verify_envelope(resign(envelope), TRUSTED)


@pytest.mark.parametrize(("seq", "message"), [(2**53, "outside"), (1.0, "floating-point")])
def test_seq_outside_the_profile_is_refused(seq: Any, message: str) -> None:
    envelope = make()
    envelope["seq"] = seq
    with pytest.raises(EnvelopeError, match=message):
        verify_envelope(envelope, TRUSTED)


def test_bool_seq_is_refused_by_build() -> None:
    with pytest.raises(EnvelopeError, match="seq must be a positive integer"):
        make(seq=True)


def test_seq_one_with_prev_is_refused() -> None:
    prev = envelope_ref(make())
    with pytest.raises(EnvelopeError, match="seq 1"):
        make(seq=1, prev=prev)
    envelope = make()
    envelope["prev"] = prev
    with pytest.raises(EnvelopeError, match="seq 1"):
        verify_envelope(resign(envelope), TRUSTED)


@pytest.mark.parametrize("prev", [None, "", "abc", sha256_b64url(b"x") + "=", sha256_b64url(b"x") + "\n", 5])
def test_seq_above_one_needs_a_prev_hash(prev: Any) -> None:
    with pytest.raises(EnvelopeError, match="prev must be"):
        make(seq=2, prev=prev)
    envelope = make()
    envelope["seq"] = 2
    envelope["prev"] = prev
    with pytest.raises(EnvelopeError, match="prev must be"):
        verify_envelope(resign(envelope), TRUSTED)


def test_resigned_tampering_is_only_accepted_with_the_origin_key() -> None:
    envelope = make()
    envelope["id"] = "rec-9999abcd"
    assert verify_envelope(resign(envelope), TRUSTED).id == "rec-9999abcd"
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(resign(envelope, OTHER), TRUSTED)


def test_signature_by_another_node_key_under_the_origin_key_id_is_refused() -> None:
    # OTHER signs an envelope claiming ORIGIN: the resolver gives ORIGIN's key, which does not verify it.
    envelope = make()
    envelope = resign(envelope, OTHER)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, TRUSTED)


def test_one_good_and_one_bad_signature_is_refused() -> None:
    envelope = make()
    v2 = NodeKey.from_seed(bytes(range(2, 34)), version=2)
    envelope["signatures"]["ed25519:2"] = b64url(v2.sign(b"something else"))
    both = resolver({(ORIGIN, "ed25519:1"): KEY.public, (ORIGIN, "ed25519:2"): v2.public})
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, both)


def test_extra_signature_under_unknown_key_id_is_ignored() -> None:
    envelope = make()
    envelope["signatures"]["ed25519:9"] = b64url(b"\x00" * 64)
    assert verify_envelope(envelope, TRUSTED).key_id == "ed25519:1"


@pytest.mark.parametrize("value", [None, "x", [], 1])
def test_non_object_envelope_is_refused(value: Any) -> None:
    with pytest.raises(EnvelopeError, match="JSON object"):
        verify_envelope(value, TRUSTED)


# --- content rules ----------------------------------------------------------------------------


def test_build_refuses_internal_notes() -> None:
    with pytest.raises(SchemaError, match="internal_notes") as info:
        make(content={**CONTENT, "internal_notes": "nur für uns"})
    assert info.value.field == "internal_notes"


def test_verify_refuses_internal_notes_even_when_signed() -> None:
    envelope = make()
    content = {**CONTENT, "internal_notes": "nur für uns"}
    envelope["content"] = content
    envelope["hashes"] = {"sha256": content_hash(content)}
    attacked = resign(envelope)
    with pytest.raises(SchemaError, match="local field") as info:
        verify_envelope(attacked, TRUSTED)
    assert info.value.field == "internal_notes"


def test_verify_refuses_content_outside_the_schema_even_when_signed() -> None:
    envelope = make()
    content = {**CONTENT, "colour": "blue"}
    envelope["content"] = content
    envelope["hashes"] = {"sha256": content_hash(content)}
    with pytest.raises(SchemaError, match="unknown field"):
        verify_envelope(resign(envelope), TRUSTED)


def test_build_refuses_float_in_content() -> None:
    with pytest.raises(ProtocolError):
        make(content={**CONTENT, "implementation": {"duration": 1.5}})


def test_verify_refuses_float_in_signed_content() -> None:
    envelope = make()
    envelope["content"] = {**CONTENT, "implementation": {"duration": 1.5}}
    with pytest.raises(EnvelopeError, match="floating-point"):
        verify_envelope(resign(envelope), TRUSTED)


def test_build_refuses_wrong_kind_for_content() -> None:
    with pytest.raises(SchemaError):
        make(kind="alert")


# --- redaction --------------------------------------------------------------------------------


def test_redacted_envelope_still_verifies() -> None:
    envelope = make()
    envelope["unsigned"] = {"crossing": {"note": "transport"}}
    tombstone = redact(envelope)
    assert "content" not in tombstone
    assert "unsigned" not in tombstone
    verified = verify_envelope(tombstone, TRUSTED)
    assert not verified.has_content
    assert verified.ref == envelope_ref(envelope)


def test_envelope_ref_is_stable_across_redaction() -> None:
    envelope = make()
    assert envelope_ref(redact(envelope)) == envelope_ref(envelope)
    assert envelope_ref(envelope) == sha256_b64url(signed_bytes(envelope))
    assert envelope_ref(make(record_id="rec-0002abcd")) != envelope_ref(envelope)


def test_redacted_envelope_with_tampered_hash_is_refused() -> None:
    tombstone = redact(make())
    tombstone["hashes"] = {"sha256": sha256_b64url(b"x")}
    with pytest.raises(SignatureError):
        verify_envelope(tombstone, TRUSTED)


def test_redact_does_not_change_the_original() -> None:
    envelope = make()
    redact(envelope)
    assert "content" in envelope


# --- versions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2, 17, 2**53 - 1])
def test_version_roundtrip(version: int) -> None:
    envelope = make(version=version)
    assert envelope["version"] == version
    assert verify_envelope(envelope, TRUSTED).version == version


@pytest.mark.parametrize("version", [True, False, 0, -1, "1", "2", None, [1], {"v": 1}])
def test_bad_version_is_refused_by_build(version: Any) -> None:
    with pytest.raises(EnvelopeError, match="version must be a positive integer"):
        make(version=version)


@pytest.mark.parametrize("version", [True, False, 0, -1, "1", None, [1]])
def test_bad_version_is_refused_even_when_signed(version: Any) -> None:
    envelope = make()
    envelope["version"] = version
    with pytest.raises(EnvelopeError, match="version must be a positive integer"):
        verify_envelope(resign(envelope), TRUSTED)


@pytest.mark.parametrize(("version", "message"), [(2**53, "outside"), (-(2**60), "outside"), (2.0, "floating-point")])
def test_version_outside_the_profile_is_refused(version: Any, message: str) -> None:
    envelope = make()
    envelope["version"] = version
    with pytest.raises(EnvelopeError, match=message):
        verify_envelope(envelope, TRUSTED)
    with pytest.raises(EnvelopeError, match="version must be a positive integer"):
        make(version=version)


def test_new_version_of_a_record_is_a_new_envelope_in_the_chain() -> None:
    first = make()
    second = make(seq=2, prev=envelope_ref(first), version=2, content={**CONTENT, "title": "Sicherer Schulweg 2"})
    verified = verify_envelope(second, TRUSTED)
    assert (verified.id, verified.version) == ("rec-0001abcd", 2)
    assert verified.ref != envelope_ref(first)
    assert second["hashes"] != first["hashes"]


def test_version_is_signed_even_when_the_content_is_the_same() -> None:
    # Two envelopes that differ only in version have different signed bytes and refs.
    assert signed_bytes(make(version=1)) != signed_bytes(make(version=2))
    assert envelope_ref(make(version=1)) != envelope_ref(make(version=2))


# --- TLP labels -------------------------------------------------------------------------------


@pytest.mark.parametrize("label", LABELS)
def test_every_label_roundtrips(label: str) -> None:
    envelope = make(tlp=label)
    assert envelope["tlp"] == label
    verified = verify_envelope(envelope, TRUSTED)
    assert verified.tlp == label
    assert verify_envelope(redact(envelope), TRUSTED).tlp == label


BAD_LABELS = ["TLP:WHITE", "tlp:red", "RED", "red", "TLP:RED ", " TLP:RED", "TLP: RED", "TLP:AMBER STRICT", "", None, 1]


@pytest.mark.parametrize("label", BAD_LABELS)
def test_unknown_label_is_refused_by_build(label: Any) -> None:
    with pytest.raises(EnvelopeError, match="tlp: must be one of TLP:RED, TLP:AMBER\\+STRICT"):
        make(tlp=label)


@pytest.mark.parametrize("label", [*BAD_LABELS, ["TLP:RED"], {"TLP:RED": 1}])
def test_unknown_label_is_refused_even_when_signed(label: Any) -> None:
    envelope = make()
    envelope["tlp"] = label
    with pytest.raises(EnvelopeError, match="tlp: must be one of"):
        verify_envelope(resign(envelope), TRUSTED)


@pytest.mark.parametrize(("signed", "claimed"), [("TLP:RED", "TLP:CLEAR"), ("TLP:AMBER", "TLP:GREEN")])
def test_relabelling_after_signing_breaks_the_signature(signed: str, claimed: str) -> None:
    # A relay cannot loosen the label to make an envelope forwardable.
    envelope = make(tlp=signed)
    envelope["tlp"] = claimed
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, TRUSTED)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(redact(envelope), TRUSTED)


# --- retractions ------------------------------------------------------------------------------


def make_retraction(version: int = 1, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"kind": "retraction", "seq": 2, "prev": envelope_ref(make()), "content": {}}
    args.update(kw)
    return make(version=version, **args)


def test_retraction_roundtrip() -> None:
    envelope = make_retraction(version=3, tlp="TLP:RED")
    assert envelope["type"] == "retraction"
    assert envelope["content"] == {}
    assert envelope["hashes"] == {"sha256": sha256_b64url(b"{}")}
    verified = verify_envelope(envelope, TRUSTED)
    assert verified.kind == "retraction"
    assert verified.id == "rec-0001abcd"  # the retracted record's id
    assert verified.version == 3  # every version up to 3 is retracted
    assert verified.tlp == "TLP:RED"
    assert verified.has_content


@pytest.mark.parametrize(
    "content", [{"title": "x"}, {"reason": "Fehler"}, {"internal_notes": "nur für uns"}, {"version": 1}]
)
def test_retraction_refuses_any_content_field(content: dict[str, Any]) -> None:
    name = next(iter(content))
    with pytest.raises(SchemaError, match="unknown field") as info:
        make_retraction(content=content)
    assert info.value.field == name
    envelope = make_retraction()
    envelope["content"] = content
    envelope["hashes"] = {"sha256": content_hash(content)}
    with pytest.raises(SchemaError, match="unknown field") as info:
        verify_envelope(resign(envelope), TRUSTED)
    assert info.value.field == name


def test_retraction_content_must_be_an_object() -> None:
    envelope = make_retraction()
    envelope["content"] = []
    envelope["hashes"] = {"sha256": sha256_b64url(b"[]")}
    with pytest.raises(EnvelopeError, match="content must be an object"):
        verify_envelope(resign(envelope), TRUSTED)


def test_retraction_with_content_added_after_signing_is_refused() -> None:
    envelope = make_retraction()
    envelope["content"] = {"title": "x"}
    with pytest.raises(EnvelopeError, match="content does not match"):
        verify_envelope(envelope, TRUSTED)


@pytest.mark.parametrize("change", [_set("version", 2), _set("id", "rec-9999abcd"), _set("type", "experience")])
def test_tampered_retraction_is_refused(change: Callable[[dict[str, Any]], None]) -> None:
    envelope = make_retraction()
    change(envelope)
    with pytest.raises(SignatureError, match="does not verify"):
        verify_envelope(envelope, TRUSTED)


def test_redacted_retraction_still_verifies() -> None:
    envelope = make_retraction(version=2)
    tombstone = redact(envelope)
    assert "content" not in tombstone
    verified = verify_envelope(tombstone, TRUSTED)
    assert (verified.kind, verified.version, verified.has_content) == ("retraction", 2, False)
    assert verified.ref == envelope_ref(envelope)


# --- containers -------------------------------------------------------------------------------


def test_envelope_must_be_made_of_plain_dicts_and_lists() -> None:
    from types import MappingProxyType

    with pytest.raises(EnvelopeError, match="mappingproxy is not a JSON value"):
        verify_envelope(MappingProxyType(make()), TRUSTED)
    envelope = make()
    envelope["hashes"] = MappingProxyType(envelope["hashes"])
    with pytest.raises(EnvelopeError, match=r"\$\.hashes: mappingproxy is not a JSON value"):
        verify_envelope(envelope, TRUSTED)


# --- issue 11: guards a mutation run found untested --------------------------------------------------

V2 = NodeKey.from_seed(bytes(range(2, 34)), version=2)


def with_signatures(envelope: dict[str, Any], *keys: NodeKey) -> dict[str, Any]:
    """`envelope` signed by each of `keys` under its own key id, as an origin signs with its current keys."""
    envelope = dict(envelope)
    envelope["signatures"] = {key.key_id: b64url(key.sign(signed_bytes(envelope))) for key in keys}
    return envelope


def test_issue11_a_signature_by_an_unknown_key_listed_first_does_not_hide_the_known_one() -> None:
    envelope = with_signatures(make(), V2)
    envelope["signatures"]["ed25519:1"] = b64url(b"\x00" * 64)  # sorts before ed25519:2; unknown here
    only_v2 = resolver({(ORIGIN, "ed25519:2"): V2.public})
    assert verify_envelope(envelope, only_v2).key_id == "ed25519:2"


def test_issue11_the_first_verifying_key_in_key_id_order_is_reported() -> None:
    envelope = with_signatures(make(), V2, KEY)
    both = resolver({(ORIGIN, "ed25519:1"): KEY.public, (ORIGIN, "ed25519:2"): V2.public})
    assert verify_envelope(envelope, both).key_id == "ed25519:1"
    assert verify_envelope(envelope, resolver({(ORIGIN, "ed25519:2"): V2.public})).key_id == "ed25519:2"


@pytest.mark.parametrize("network", ["", "nw", "NWABC", 5, None])
def test_a_malformed_network_is_refused_even_when_signed(network: Any) -> None:
    envelope = make()
    envelope["network"] = network
    with pytest.raises(EnvelopeError, match="network: malformed network id"):
        verify_envelope(resign(envelope), TRUSTED)


def test_the_largest_seq_verifies() -> None:
    largest = 2**53 - 1  # SPEC: integers stay within the interoperable range
    envelope = make(seq=largest, prev=envelope_ref(make()))
    assert verify_envelope(envelope, TRUSTED).seq == largest


def test_a_verified_envelope_cannot_be_changed_afterwards() -> None:
    verified = verify_envelope(make(), TRUSTED)
    with pytest.raises(AttributeError, match="cannot assign"):
        verified.tlp = "TLP:CLEAR"  # type: ignore[misc]


def test_a_verified_alert_carries_its_expiry_and_a_record_none() -> None:
    alert = verify_envelope(make(content=ALERT, kind="alert"), TRUSTED)
    assert alert.expires == datetime(2026, 12, 31, tzinfo=UTC)
    assert verify_envelope(make(), TRUSTED).expires is None


def test_a_verified_envelope_names_its_network() -> None:
    network = "nw" + "a" * 32
    assert verify_envelope(make(network=network), TRUSTED).network == network
    assert verify_envelope(make(), TRUSTED).network is None
