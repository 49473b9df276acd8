"""The exchange: the federation server and the loops that move envelopes between nodes.

Owns the aiohttp application and its routes (with the gate that authenticates every peer request),
the inbox and its store, what was received, delivery queues, pull and catch-up with its verifying
workers, the background worker, per-peer status and the demo federation. The top wing of node/: it
may use every other wing, node's ground and protocol/; no module of node/ may import it, only cli/
and the web interface.
"""
