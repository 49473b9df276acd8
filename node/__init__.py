"""A praevnet node: storage, the federation server and client, delivery and the sharing policy.

node/ is the only layer with I/O. Its own modules are the ground (home, config, store and
migrations, users, audit log, input files, wake-ups); the wings build on it in one direction:
transport -> trust -> networks -> sharing -> exchange, each importing only wings below it (checked
by import-linter, see pyproject.toml). Each operation (add a record, share it, pair with a peer,
ingest a transaction, ...) has exactly one implementation here, used by the CLI, the server and the
demo alike. Every byte that leaves for another node passes the sharing policy in
node/sharing/policy.py.
"""
