"""Subcommands of `pevl`; see pevl/cli.py."""
