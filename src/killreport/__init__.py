"""killreport: a local copy of EVE Online's public alliance, corporation and character data from
ESI, kept fresh under one ESI budget; embedded in one SQLite file (the default) or distributed over
PostgreSQL and RabbitMQ.

`__version__` is the installed package's version (pyproject.toml, through its metadata): what
`killreport --version` prints and the ESI User-Agent carries.
"""

from importlib.metadata import version

__version__ = version("killreport")
