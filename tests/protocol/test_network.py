"""Networks: network ids, membership certificates, revocation lists, check_member and join codes.

Every refusal is tested on its own: each forged, tampered, malformed, expired or foreign document is
refused with a ProtocolError (a SignatureError where the network's signature is at fault).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.canonical import canonical_bytes, parse
from protocol.encoding import b64url
from protocol.errors import CanonicalError, ProtocolError, SignatureError
from protocol.keys import NodeKey, fingerprint, node_id_for
from protocol.network import (
    BUNDLE_PREFIX,
    CERT_FIELDS,
    REVOCATION_FIELDS,
    Bundle,
    Membership,
    Revocations,
    check_member,
    check_network_id,
    issue_certificate,
    issue_revocations,
    make_bundle,
    network_id_for,
    parse_bundle,
    verify_certificate,
    verify_revocations,
)

NETWORK = NodeKey.from_seed(bytes(range(96, 128)))
OTHER_NETWORK = NodeKey.from_seed(bytes(range(128, 160)))
MEMBER = NodeKey.from_seed(bytes(range(32)))
MEMBER_KEY2 = NodeKey.from_seed(bytes(range(2, 34)), version=2)
OTHER_NODE = NodeKey.from_seed(bytes(range(32, 64)))
NETWORK_ID = network_id_for(NETWORK.public)
OTHER_NETWORK_ID = network_id_for(OTHER_NETWORK.public)
NODE_ID = node_id_for(MEMBER.public)
OTHER_NODE_ID = node_id_for(OTHER_NODE.public)
FINGERPRINT = fingerprint(MEMBER.public)
NOT_BEFORE = datetime(2026, 1, 15, 0, 0, tzinfo=UTC)
EXPIRES = datetime(2027, 1, 15, 0, 0, tzinfo=UTC)
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SINCE = "2026-05-01T00:00:00Z"


def certificate(key: NodeKey = NETWORK, **changes: Any) -> dict[str, Any]:
    """A valid certificate for MEMBER, issued by `key`, with keyword arguments of issue_certificate changed."""
    args: dict[str, Any] = {
        "node_id": NODE_ID,
        "fingerprint": FINGERPRINT,
        "roles": ["member"],
        "not_before": NOT_BEFORE,
        "expires": EXPIRES,
        "serial": 7,
    }
    args.update(changes)
    return issue_certificate(key, **args)


def resign(document: dict[str, Any], key: NodeKey = NETWORK, **changes: Any) -> dict[str, Any]:
    """`document` with `changes` applied (a value of ... removes the member), signed again by `key`.

    This gets malformed documents past the signature check, to reach the checks behind it.
    """
    body = {k: v for k, v in document.items() if k != "signature"}
    for name, value in changes.items():
        if value is ...:
            del body[name]
        else:
            body[name] = value
    return {**body, "signature": b64url(key.sign(canonical_bytes(body)))}


def revocations(key: NodeKey = NETWORK, **changes: Any) -> dict[str, Any]:
    """A valid revocation list (version 3) revoking serial 99 of OTHER_NODE."""
    args: dict[str, Any] = {
        "version": 3,
        "issued": NOT_BEFORE,
        "expires": NOW + timedelta(days=7),
        "revoked": [{"serial": 99, "node_id": OTHER_NODE_ID, "since": SINCE}],
    }
    args.update(changes)
    return issue_revocations(key, **args)


# --- network ids ---------------------------------------------------------------------------------


def test_network_id_format_and_determinism() -> None:
    assert NETWORK_ID == network_id_for(NETWORK.public) == network_id_for(bytes(NETWORK.public))
    assert len(NETWORK_ID) == 34
    assert NETWORK_ID.startswith("nw")
    assert set(NETWORK_ID[2:]) <= set("abcdefghijklmnopqrstuvwxyz234567")
    assert check_network_id(NETWORK_ID) == NETWORK_ID
    assert NETWORK_ID != OTHER_NETWORK_ID


def test_network_id_follows_the_stated_derivation() -> None:
    digest = hashlib.sha256(b"praevnet-network-id:" + NETWORK.public).digest()[:20]
    derived = "nw" + base64.b32encode(digest).decode("ascii").lower()
    assert derived == NETWORK_ID


def test_network_id_is_not_the_node_id_of_the_same_key() -> None:
    # Different prefix and a different hash input: a network key never yields a node id's digits.
    assert network_id_for(MEMBER.public)[2:] != node_id_for(MEMBER.public)[2:]


@pytest.mark.parametrize(
    "text",
    [
        NODE_ID,  # a node id is not a network id
        NETWORK_ID.upper(),
        "NW" + NETWORK_ID[2:],
        NETWORK_ID[:-1],
        NETWORK_ID + "a",
        NETWORK_ID + "\n",
        " " + NETWORK_ID,
        NETWORK_ID[:-1] + "1",  # 1 is not in the base32 alphabet
        NETWORK_ID[:-1] + "=",
        "",
        None,
        34,
        NETWORK_ID.encode(),
    ],
)
def test_check_network_id_refuses(text: object) -> None:
    with pytest.raises(ProtocolError, match="malformed network id"):
        check_network_id(text)


# --- issuing certificates --------------------------------------------------------------------------


def test_issue_certificate_fields() -> None:
    cert = certificate(roles=["member", "hub", "member"])
    assert {k: v for k, v in cert.items() if k != "signature"} == {
        "type": "membership",
        "network": NETWORK_ID,
        "node_id": NODE_ID,
        "fingerprint": FINGERPRINT,
        "roles": ["hub", "member"],
        "not_before": "2026-01-15T00:00:00Z",
        "expires": "2027-01-15T00:00:00Z",
        "serial": 7,
    }
    assert set(cert) == CERT_FIELDS | {"signature"}


def test_issue_certificate_writes_utc_seconds() -> None:
    berlin = timezone(timedelta(hours=1))
    cert = certificate(not_before=datetime(2026, 1, 15, 1, 0, 0, 999, tzinfo=berlin))
    assert cert["not_before"] == "2026-01-15T00:00:00Z"


@pytest.mark.parametrize("roles", [[], ["admin"], ["member", "root"], ["Member"], ["member "]])
def test_issue_certificate_refuses_bad_roles(roles: list[str]) -> None:
    with pytest.raises(ProtocolError, match="roles"):
        certificate(roles=roles)


@pytest.mark.parametrize(
    "expires",
    [
        NOT_BEFORE,
        NOT_BEFORE - timedelta(seconds=1),
        NOT_BEFORE + timedelta(microseconds=500),  # the same second once written down
    ],
)
def test_issue_certificate_refuses_expiry_not_after_start(expires: datetime) -> None:
    with pytest.raises(ProtocolError, match="expire after"):
        certificate(expires=expires)


def test_issue_certificate_refuses_naive_times() -> None:
    with pytest.raises(ProtocolError, match="timezone-aware"):
        certificate(not_before=datetime(2026, 1, 15), expires=datetime(2027, 1, 15))


@pytest.mark.parametrize("node_id", ["", NETWORK_ID, NODE_ID.upper(), NODE_ID + "\n", NODE_ID[:-1]])
def test_issue_certificate_refuses_bad_node_id(node_id: str) -> None:
    with pytest.raises(ProtocolError, match="malformed node id"):
        certificate(node_id=node_id)


@pytest.mark.parametrize(
    "value", ["", "SHA256:abc", FINGERPRINT + "=", FINGERPRINT + "A", "sha256:" + FINGERPRINT[7:], MEMBER.public_b64]
)
def test_issue_certificate_refuses_bad_fingerprint(value: str) -> None:
    with pytest.raises(ProtocolError, match="fingerprint"):
        certificate(fingerprint=value)


@pytest.mark.parametrize("serial", [0, -1, True, 2**53])
def test_issue_certificate_refuses_bad_serial(serial: int) -> None:
    with pytest.raises(ProtocolError, match="serial"):
        certificate(serial=serial)


# --- verifying certificates ------------------------------------------------------------------------


def test_verify_certificate_roundtrip() -> None:
    cert = certificate(roles=["hub", "member"])
    expected = Membership(NETWORK_ID, NODE_ID, FINGERPRINT, ("hub", "member"), NOT_BEFORE, EXPIRES, 7)
    assert verify_certificate(cert, NETWORK.public, now=NOW) == expected
    assert verify_certificate(parse(canonical_bytes(cert)), NETWORK.public, now=NOW) == expected


def test_validity_window_is_half_open() -> None:
    cert = certificate()
    assert verify_certificate(cert, NETWORK.public, now=NOT_BEFORE).serial == 7
    assert verify_certificate(cert, NETWORK.public, now=EXPIRES - timedelta(seconds=1)).serial == 7
    with pytest.raises(ProtocolError, match="not valid yet"):
        verify_certificate(cert, NETWORK.public, now=NOT_BEFORE - timedelta(seconds=1))
    with pytest.raises(ProtocolError, match="expired"):
        verify_certificate(cert, NETWORK.public, now=EXPIRES)
    with pytest.raises(ProtocolError, match="expired"):
        verify_certificate(cert, NETWORK.public, now=EXPIRES + timedelta(days=1))


def test_times_compare_as_instants() -> None:
    # 01:00+01:00 is midnight UTC: valid from exactly NOT_BEFORE.
    cert = resign(certificate(), not_before="2026-01-15T01:00:00+01:00")
    with pytest.raises(ProtocolError, match="not valid yet"):
        verify_certificate(cert, NETWORK.public, now=NOT_BEFORE - timedelta(seconds=1))
    assert verify_certificate(cert, NETWORK.public, now=NOT_BEFORE).not_before == NOT_BEFORE


def test_forged_signature_by_another_key() -> None:
    forged = resign(certificate(), OTHER_NETWORK)  # still names NETWORK_ID
    with pytest.raises(SignatureError, match="does not verify"):
        verify_certificate(forged, NETWORK.public, now=NOW)


def test_member_key_cannot_sign_for_the_network() -> None:
    forged = resign(certificate(), MEMBER)
    with pytest.raises(SignatureError):
        verify_certificate(forged, NETWORK.public, now=NOW)


TAMPERED = {
    "type": "membershipx",
    "network": OTHER_NETWORK_ID,
    "node_id": OTHER_NODE_ID,
    "fingerprint": fingerprint(OTHER_NODE.public),
    "roles": ["hub", "member"],
    "not_before": "2025-01-15T00:00:00Z",
    "expires": "2037-01-15T00:00:00Z",
    "serial": 8,
}


def test_tampered_covers_every_field() -> None:
    assert set(TAMPERED) == CERT_FIELDS


@pytest.mark.parametrize("field", sorted(TAMPERED))
def test_any_tampered_field_breaks_the_signature(field: str) -> None:
    cert = certificate()
    assert cert[field] != TAMPERED[field]
    cert[field] = TAMPERED[field]
    with pytest.raises(SignatureError, match="does not verify"):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_tampered_timestamp_text_breaks_the_signature() -> None:
    # Same instant, other text: the exact signed text counts.
    cert = certificate()
    cert["expires"] = "2027-01-15T01:00:00+01:00"
    with pytest.raises(SignatureError):
        verify_certificate(cert, NETWORK.public, now=NOW)


@pytest.mark.parametrize("field", sorted(CERT_FIELDS | {"signature"}))
def test_missing_field(field: str) -> None:
    cert = certificate()
    del cert[field]
    with pytest.raises(ProtocolError, match=f"missing field '{field}'"):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_unknown_field_even_if_signed() -> None:
    for cert in ({**certificate(), "comment": "x"}, resign(certificate(), comment="x")):
        with pytest.raises(ProtocolError, match="unknown field 'comment'"):
            verify_certificate(cert, NETWORK.public, now=NOW)


@pytest.mark.parametrize("signature", [None, 5, ["x"], "", "not base64url!", "AAAA", b64url(bytes(63)), "A" * 86 + "="])
def test_malformed_signature(signature: object) -> None:
    cert = {**certificate(), "signature": signature}
    with pytest.raises(SignatureError):
        verify_certificate(cert, NETWORK.public, now=NOW)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("type", "revocations", "not a membership certificate"),
        ("type", None, "not a membership certificate"),
        ("network", OTHER_NETWORK_ID, "another network"),
        ("network", NODE_ID, "another network"),
        ("node_id", NETWORK_ID, "malformed node id"),
        ("node_id", 5, "malformed node id"),
        ("fingerprint", "SHA256:short", "fingerprint is malformed"),
        ("fingerprint", None, "fingerprint is malformed"),
        ("roles", "member", "roles"),
        ("roles", [], "roles"),
        ("roles", ["admin"], "roles"),
        ("roles", [["member"]], "roles"),
        ("roles", {"member": True}, "roles"),
        ("roles", ["member", "member"], "role twice"),
        ("serial", 0, "serial"),
        ("serial", -3, "serial"),
        ("serial", True, "serial"),
        ("serial", "7", "serial"),
        ("serial", None, "serial"),
        ("not_before", "2026-01-15T00:00:00", "UTC offset"),
        ("not_before", "2026-01-15", "UTC offset"),
        ("not_before", 1768435200, "UTC offset"),
        ("expires", "2027-02-30T00:00:00Z", "not a valid date-time"),
        ("expires", None, "UTC offset"),
    ],
)
def test_wrong_type_or_value_signed_by_the_network(field: str, value: Any, message: str) -> None:
    cert = resign(certificate(), **{field: value})
    with pytest.raises(ProtocolError, match=message):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_not_yet_valid() -> None:
    cert = certificate(not_before=NOW + timedelta(hours=1))
    with pytest.raises(ProtocolError, match="not valid yet"):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_expired() -> None:
    cert = certificate(not_before=NOW - timedelta(days=2), expires=NOW - timedelta(days=1))
    with pytest.raises(ProtocolError, match="has expired"):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_certificate_of_another_network() -> None:
    cert = certificate(OTHER_NETWORK)
    assert cert["network"] == OTHER_NETWORK_ID
    assert verify_certificate(cert, OTHER_NETWORK.public, now=NOW).network == OTHER_NETWORK_ID
    with pytest.raises(SignatureError):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_network_field_must_name_the_signing_network() -> None:
    # Signed by OTHER_NETWORK but claiming NETWORK's id: refused with OTHER_NETWORK's key.
    cert = resign(certificate(), OTHER_NETWORK)
    assert cert["network"] == NETWORK_ID
    with pytest.raises(ProtocolError, match="another network"):
        verify_certificate(cert, OTHER_NETWORK.public, now=NOW)


@pytest.mark.parametrize("document", [None, [], "cert", 7, True, [certificate()]])
def test_not_an_object(document: object) -> None:
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        verify_certificate(document, NETWORK.public, now=NOW)


@pytest.mark.parametrize("value", [7.0, 2**53, float("nan")])
def test_values_outside_the_profile(value: object) -> None:
    cert = {**certificate(), "serial": value}
    with pytest.raises(ProtocolError, match=r"\$\.serial"):
        verify_certificate(cert, NETWORK.public, now=NOW)


def test_float_and_duplicate_keys_are_refused_by_the_parser() -> None:
    text = canonical_bytes(certificate()).decode()
    assert '"serial":7' in text
    with pytest.raises(CanonicalError, match="floating-point"):
        parse(text.replace('"serial":7', '"serial":7.0'))
    with pytest.raises(CanonicalError, match="duplicate key 'serial'"):
        parse(text.replace('"serial":7', '"serial":7,"serial":8'))
    with pytest.raises(CanonicalError, match="duplicate key 'node_id'"):
        parse(text.replace('"node_id":', f'"node_id":"{OTHER_NODE_ID}","node_id":'))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_any_single_byte_change_is_refused(data: st.DataObject) -> None:
    raw = canonical_bytes(certificate())
    index = data.draw(st.integers(min_value=0, max_value=len(raw) - 1), label="index")
    byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != raw[index]), label="byte")
    changed = raw[:index] + bytes([byte]) + raw[index + 1 :]
    with pytest.raises(ProtocolError):
        verify_certificate(parse(changed), NETWORK.public, now=NOW)


# --- revocation lists ------------------------------------------------------------------------------


def test_revocations_roundtrip() -> None:
    document = revocations()
    assert set(document) == REVOCATION_FIELDS | {"signature"}
    assert {k: v for k, v in document.items() if k != "signature"} == {
        "type": "revocations",
        "network": NETWORK_ID,
        "version": 3,
        "issued": "2026-01-15T00:00:00Z",
        "expires": "2026-06-08T12:00:00Z",
        "revoked": [{"serial": 99, "node_id": OTHER_NODE_ID, "since": SINCE}],
    }
    expected = Revocations(NETWORK_ID, 3, NOW + timedelta(days=7), frozenset({99}), frozenset({OTHER_NODE_ID}))
    assert verify_revocations(document, NETWORK.public, now=NOW) == expected
    assert verify_revocations(parse(canonical_bytes(document)), NETWORK.public, now=NOW) == expected


def test_empty_revocation_list() -> None:
    held = verify_revocations(revocations(revoked=[]), NETWORK.public, now=NOW)
    assert (held.serials, held.nodes) == (frozenset(), frozenset())


def test_rollback_refused() -> None:
    document = revocations()
    for held in (0, 1, 2, 3):  # the same version again is fine
        assert verify_revocations(document, NETWORK.public, now=NOW, held_version=held).version == 3
    with pytest.raises(ProtocolError, match="rolled back from version 4 to 3"):
        verify_revocations(document, NETWORK.public, now=NOW, held_version=4)


def test_expired_list_refused() -> None:
    document = revocations()
    with pytest.raises(ProtocolError, match="revocation list has expired"):
        verify_revocations(document, NETWORK.public, now=NOW + timedelta(days=7))
    assert verify_revocations(document, NETWORK.public, now=NOW + timedelta(days=7, seconds=-1)).version == 3


def test_forged_revocation_list() -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        verify_revocations(resign(revocations(), OTHER_NETWORK), NETWORK.public, now=NOW)


def test_revocation_list_of_another_network() -> None:
    with pytest.raises(SignatureError):
        verify_revocations(revocations(OTHER_NETWORK), NETWORK.public, now=NOW)
    claims_other = resign(revocations(), OTHER_NETWORK)  # names NETWORK_ID
    with pytest.raises(ProtocolError, match="not a revocation list of this network"):
        verify_revocations(claims_other, OTHER_NETWORK.public, now=NOW)


def test_removing_an_entry_breaks_the_signature() -> None:
    two = [
        {"serial": 99, "node_id": OTHER_NODE_ID, "since": SINCE},
        {"serial": 7, "node_id": NODE_ID, "since": SINCE},
    ]
    document = revocations(revoked=two)
    assert verify_revocations(document, NETWORK.public, now=NOW).serials == {7, 99}
    document["revoked"] = document["revoked"][:1]
    with pytest.raises(SignatureError):
        verify_revocations(document, NETWORK.public, now=NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [("version", 4), ("expires", "2027-01-01T00:00:00Z"), ("issued", "2026-01-16T00:00:00Z"), ("revoked", [])],
)
def test_tampered_revocation_list(field: str, value: object) -> None:
    document = {**revocations(), field: value}
    with pytest.raises(SignatureError):
        verify_revocations(document, NETWORK.public, now=NOW)


@pytest.mark.parametrize("field", sorted(REVOCATION_FIELDS | {"signature"}))
def test_revocation_list_missing_field(field: str) -> None:
    document = revocations()
    del document[field]
    with pytest.raises(ProtocolError, match=f"missing field '{field}'"):
        verify_revocations(document, NETWORK.public, now=NOW)


def test_revocation_list_unknown_field_and_non_object() -> None:
    with pytest.raises(ProtocolError, match="unknown field 'note'"):
        verify_revocations(resign(revocations(), note="x"), NETWORK.public, now=NOW)
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        verify_revocations([revocations()], NETWORK.public, now=NOW)


def test_certificate_is_not_a_revocation_list() -> None:
    with pytest.raises(ProtocolError, match="missing field"):
        verify_revocations(certificate(), NETWORK.public, now=NOW)
    with pytest.raises(ProtocolError, match="missing field"):
        verify_certificate(revocations(), NETWORK.public, now=NOW)


GOOD_ENTRY = {"serial": 99, "node_id": OTHER_NODE_ID, "since": SINCE}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"type": "membership"}, "not a revocation list"),
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"version": "3"}, "version"),
        ({"issued": "yesterday"}, "UTC offset"),
        ({"issued": None}, "UTC offset"),
        ({"expires": "2026-06-08T12:00:00"}, "UTC offset"),
        ({"expires": "2026-01-15T00:00:00Z"}, "expires before it was issued"),
        ({"issued": "2026-06-08T13:00:00+01:00"}, "expires before it was issued"),
        ({"revoked": {"99": GOOD_ENTRY}}, "revoked must be an array"),
        ({"revoked": None}, "revoked must be an array"),
        ({"revoked": [99]}, "exactly serial, node_id and since"),
        ({"revoked": [[99, OTHER_NODE_ID, SINCE]]}, "exactly serial, node_id and since"),
        ({"revoked": [{"serial": 99, "node_id": OTHER_NODE_ID}]}, "exactly serial, node_id and since"),
        ({"revoked": [{**GOOD_ENTRY, "reason": "x"}]}, "exactly serial, node_id and since"),
        ({"revoked": [{**GOOD_ENTRY, "serial": "99"}]}, "serial"),
        ({"revoked": [{**GOOD_ENTRY, "serial": True}]}, "serial"),
        ({"revoked": [{**GOOD_ENTRY, "serial": 0}]}, "serial"),
        ({"revoked": [{**GOOD_ENTRY, "node_id": NETWORK_ID}]}, "malformed node id"),
        ({"revoked": [{**GOOD_ENTRY, "node_id": None}]}, "malformed node id"),
        ({"revoked": [{**GOOD_ENTRY, "since": "2026-05-01"}]}, "UTC offset"),
        ({"revoked": [GOOD_ENTRY, {**GOOD_ENTRY, "since": 0}]}, "UTC offset"),
    ],
)
def test_malformed_revocation_list_signed_by_the_network(changes: dict[str, Any], message: str) -> None:
    document = resign(revocations(), **changes)
    with pytest.raises(ProtocolError, match=message):
        verify_revocations(document, NETWORK.public, now=NOW)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"version": 0}, "version"),
        ({"version": True}, "version"),
        ({"expires": NOT_BEFORE}, "expire after"),
        ({"issued": NOW, "expires": NOW - timedelta(days=1)}, "expire after"),
    ],
)
def test_issue_revocations_refuses(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        revocations(**changes)


# --- check_member ----------------------------------------------------------------------------------


def held(*entries: dict[str, Any], key: NodeKey = NETWORK) -> Revocations:
    return verify_revocations(revocations(key, revoked=list(entries)), key.public, now=NOW)


def member(cert: object, revoked: Revocations | None, **changes: Any) -> Membership:
    args: dict[str, Any] = {"node_id": NODE_ID, "fingerprints": [FINGERPRINT], "now": NOW}
    args.update(changes)
    return check_member(cert, NETWORK.public, revoked, **args)


def test_check_member_valid() -> None:
    cert = certificate()
    expected = verify_certificate(cert, NETWORK.public, now=NOW)
    assert member(cert, None) == expected
    assert member(cert, held()) == expected
    assert member(cert, held(GOOD_ENTRY)) == expected
    # any one of the node's current keys may be the certified one
    assert member(cert, held(), fingerprints=[fingerprint(MEMBER_KEY2.public), FINGERPRINT]) == expected


def test_check_member_revoked_by_serial() -> None:
    # The entry names another node, but the certificate's serial is listed.
    with pytest.raises(ProtocolError, match="revoked"):
        member(certificate(), held({"serial": 7, "node_id": OTHER_NODE_ID, "since": SINCE}))


def test_check_member_revoked_by_node_id() -> None:
    # The listed serial is another certificate of the node: a new certificate does not help.
    with pytest.raises(ProtocolError, match="revoked"):
        member(certificate(serial=8), held({"serial": 7, "node_id": NODE_ID, "since": SINCE}))


def test_check_member_another_node() -> None:
    with pytest.raises(ProtocolError, match="another node"):
        member(certificate(), held(), node_id=OTHER_NODE_ID)


def test_check_member_another_key() -> None:
    for fingerprints in ([fingerprint(MEMBER_KEY2.public)], [], [fingerprint(NETWORK.public)]):
        with pytest.raises(ProtocolError, match="another key"):
            member(certificate(), held(), fingerprints=fingerprints)


def test_check_member_certificate_for_a_rotated_key() -> None:
    cert = certificate(fingerprint=fingerprint(MEMBER_KEY2.public))
    assert member(cert, held(), fingerprints=[fingerprint(MEMBER_KEY2.public)]).fingerprint != FINGERPRINT
    with pytest.raises(ProtocolError, match="another key"):
        member(cert, held())


def test_check_member_refuses_invalid_certificates() -> None:
    with pytest.raises(ProtocolError, match="has expired"):
        member(certificate(), held(), now=EXPIRES)
    with pytest.raises(SignatureError):
        member(certificate(OTHER_NETWORK), held())
    with pytest.raises(ProtocolError, match="must be a JSON object"):
        member("pvnet1.x", held())


def test_check_member_refuses_an_expired_held_list() -> None:
    revoked = held()
    later = revoked.expires
    cert = certificate()
    assert verify_certificate(cert, NETWORK.public, now=later).serial == 7
    with pytest.raises(ProtocolError, match="held revocation list has expired"):
        member(cert, revoked, now=later)


def test_check_member_refuses_a_list_of_another_network() -> None:
    with pytest.raises(ProtocolError, match="revocation list is of another network"):
        member(certificate(), held(key=OTHER_NETWORK))


# --- join codes ------------------------------------------------------------------------------------

OPERATOR = OTHER_NODE
OPERATOR_URL = "https://netz.musterland.example"


def bundle_fields(**changes: Any) -> dict[str, Any]:
    """The JSON inside a valid join code, with `changes` applied (a value of ... removes the member)."""
    value: dict[str, Any] = {
        "network": NETWORK_ID,
        "name": "Präventionsnetz Musterland",
        "key": NETWORK.public_b64,
        "operator_url": OPERATOR_URL,
        "operator_fingerprint": fingerprint(OPERATOR.public),
        "certificate": certificate(),
    }
    for name, new in changes.items():
        if new is ...:
            del value[name]
        else:
            value[name] = new
    return value


def encode(value: Any) -> str:
    return BUNDLE_PREFIX + b64url(canonical_bytes(value))


def good_bundle() -> str:
    return make_bundle(
        network_public=NETWORK.public,
        name="Präventionsnetz Musterland",
        operator_url="HTTPS://Netz.Musterland.example:443/",
        operator_fingerprint=fingerprint(OPERATOR.public),
        certificate=certificate(),
    )


def test_bundle_roundtrip() -> None:
    code = good_bundle()
    assert code.startswith("pvnet1.")
    assert code == encode(bundle_fields())
    bundle = parse_bundle(code)
    assert bundle == Bundle(
        NETWORK_ID,
        "Präventionsnetz Musterland",
        NETWORK.public,
        OPERATOR_URL,
        fingerprint(OPERATOR.public),
        certificate(),
    )
    assert parse_bundle(f"  {code}\n") == bundle
    # The certificate travels unverified; the joining node checks it with the bundle's key.
    assert verify_certificate(bundle.certificate, bundle.key, now=NOW).node_id == NODE_ID


def test_bundle_refuses_other_prefixes() -> None:
    body = encode(bundle_fields())[len(BUNDLE_PREFIX) :]
    for code in (body, "pvinv1." + body, "PVNET1." + body, "pvnet2." + body, "pvnet1" + body, ""):
        with pytest.raises(ProtocolError, match=r"starts with pvnet1\."):
            parse_bundle(code)


def test_bundle_refuses_non_text() -> None:
    with pytest.raises(ProtocolError, match="is text"):
        parse_bundle(b"pvnet1.e30")  # type: ignore[arg-type]


@pytest.mark.parametrize("tail", ["", "!!!!", "e30=", "e3 0", "e31", "ä"])
def test_bundle_refuses_bad_base64url(tail: str) -> None:
    with pytest.raises(ProtocolError):
        parse_bundle(BUNDLE_PREFIX + tail)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\xff\xfe",
        b'{"name":1.5}',
        b'{"name":"a","name":"b"}',
        b'{"n":NaN}',
        b'{"n":9007199254740992}',
        b'"\\ud800"',
    ],
)
def test_bundle_refuses_json_outside_the_profile(data: bytes) -> None:
    with pytest.raises(CanonicalError):
        parse_bundle(BUNDLE_PREFIX + b64url(data))


def test_bundle_refuses_non_canonical_json() -> None:
    pretty = json.dumps(bundle_fields(), indent=1, ensure_ascii=False).encode()
    assert parse(pretty) == bundle_fields()
    with pytest.raises(ProtocolError, match="canonical form"):
        parse_bundle(BUNDLE_PREFIX + b64url(pretty))


@pytest.mark.parametrize("value", [[], "x", None, 5, [bundle_fields()]])
def test_bundle_refuses_non_objects(value: object) -> None:
    with pytest.raises(ProtocolError, match="does not hold exactly"):
        parse_bundle(encode(value))


@pytest.mark.parametrize("field", sorted(bundle_fields()))
def test_bundle_missing_field(field: str) -> None:
    with pytest.raises(ProtocolError, match="does not hold exactly"):
        parse_bundle(encode(bundle_fields(**{field: ...})))


def test_bundle_unknown_field() -> None:
    with pytest.raises(ProtocolError, match="does not hold exactly"):
        parse_bundle(encode({**bundle_fields(), "v": 1}))


def test_bundle_network_id_must_match_the_key() -> None:
    with pytest.raises(ProtocolError, match="does not belong to its key"):
        parse_bundle(encode(bundle_fields(network=OTHER_NETWORK_ID)))
    with pytest.raises(ProtocolError, match="does not belong to its key"):
        parse_bundle(encode(bundle_fields(key=OTHER_NETWORK.public_b64)))


@pytest.mark.parametrize("network", [NODE_ID, NETWORK_ID.upper(), "", None])
def test_bundle_malformed_network_id(network: object) -> None:
    with pytest.raises(ProtocolError, match="malformed network id"):
        parse_bundle(encode(bundle_fields(network=network)))


@pytest.mark.parametrize("key", [None, 5, "", b64url(bytes(31)), b64url(bytes(33)), NETWORK.public_b64 + "="])
def test_bundle_bad_key(key: object) -> None:
    with pytest.raises(ProtocolError):
        parse_bundle(encode(bundle_fields(key=key)))


@pytest.mark.parametrize("name", ["", "x" * 201, None, 5, ["DEFUS"]])
def test_bundle_bad_name(name: object) -> None:
    with pytest.raises(ProtocolError, match="name must be 1 to 200 characters"):
        parse_bundle(encode(bundle_fields(name=name)))


def test_bundle_name_limits() -> None:
    assert parse_bundle(encode(bundle_fields(name="x"))).name == "x"
    assert parse_bundle(encode(bundle_fields(name="ü" * 200))).name == "ü" * 200


@pytest.mark.parametrize(
    "value", [None, "", "SHA256:abc", "sha256:" + fingerprint(OPERATOR.public)[7:], fingerprint(OPERATOR.public) + "\n"]
)
def test_bundle_bad_fingerprint(value: object) -> None:
    with pytest.raises(ProtocolError, match="operator fingerprint is malformed"):
        parse_bundle(encode(bundle_fields(operator_fingerprint=value)))


@pytest.mark.parametrize(
    "url",
    [
        None,
        "",
        "ftp://netz.example",
        "netz.example",
        "https://",
        "https://netz.example/?q=1",
        "https://netz.example/#x",
        "https://user@netz.example",
        "https://netz.example:0",
        "https://netz example",
        "https://netzä.example",
    ],
)
def test_bundle_bad_url(url: object) -> None:
    with pytest.raises(ProtocolError):
        parse_bundle(encode(bundle_fields(operator_url=url)))


@pytest.mark.parametrize("value", [None, [], [certificate()], "cert", 5])
def test_bundle_certificate_must_be_an_object(value: object) -> None:
    with pytest.raises(ProtocolError, match="certificate must be an object"):
        parse_bundle(encode(bundle_fields(certificate=value)))
