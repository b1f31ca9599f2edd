"""``python -m hpsearch``: the same as the ``hpsearch`` command."""

from hpsearch.commands import main

main()
