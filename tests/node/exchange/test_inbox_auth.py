"""PUT /fed/v1/inbox/{txn_id}: every way a request can fail authentication is a 401 that stores nothing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import ClientResponse
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, HTTPSignatureKeyResolver, algorithms

from node.trust.peers import remove_peer
from protocol.httpsig import LABEL, TAG, HttpRequest, http_key_id, new_nonce, sign_request
from protocol.keys import NodeKey
from tests.conftest import FakePeer, body_of
from tests.node.conftest import Served, refusal, stored
from tests.ports import hold_port

INBOX = "/fed/v1/inbox/t1"


def transaction(peer: FakePeer) -> bytes:
    return body_of({"envelopes": [peer.envelope()]})


async def unauthorized(served: Served, response: ClientResponse, *words: str) -> None:
    """A 401 JSON answer naming the problem, and nothing in the inbox or the transaction log."""
    await refusal(response, 401, "unauthorized", *words)
    assert stored(served.node) == (0, 0)


async def test_a_properly_signed_request_is_accepted(served: Served, peer_b: FakePeer) -> None:
    response, _ = await served.put_inbox(peer_b, "t1", transaction(peer_b))
    assert response.status == 200, await response.text()
    assert stored(served.node) == (1, 1)


async def test_unsigned_request(served: Served, peer_b: FakePeer) -> None:
    response = await served.client.put(INBOX, data=transaction(peer_b), headers={"Content-Type": "application/json"})
    await unauthorized(served, response, "not signed")


@pytest.mark.parametrize("missing", ["Signature", "Signature-Input"])
async def test_half_signed_request(served: Served, peer_b: FakePeer, missing: str) -> None:
    body = transaction(peer_b)
    headers = peer_b.signed_headers("PUT", served.url(INBOX), body)
    del headers[missing]
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, "not signed")


async def test_signature_by_an_untrusted_key(served: Served, peer_b: FakePeer) -> None:
    stranger = FakePeer("Stadt X", "http://127.0.0.1:8")
    response, _ = await served.put_inbox(stranger, "t1", transaction(stranger))
    await unauthorized(served, response, "unknown key id", stranger.node_id)


async def test_key_id_of_another_trusted_peer_signed_with_the_attackers_key(served: Served, peer_b: FakePeer) -> None:
    attacker = FakePeer("Stadt X", "http://127.0.0.1:8")
    body = transaction(peer_b)  # an envelope B really signed, replayed by the attacker under B's name
    request = HttpRequest(method="PUT", url=served.url(INBOX), headers={"Content-Type": "application/json"})
    sign_request(request, body, attacker.key, peer_b.node_id)
    assert f'keyid="{peer_b.node_id}#ed25519:1"' in request.headers["Signature-Input"]
    response = await served.client.put(INBOX, data=body, headers=request.headers)
    await unauthorized(served, response, "does not verify")


@pytest.mark.parametrize(
    ("signed_method", "signed_authority", "signed_path"),
    [
        ("PUT", "own", "/fed/v1/inbox/t2"),  # another transaction id
        ("PUT", "own", "/fed/v1/outbox"),  # another endpoint
        ("PUT", "own", "/fed/v1/inbox/t1?x=1"),  # another query
        ("POST", "own", INBOX),  # another method
        ("GET", "own", INBOX),
        ("PUT", "other", INBOX),  # another node on the same host
    ],
)
async def test_signature_over_a_different_request(
    served: Served, peer_b: FakePeer, signed_method: str, signed_authority: str, signed_path: str
) -> None:
    body = transaction(peer_b)
    port = served.port if signed_authority == "own" else hold_port().number
    headers = peer_b.signed_headers(signed_method, f"http://127.0.0.1:{port}{signed_path}", body)
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, "does not verify")


async def test_signature_over_a_different_body(served: Served, peer_b: FakePeer) -> None:
    body_a = transaction(peer_b)
    body_b = transaction(peer_b)
    headers = peer_b.signed_headers("PUT", served.url(INBOX), body_a)
    response = await served.client.put(INBOX, data=body_b, headers=headers)
    await unauthorized(served, response, "content-digest", "body")


async def test_signature_over_a_different_body_with_a_matching_digest(served: Served, peer_b: FakePeer) -> None:
    """Swapping in the Content-Digest of body B breaks the signature, which covers the digest."""
    body_a = transaction(peer_b)
    body_b = transaction(peer_b)
    headers = peer_b.signed_headers("PUT", served.url(INBOX), body_a)
    headers["Content-Digest"] = peer_b.signed_headers("PUT", served.url(INBOX), body_b)["Content-Digest"]
    response = await served.client.put(INBOX, data=body_b, headers=headers)
    await unauthorized(served, response, "does not verify")


@pytest.mark.parametrize(
    ("offset", "problem"),
    [
        (-400, "age exceeds"),
        (-320, "age exceeds"),
        (120, "future"),
        (3600, "future"),
    ],
)
async def test_created_outside_the_window(served: Served, peer_b: FakePeer, offset: int, problem: str) -> None:
    created = datetime.now(UTC) + timedelta(seconds=offset)
    response, _ = await served.put_inbox(peer_b, "t1", transaction(peer_b), created=created)
    await unauthorized(served, response, problem)


async def test_replayed_request(served: Served, peer_b: FakePeer) -> None:
    body = transaction(peer_b)
    first, headers = await served.put_inbox(peer_b, "t1", body)
    assert first.status == 200, await first.text()
    assert stored(served.node) == (1, 1)
    again = await served.client.put(INBOX, data=body, headers=headers)
    await refusal(again, 401, "unauthorized", "replayed", "nonce")
    assert stored(served.node) == (1, 1)


async def test_replayed_nonce_in_a_new_request(served: Served, peer_b: FakePeer) -> None:
    """A fresh signature over a new transaction that reuses a nonce is a replay too."""
    nonce = new_nonce()
    first, _ = await served.put_inbox(peer_b, "t1", transaction(peer_b), nonce=nonce)
    assert first.status == 200, await first.text()
    again, _ = await served.put_inbox(peer_b, "t2", transaction(peer_b), nonce=nonce)
    await refusal(again, 401, "unauthorized", "replayed")
    assert stored(served.node) == (1, 1)


async def test_content_digest_header_removed(served: Served, peer_b: FakePeer) -> None:
    body = transaction(peer_b)
    headers = peer_b.signed_headers("PUT", served.url(INBOX), body)
    del headers["Content-Digest"]
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, "content-digest")


class _Resolver(HTTPSignatureKeyResolver):
    def __init__(self, key: NodeKey) -> None:
        self.key = key

    def resolve_private_key(self, key_id: str) -> object:
        return Ed25519PrivateKey.from_private_bytes(self.key.seed)


def sign_by_hand(
    served: Served,
    peer: FakePeer,
    body: bytes,
    components: tuple[str, ...],
    *,
    tag: str = TAG,
    nonce: str | None = None,
) -> dict[str, str]:
    """Sign with the library directly, to build signatures that sign_request never produces."""
    request = HttpRequest(method="PUT", url=served.url(INBOX), headers={"Content-Type": "application/json"})
    signer = HTTPMessageSigner(signature_algorithm=algorithms.ED25519, key_resolver=_Resolver(peer.key))
    signer.sign(
        request,
        key_id=http_key_id(peer.node_id, peer.key.key_id),
        nonce=nonce,
        tag=tag,
        label=LABEL,
        covered_component_ids=components,
        body=body,
    )
    return request.headers


@pytest.mark.parametrize(
    ("components", "absent"),
    [
        (("@method",), "@authority"),  # the library adds content-digest because a body is given
        (("@method", "@authority"), "@target-uri"),
        (("@method", "@target-uri"), "@authority"),
        (("@authority", "@target-uri"), "@method"),
    ],
)
async def test_signature_covering_too_few_components(
    served: Served, peer_b: FakePeer, components: tuple[str, ...], absent: str
) -> None:
    body = transaction(peer_b)
    headers = sign_by_hand(served, peer_b, body, components, nonce=new_nonce())
    assert absent not in headers["Signature-Input"]
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, "not covered", absent)


async def test_the_hand_signer_is_accepted_with_all_components(served: Served, peer_b: FakePeer) -> None:
    """Control for the test above: the same signer with every required component passes."""
    body = transaction(peer_b)
    headers = sign_by_hand(served, peer_b, body, ("@method", "@authority", "@target-uri"), nonce=new_nonce())
    response = await served.client.put(INBOX, data=body, headers=headers)
    assert response.status == 200, await response.text()


@pytest.mark.parametrize(
    ("tag", "nonce", "problem"),
    [
        ("other-app", "n" * 24, "tag"),
        (TAG, None, "nonce"),
        (TAG, "short", "nonce"),
    ],
)
async def test_signature_with_wrong_tag_or_nonce(
    served: Served, peer_b: FakePeer, tag: str, nonce: str | None, problem: str
) -> None:
    body = transaction(peer_b)
    headers = sign_by_hand(served, peer_b, body, ("@method", "@authority", "@target-uri"), tag=tag, nonce=nonce)
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, problem)


async def test_garbled_signature_bytes(served: Served, peer_b: FakePeer) -> None:
    body = transaction(peer_b)
    headers = peer_b.signed_headers("PUT", served.url(INBOX), body)
    headers["Signature"] = f"{LABEL}=:{base64.b64encode(bytes(64)).decode()}:"
    response = await served.client.put(INBOX, data=body, headers=headers)
    await unauthorized(served, response, "does not verify")


async def test_removed_peer(served: Served, peer_b: FakePeer) -> None:
    remove_peer(served.node, peer_b.node_id)
    response, _ = await served.put_inbox(peer_b, "t1", transaction(peer_b))
    await unauthorized(served, response, "unknown key id")
