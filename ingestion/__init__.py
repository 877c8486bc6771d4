"""Config-driven REST API → GCS → BigQuery ingestion: the engine behind the Cloud Function.

Packages, bottom to top; a module imports only from its own package or from lower layers
(`tests/unit/test_architecture.py` enforces it):

    model      the value types every layer shares (windows, slices, pages, jobs)     layer 0
    contract   config format, trigger message, JSON Schemas, settings, errors, logs  layer 1
    source     the API side: requests, auth, paginators, formats, report jobs, walk  layer 2
    planning   windows, jobs, state, leases, gaps                                    layer 2
    warehouse  BigQuery tables, load jobs, MERGE, snapshot deletes, run ledger       layer 2
    rows       records → typed rows, staging to GCS, replay                          layer 3
    run        the entry point, the pipeline, its steps                              layer 4
    ops        operator tools: command line, scaffold, manifest, progress            layer 5

The deployed function ships everything but `ops`. See docs/architecture.md.
"""
