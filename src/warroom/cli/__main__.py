"""`python -m warroom.cli`: the `warroom` command."""

from warroom.cli import main

main()
