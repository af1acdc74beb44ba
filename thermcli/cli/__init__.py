"""The command-line interface: one module per subcommand, shared options in ``options``."""
