"""Config-driven REST API → GCS → BigQuery ingestion: the engine behind the Cloud Function."""
