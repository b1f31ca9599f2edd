"""CLI commands, one module per concern; each only parses and calls the package."""
