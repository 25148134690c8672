"""The CLI's subcommands, one module each (`cli.py` names them): they parse flags and call the rest."""
