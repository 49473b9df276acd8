"""A response's signature time: refused when it is not fresh, readable for comparing clocks with fresh=False."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from protocol.errors import SignatureError
from protocol.httpsig import HttpRequest, HttpResponse, sign_request, sign_response, verify_response
from protocol.keys import NodeKey, node_id_for

KEY_A = NodeKey.from_seed(bytes(range(32)))
KEY_B = NodeKey.from_seed(bytes(range(1, 33)))
NODE_A = node_id_for(KEY_A.public)
NODE_B = node_id_for(KEY_B.public)
URL = "https://praevnet.musterstadt.de/fed/v1/descriptor"
BODY = b'{"change":"unchanged"}'


def trust(node_id: str, key_id: str) -> bytes | None:
    return {(NODE_A, KEY_A.key_id): KEY_A.public, (NODE_B, KEY_B.key_id): KEY_B.public}.get((node_id, key_id))


def exchange(offset: timedelta) -> tuple[HttpRequest, HttpResponse]:
    """A request A signed now, and B's answer signed by a clock `offset` away from ours."""
    request = HttpRequest(method="PUT", url=URL, headers={"Content-Type": "application/json"})
    sign_request(request, b"{}", KEY_A, NODE_A)
    response = HttpResponse(status_code=200, headers={"Content-Type": "application/json"}, request=request)
    sign_response(response, BODY, KEY_B, NODE_B, created=datetime.now(UTC) + offset)
    return request, response


@pytest.mark.parametrize(
    ("offset", "problem"),
    [(timedelta(minutes=2), "in the future"), (timedelta(hours=-2), "maximum allowable age")],
)
def test_an_answer_signed_by_a_clock_far_off_is_refused_as_usual(offset: timedelta, problem: str) -> None:
    request, response = exchange(offset)
    with pytest.raises(SignatureError, match=problem):
        verify_response(200, response.headers.items(), BODY, request, trust)


@pytest.mark.parametrize("offset", [timedelta(minutes=2), timedelta(hours=-2), timedelta(days=400), timedelta(0)])
def test_with_fresh_false_the_signer_s_time_is_returned_whatever_it_is(offset: timedelta) -> None:
    request, response = exchange(offset)
    info = verify_response(200, response.headers.items(), BODY, request, trust, fresh=False)
    assert info.node_id == NODE_B
    assert abs(info.created - (datetime.now(UTC) + offset).timestamp()) < 5


def test_with_fresh_false_everything_but_the_time_is_still_checked() -> None:
    request, response = exchange(timedelta(minutes=10))
    with pytest.raises(SignatureError):
        verify_response(200, response.headers.items(), b'{"change":"keys"}', request, trust, fresh=False)
    with pytest.raises(SignatureError):
        verify_response(500, response.headers.items(), BODY, request, trust, fresh=False)
    with pytest.raises(SignatureError, match="unknown key id"):
        verify_response(200, response.headers.items(), BODY, request, lambda *_: None, fresh=False)
    other = HttpRequest(method="PUT", url=URL, headers={"Content-Type": "application/json"})
    sign_request(other, b"{}", KEY_A, NODE_A)
    with pytest.raises(SignatureError):
        verify_response(200, response.headers.items(), BODY, other, trust, fresh=False)
