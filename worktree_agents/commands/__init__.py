"""One module per `wta` subcommand: a plain function that takes the parsed
arguments, calls the modules that do the work, renders the result and returns
an exit code. `cli.py` only parses arguments."""
