"""The officers' web interface: server-rendered pages over the node's own operations.

It owns pages, forms, sessions, translations and static assets, nothing else: every action calls the
same function in node/ that the CLI calls, so nothing is implemented twice. It may import node and
protocol; node never imports it, and cli imports it only to start it beside the federation server
(`praevnet serve`). It listens on its own address (`[ui] listen`), never on the federation port.
"""
