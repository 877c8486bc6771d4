"""The contract, layer 1: what users write and what the product promises — the entity config and
its JSON Schemas (`schemas/`, validated by `schema.py`), `${NAME}` references, the trigger message,
settings from the environment, typed errors (the retry/acknowledge decision), instants and
durations, paths into JSON, placeholders, log lines and their redaction.

Imports: `ingestion.model` only (and the standard library and jsonschema). Nothing here calls
Google Cloud or an API.
"""
