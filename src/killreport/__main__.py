"""`python -m killreport` is the `killreport` command."""

from killreport.cli.main import main

main()
