"""Tests for node.trust."""
