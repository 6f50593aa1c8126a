"""Unit tests: fast, no sockets, no processes."""
