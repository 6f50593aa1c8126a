"""Tests for the shop service (unittest only)."""
