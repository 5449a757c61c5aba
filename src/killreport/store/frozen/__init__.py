"""Schemas as a migration first created them, frozen: both dialects' migrations call the same one.

A migration is history and must not change when store/tables.py does, yet the tables it creates are
the same on both dialects but for their types. Each module here takes those types as arguments.
"""
