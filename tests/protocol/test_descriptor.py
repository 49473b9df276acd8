"""Node descriptors: self-signed, self-certifying, expiring; and base URL normalisation."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from protocol import PROTOCOL_VERSION
from protocol.canonical import canonical_bytes, parse
from protocol.descriptor import build_descriptor, descriptor_keys, normalize_base_url, verify_descriptor
from protocol.encoding import b64url, b64url_decode
from protocol.errors import DescriptorError, ProtocolError, SignatureError
from protocol.keys import NodeKey, node_id_for, verify

KEY = NodeKey.from_seed(bytes(range(32)))
KEY2 = NodeKey.from_seed(bytes(range(2, 34)), version=2)
OTHER = NodeKey.from_seed(bytes(range(1, 33)))
NODE_ID = node_id_for(KEY.public)
NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
VALID_UNTIL = NOW + timedelta(days=7)


def make(keys: list[NodeKey] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "node_id": NODE_ID,
        "name": "Präventionsrat Musterstadt",
        "url": "https://praevnet.musterstadt.de/",
        "valid_until": VALID_UNTIL,
    }
    args.update(kw)
    return build_descriptor([KEY] if keys is None else keys, **args)


def resign(descriptor: dict[str, Any], keys: list[NodeKey]) -> dict[str, Any]:
    body = {k: v for k, v in descriptor.items() if k != "signatures"}
    message = canonical_bytes(body)
    return {**body, "signatures": {key.key_id: b64url(key.sign(message)) for key in keys}}


def test_build_and_verify_roundtrip() -> None:
    descriptor = make()
    assert descriptor == {
        "node_id": NODE_ID,
        "name": "Präventionsrat Musterstadt",
        "url": "https://praevnet.musterstadt.de",
        "keys": {"ed25519:1": KEY.public_b64},
        "old_keys": {},
        "valid_until": "2026-11-29T08:00:00Z",
        "protocols": [PROTOCOL_VERSION],
        "signatures": descriptor["signatures"],
    }
    assert verify_descriptor(descriptor, now=NOW) == descriptor
    assert verify_descriptor(parse(canonical_bytes(descriptor)), now=NOW) == descriptor
    assert descriptor_keys(descriptor) == {"ed25519:1": KEY.public}


def test_signature_covers_everything_but_signatures() -> None:
    descriptor = make()
    body = {k: v for k, v in descriptor.items() if k != "signatures"}
    verify(KEY.public, b64url_decode(descriptor["signatures"]["ed25519:1"]), canonical_bytes(body))


def test_rotated_descriptor_with_two_keys_and_an_old_key() -> None:
    v3 = NodeKey.from_seed(bytes(range(3, 35)), version=3)
    old = {"ed25519:2": {"key": KEY2.public_b64, "expired": "2026-11-01T00:00:00Z"}}
    descriptor = make(keys=[KEY, v3], old_keys=old)
    assert set(descriptor["signatures"]) == {"ed25519:1", "ed25519:3"}
    assert verify_descriptor(descriptor, now=NOW)["old_keys"] == old


def test_node_id_may_come_from_an_expired_first_key() -> None:
    old = {"ed25519:1": {"key": KEY.public_b64, "expired": "2026-11-01T00:00:00Z"}}
    descriptor = make(keys=[KEY2], old_keys=old)
    assert verify_descriptor(descriptor, now=NOW)["keys"] == {"ed25519:2": KEY2.public_b64}


def test_every_current_key_must_sign() -> None:
    descriptor = make(keys=[KEY, KEY2])
    del descriptor["signatures"]["ed25519:2"]
    with pytest.raises(SignatureError, match="not signed by its current key ed25519:2"):
        verify_descriptor(descriptor, now=NOW)


def test_expired_descriptor_is_refused() -> None:
    descriptor = make()
    with pytest.raises(DescriptorError, match="expired"):
        verify_descriptor(descriptor, now=VALID_UNTIL)
    with pytest.raises(DescriptorError, match="expired"):
        verify_descriptor(descriptor, now=VALID_UNTIL + timedelta(seconds=1))
    assert verify_descriptor(descriptor, now=VALID_UNTIL - timedelta(seconds=1))


def test_node_id_not_derived_from_key_is_refused() -> None:
    # Properly self-signed by OTHER, but claiming KEY's node id.
    descriptor = make(keys=[OTHER])
    with pytest.raises(DescriptorError, match="not derived from key ed25519:1"):
        verify_descriptor(descriptor, now=NOW)


def test_descriptor_without_key_version_one_is_refused() -> None:
    descriptor = make(keys=[KEY2])
    with pytest.raises(DescriptorError, match="not derived from key ed25519:1"):
        verify_descriptor(descriptor, now=NOW)


def test_signature_by_another_key_is_refused() -> None:
    descriptor = resign(make(), [OTHER])
    with pytest.raises(SignatureError, match="does not verify"):
        verify_descriptor(descriptor, now=NOW)


def test_bogus_descriptor_cannot_replace_a_key() -> None:
    # An attacker lists its own key under the victim's node id and signs with it.
    descriptor = make()
    descriptor["keys"] = {"ed25519:1": OTHER.public_b64}
    descriptor = resign(descriptor, [OTHER])
    with pytest.raises(DescriptorError, match="not derived"):
        verify_descriptor(descriptor, now=NOW)


def _set(name: str, value: Any) -> dict[str, Any]:
    descriptor = copy.deepcopy(make())
    descriptor[name] = value
    return descriptor


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("name", "Präventionsrat Bösestadt"),
        ("url", "https://evil.example"),
        ("valid_until", "2027-11-29T08:00:00Z"),
        ("protocols", [PROTOCOL_VERSION, "praevnet/2"]),
        ("old_keys", {"ed25519:5": {"key": OTHER.public_b64, "expired": "2026-01-01T00:00:00Z"}}),
    ],
)
def test_tampered_descriptor_is_refused(name: str, value: Any) -> None:
    with pytest.raises(SignatureError, match="does not verify"):
        verify_descriptor(_set(name, value), now=NOW)


def test_flipped_signature_is_refused() -> None:
    descriptor = make()
    raw = bytearray(b64url_decode(descriptor["signatures"]["ed25519:1"]))
    raw[5] ^= 1
    descriptor["signatures"]["ed25519:1"] = b64url(bytes(raw))
    with pytest.raises(SignatureError):
        verify_descriptor(descriptor, now=NOW)


@pytest.mark.parametrize(
    "name", ["node_id", "name", "url", "keys", "old_keys", "valid_until", "protocols", "signatures"]
)
def test_missing_field_is_refused(name: str) -> None:
    descriptor = make()
    del descriptor[name]
    with pytest.raises(DescriptorError, match=f"'{name}' is missing"):
        verify_descriptor(descriptor, now=NOW)


def test_unknown_field_is_refused() -> None:
    descriptor = resign({**make(), "admin": "root"}, [KEY])
    with pytest.raises(DescriptorError, match="unknown descriptor field 'admin'"):
        verify_descriptor(descriptor, now=NOW)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("url", "https://praevnet.musterstadt.de/", "not in normal form"),
        ("url", "https://PRAEVNET.musterstadt.de", "not in normal form"),
        ("url", "https://praevnet.musterstadt.de:443", "not in normal form"),
        ("url", "ftp://praevnet.musterstadt.de", "http"),
        ("name", "", "name must be"),
        ("name", "x" * 201, "name must be"),
        ("name", 5, "name must be"),
        ("node_id", "node-a", "malformed node id"),
        ("keys", {}, "no current key"),
        ("keys", [], "keys must be an object"),
        ("keys", {"ed25519:1": "AAAA"}, "32 bytes"),
        ("keys", {"key1": KEY.public_b64}, "malformed key id"),
        ("old_keys", [], "old_keys must be an object"),
        ("old_keys", {"ed25519:2": {"key": KEY2.public_b64}}, "exactly key and expired"),
        ("old_keys", {"ed25519:2": {"key": KEY2.public_b64, "expired": "yesterday"}}, "UTC offset"),
        ("valid_until", "2026-11-29T08:00:00", "UTC offset"),
        ("valid_until", 1796000000, "UTC offset"),
        ("protocols", ["praevnet/2"], "does not offer protocol"),
        ("protocols", "praevnet/1", "does not offer protocol"),
        ("signatures", [], "signatures must be an object"),
        ("signatures", {}, "not signed"),
    ],
)
def test_malformed_field_is_refused(name: str, value: Any, message: str) -> None:
    descriptor = resign(_set(name, value), [KEY]) if name != "signatures" else _set(name, value)
    with pytest.raises(ProtocolError, match=message):
        verify_descriptor(descriptor, now=NOW)


def test_float_in_descriptor_is_refused() -> None:
    with pytest.raises(DescriptorError, match="floating-point"):
        verify_descriptor(_set("valid_until", 1.5), now=NOW)


@pytest.mark.parametrize("value", [None, [], "descriptor"])
def test_non_object_is_refused(value: Any) -> None:
    with pytest.raises(DescriptorError, match="JSON object"):
        verify_descriptor(value, now=NOW)


# --- base URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://praevnet.example.de", "https://praevnet.example.de"),
        ("https://praevnet.example.de/", "https://praevnet.example.de"),
        ("https://praevnet.example.de///", "https://praevnet.example.de"),
        ("https://praevnet.example.de/praevnet/", "https://praevnet.example.de/praevnet"),
        ("https://PraevNet.Example.DE/Pfad", "https://praevnet.example.de/Pfad"),
        ("https://praevnet.example.de:443/", "https://praevnet.example.de"),
        ("http://praevnet.example.de:80", "http://praevnet.example.de"),
        ("http://praevnet.example.de:443", "http://praevnet.example.de:443"),
        ("https://praevnet.example.de:8443/", "https://praevnet.example.de:8443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8080/", "http://[::1]:8080"),
        ("http://[::1]:80/", "http://[::1]"),
        ("  https://praevnet.example.de/  ", "https://praevnet.example.de"),
        ("https://xn--prvnet-bua.example.de/", "https://xn--prvnet-bua.example.de"),
        ("https://praevnet.example.de/%C3%A4", "https://praevnet.example.de/%C3%A4"),
    ],
)
def test_normalize_base_url(text: str, expected: str) -> None:
    assert normalize_base_url(text) == expected
    assert normalize_base_url(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        42,
        "",
        "praevnet.example.de",
        "ftp://praevnet.example.de",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "https://",
        "https:///path",
        "https://praevnet.example.de/?a=1",
        "https://praevnet.example.de/#top",
        "https://user@praevnet.example.de",
        "https://user:secret@praevnet.example.de",
        "https://praevnet.example.de:99999",
        "https://praevnet.example.de:-1",
        "https://praevnet.example.de:http",
        "https://" + "a" * 500 + ".de",
        "https://praevnet.example.de:0",
        "https://praev net.example.de",
        "https://praevnet.example.de/a b",
        "https://praevnet.example.de/a\tb",
        "https://praevnet.example.de/a\nb",
        "https://praevnet.ex\u00e4mple.de",
        "https://praevnet.example.de/\u00e4",
    ],
)
def test_normalize_base_url_refuses(text: object) -> None:
    with pytest.raises(ProtocolError):
        normalize_base_url(text)
