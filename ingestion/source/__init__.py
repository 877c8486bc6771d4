"""The source side, layer 2: everything that talks to a third-party API — requests and their
placeholders, the HTTP session and retries, authenticators (Secret Manager credentials, OAuth2),
paginators, response formats, date formats, report jobs, and the page walk of a slice.

Imports: `ingestion.model`, `ingestion.contract`, `utils` (requests, Secret Manager adapters).
Never planning, the warehouse, rows or the run.
"""
