"""One module per CLI command; each parses, calls one core function and prints."""
