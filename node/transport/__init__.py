"""The signed HTTP transport: how this node talks to another node, in both directions.

Owns the outgoing client (signed requests, verified answers, descriptor fetches), the checks on an
incoming request's signature, nonce and size, and reading the keys held for a peer to check them.
It decides nothing about whom to trust. May use: node's ground and protocol/. Must never be
imported by node's ground or protocol/; every wing above it (trust, networks, sharing, exchange)
may use it, and it imports none of them.
"""
