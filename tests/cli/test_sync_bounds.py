"""Finding 3 of issue #11 at the command line: a trusted peer whose outbox never advances cannot stop
`praevnet sync`; the other peer's records arrive, and `praevnet peers status` names the problem."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from node.home import Node
from node.sharing.records import add_record
from node.sharing.shares import share_record
from node.trust.peers import trust_descriptor
from node.users import ADMIN
from protocol.canonical import canonical_bytes
from protocol.httpsig import HttpRequest, HttpResponse, sign_response
from tests.cli.conftest import ServingPeer, invoke, ok, ok_json
from tests.conftest import RECORD, FakePeer
from tests.ports import Port, hold_port


@contextmanager
def stuck_outbox(peer: FakePeer, port: Port) -> Iterator[list[int]]:
    """Serve, on the held port, an outbox signed by `peer` whose every page is empty, says more follows and
    leaves the cursor where it was (until the 100th); yield the list of the `since` values asked for."""
    asked: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            since = int(parse_qs(urlsplit(self.path).query).get("since", ["0"])[0])
            asked.append(since)
            more = len(asked) < 100  # a node that loops gets an end after 100 requests: it fails, not hangs
            body = canonical_bytes({"envelopes": [], "next": since, "more": more, "remaining": int(more)})
            request = HttpRequest("GET", peer.url + self.path, dict(self.headers.items()))
            signed = HttpResponse(status_code=200, headers={}, request=request)
            sign_response(signed, body, peer.key, peer.node_id)
            self.send_response(200)
            for name, value in {**signed.headers, "Content-Type": "application/json"}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port.number), Handler, bind_and_activate=False)
    server.socket.close()  # the one it made; it listens on the held socket instead (released with the port)
    server.socket = port.handover()
    server.server_activate()
    thread = threading.Thread(target=server.serve_forever, name="stuck-outbox", daemon=True)
    thread.start()
    try:
        yield asked
    finally:
        server.shutdown()
        thread.join(10)


def test_a_trusted_peer_cannot_stop_praevnet_sync(home: Path, tmp_path: Path, serving_peer: ServingPeer) -> None:
    ok("peers", "add", serving_peer.url, "--fingerprint", serving_peer.fingerprint, "--home", str(home))
    port = hold_port()
    hostile = FakePeer("Stadt Hostil", port.url)
    ours, theirs = Node.open(home), Node.open(tmp_path / "bonn")
    try:
        hostile.trusted_by(ours)
        trust_descriptor(theirs, ours.config.url, ours.fingerprint, ours.descriptor())
        for n in range(2):
            record_id = add_record(theirs, "experience", {**RECORD, "title": f"Aus Bonn {n}"}, by=ADMIN)
            share_record(theirs, record_id, [ours.node_id], all_peers=False, by=ADMIN)
    finally:
        ours.close()
        theirs.close()

    with stuck_outbox(hostile, port) as asked:
        result = invoke("sync", "--json", "--home", str(home))

    assert result.exit_code == 1  # a peer failed
    reports = {report["name"]: report for report in json.loads(result.stdout)}
    assert reports["Stadt Bonn"]["accepted"] == 2
    assert "does not advance" in reports["Stadt Hostil"]["error"]
    assert asked == [0]
    status = {entry["name"]: entry for entry in ok_json("peers", "status", "--home", str(home))}
    assert "does not advance" in status["Stadt Hostil"]["last_error"]
    assert status["Stadt Hostil"]["our_cursor_in_their_outbox"] == 0
    assert "does not advance" in ok("peers", "status", "--home", str(home)).stdout
