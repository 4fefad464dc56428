"""Subcommands that live in their own module.

Each module has ``register(subparsers)``, which adds its parser and sets
``handler=<function(args) -> int>`` as a default. `cli.py` lists the modules in
``COMMAND_MODULES``. Modules import only argparse-level things at the top; the work they do
is imported inside the handler, so building the parser stays cheap.
"""
