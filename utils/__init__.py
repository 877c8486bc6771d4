"""Thin adapters over the official Google Cloud clients and `requests`. No business logic here."""
