"""Tests for node.sharing."""
