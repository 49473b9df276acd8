"""Tests for node.exchange."""
