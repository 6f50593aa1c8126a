"""Pipeline helper scripts; a package so tests can import them."""
