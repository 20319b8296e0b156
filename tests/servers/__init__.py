"""Local HTTP servers on 127.0.0.1 that speak the providers' real APIs, for the download tests."""
