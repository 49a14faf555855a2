"""The `liplab` command line (see `liplab --help`)."""
