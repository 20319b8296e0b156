"""Local servers on 127.0.0.1 for the tests: HTTP servers that speak the providers' real APIs (the
download tests) and a throw-away PostgreSQL server (`postgres`, the tuning worker tests)."""
