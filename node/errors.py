"""Errors that node operations raise; the CLI prints their message as one line."""

from __future__ import annotations


class NodeError(Exception):
    """An operation could not be carried out; the message tells the user what to do."""


class NotFound(NodeError):
    """A record, alert or peer that the user named does not exist."""


class PolicyError(NodeError):
    """The sharing policy refuses to let something leave the node."""


class PeerError(NodeError):
    """A peer could not be reached or answered with something we refuse."""
