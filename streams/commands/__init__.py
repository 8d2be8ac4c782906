"""The `sqm` commands, one module per group; `streams/cli.py` registers them in order."""
