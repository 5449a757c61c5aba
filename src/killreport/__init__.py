"""killreport: a PostgreSQL copy of EVE Online's public alliance, corporation and character data."""

__version__ = "0.1.0"
