"""Acceptance scenarios: Given/When/Then against a real server on 127.0.0.1."""
