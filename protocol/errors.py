"""Exceptions raised by the protocol layer; each message names what was wrong."""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base class: input that the protocol refuses."""


class CanonicalError(ProtocolError):
    """JSON outside the strict canonical profile (floats, big integers, duplicate keys, ...)."""


class SchemaError(ProtocolError):
    """Content that does not match a record, alert or wire schema; `field` names the place."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}" if field else message)


class SignatureError(ProtocolError):
    """A signature that is missing, malformed or does not verify."""


class EnvelopeError(ProtocolError):
    """An envelope whose structure, hashes or origin are inconsistent."""


class DescriptorError(ProtocolError):
    """A node descriptor that is malformed, expired or not self-consistent."""
