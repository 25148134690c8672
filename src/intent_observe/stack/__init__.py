"""The composition root: the config file, the demo history and everything `up` runs, in order."""
