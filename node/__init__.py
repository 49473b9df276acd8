"""A praevnet node: storage, the federation server and client, delivery and the sharing policy.

node/ is the only layer with I/O. Each operation (add a record, share it, pair with a peer, ingest
a transaction, ...) has exactly one implementation here, used by the CLI, the server and the demo
alike. Every byte that leaves for another node passes the sharing policy in node/sharing/policy.py.
"""
