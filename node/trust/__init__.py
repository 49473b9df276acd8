"""Trust: whom this node trusts, with which keys, and how that trust is made and kept.

Owns the peer list, the keys held for each peer and how a descriptor may change them, this node's
own keyring (rotation, revocation, announcing), pairing by URL and fingerprint, and invitations.
May use: the transport, node's ground and protocol/. Must never be imported by the transport or
node's ground; networks, sharing and the exchange build on it, and it imports none of them.
"""
