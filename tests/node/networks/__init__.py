"""Tests for node.networks."""
