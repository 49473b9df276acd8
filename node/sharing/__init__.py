"""Sharing: a city's own records and alerts, and the one policy that decides what may leave.

Owns records and alerts, shares and their release, the sharing policy (TLP, audience, local fields,
the PII check with its patterns and name list), the preview of what will leave, and expiry. Every
byte another node receives has passed node.sharing.policy. May use: networks, trust, the transport,
node's ground and protocol/, none of which may import it; only the exchange, cli/ and the web
interface do.
"""
