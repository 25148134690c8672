"""The installed package's version, in a module of its own so that reading it imports nothing else.

It is in the name of the `intent_observe-<version>.dist-info` directory the installer wrote on
the import path, where `importlib.metadata.version` finds it too; importing importlib.metadata
(email, zipfile, csv…) was a quarter of the CLI's start-up.
"""

import os
import sys

_PREFIX, _SUFFIX = "intent_observe-", ".dist-info"


def _installed() -> str:
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:  # a zip file, a directory that is gone
            continue
        for name in names:
            if name.startswith(_PREFIX) and name.endswith(_SUFFIX):
                return name[len(_PREFIX) : -len(_SUFFIX)]
    return "0.0.0"  # running from a source tree without install


__version__ = _installed()
