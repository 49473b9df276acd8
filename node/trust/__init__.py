"""Trust: whom this node trusts, with which keys, and how that trust is made and kept.

Owns the peer list, the keys held for each peer and how a descriptor may change them, this
node's own keyring (rotation, revocation, announcing), pairing by URL and fingerprint, and
invitations. Every key change is accepted only when signed by a key already held. It may use
the transport and node's ground; networks, sharing and the exchange build on it and it never
imports them.
"""
