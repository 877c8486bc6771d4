"""Planning, layer 2: which windows a message asks for (windows), the job that fixes them once
(jobs), what has been loaded and the watermark (state), who works on which window now (leases),
and the holes between loaded windows (gaps). All state lives in GCS, written with generation
preconditions.

Imports: `ingestion.model`, `ingestion.contract`, `utils` (GCS, Pub/Sub adapters). Never the
source: fan-out items are handed in by the run.
"""
