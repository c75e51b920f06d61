"""``python -m remem`` runs the CLI."""

from remem.cli import main

main()
