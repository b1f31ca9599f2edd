"""The ``hpsearch`` command line: thin click groups over the packages' surfaces.

One module per command group; shared options and formatting in ``_shared``.
"""

from hpsearch.commands._main import cli, main

__all__ = ["cli", "main"]
