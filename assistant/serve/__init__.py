"""The edges: command line, web API, the UI's helpers, security."""
