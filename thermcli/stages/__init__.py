"""One module per pipeline step: the library API behind each subcommand."""
