"""The signed HTTP transport: how this node talks to another node, in both directions.

Owns the outgoing client (signed requests, verified answers, descriptor fetches) and the checks
on an incoming request's signature, nonce and size. It may use node's ground and protocol/; it
reads the keys this node holds for its peers, but decides nothing about whom to trust. The
wings above it (trust, networks, sharing, exchange) use it; it never imports them.
"""
