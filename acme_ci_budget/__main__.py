"""``python -m acme_ci_budget`` runs the CLI."""

from acme_ci_budget.cli import main

main()
