"""Networks: the associations a node belongs to or operates, and everything that crosses them.

Owns the registry of networks and members, the operator's certificates and revocation lists,
joining and refreshing, leaving, pushes to members, peering between networks, records crossing a
peering, relays through a hub and forwarding within a network. May use: trust, the transport,
node's ground and protocol/. Must never be imported by those; sharing and the exchange build on
it, and it imports neither.
"""
