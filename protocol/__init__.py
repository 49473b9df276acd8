"""The praevnet federation protocol, pure and free of I/O.

This package turns Python values into canonical bytes, signs and verifies node descriptors,
envelopes and HTTP messages, and validates record content against the schemas. It never opens
a file, a socket or a database: node/ does that and calls in here. protocol/SPEC.md is the
normative text that this code implements.
"""

PROTOCOL_VERSION = "praevnet/1"
