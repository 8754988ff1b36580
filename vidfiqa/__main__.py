"""``python -m vidfiqa``: the command line, as the ``vidfiqa`` script."""

from vidfiqa.cli.main import main

main()
