"""Traffic Light Protocol 2.0 labels and the sharing rules they impose.

The label travels inside the signed part of every envelope, so no relay can change it. The rules
are checked by the origin before it shares, by a receiver before it forwards, and by a receiver
of a relayed envelope before it stores it:

- TLP:RED: named recipients only; never to all peers or a network, never forwarded.
- TLP:AMBER+STRICT and TLP:AMBER: the addressed nodes only; never forwarded by them.
- TLP:GREEN: may be forwarded within the network it was shared in.
- TLP:CLEAR: no limit.
"""

from __future__ import annotations

from typing import Literal

from protocol.errors import SchemaError

RED = "TLP:RED"
AMBER_STRICT = "TLP:AMBER+STRICT"
AMBER = "TLP:AMBER"
GREEN = "TLP:GREEN"
CLEAR = "TLP:CLEAR"
LABELS = (RED, AMBER_STRICT, AMBER, GREEN, CLEAR)
DEFAULT = AMBER

Scope = Literal["named", "all-peers", "network"]


def check_label(text: object) -> str:
    """Return a label exactly as written in an envelope, else raise SchemaError."""
    if text not in LABELS:
        raise SchemaError("tlp", f"must be one of {', '.join(LABELS)}")
    return str(text)


def parse_label(text: str) -> str:
    """Accept a label as people type it (`red`, `amber+strict`, `TLP:GREEN`) and return its canonical form."""
    label = text.strip().upper()
    if not label.startswith("TLP:"):
        label = "TLP:" + label
    return check_label(label)


def scope_allowed(label: str, scope: Scope) -> bool:
    """Whether a share of this scope may carry a record of this label (RED: named recipients only)."""
    return scope == "named" if label == RED else True


def scope_refusal(label: str, scope: Scope) -> str | None:
    """Why a share of this scope may not carry this label, or None if it may."""
    if scope_allowed(label, scope):
        return None
    return f"{label} goes only to named recipients (--to NODE_ID), never to {scope}"


def may_forward(label: str, *, shared_in: str | None, forward_in: str | None) -> bool:
    """Whether a receiver may pass an envelope on: CLEAR anywhere, GREEN within its network, others never."""
    if label == CLEAR:
        return True
    return label == GREEN and shared_in is not None and shared_in == forward_in
