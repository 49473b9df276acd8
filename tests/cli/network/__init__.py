"""Tests for `praevnet network`."""
