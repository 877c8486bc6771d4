"""The warehouse, layer 2: BigQuery tables created and evolved from the schema JSON, load jobs
into staging, the MERGE into the target, a full snapshot's deletions, and the run ledger.

Imports: `ingestion.model`, `ingestion.contract`, `utils` (the BigQuery adapter).
"""
