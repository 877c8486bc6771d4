"""Airbyte's declarative (low-code) source reading the bench API: the second anchor, run in its own
venv (`.local/bench-airbyte`, made by `make bench` from bench/requirements-airbyte.txt: airbyte-cdk
pins many packages, and never touches the function's or the tests' venv). Standard library and
airbyte_cdk only, as it runs under that venv's Python:

    .local/bench-airbyte/bin/python -m bench.airbyte '{"base_url": …, "api_key": …, "page_size": 100}'

The manifest is what a team writes in the Connector Builder for this API: a DeclarativeStream with
an HttpRequester (the API key header), a DpathExtractor on `data`, and a DefaultPaginator with
PageIncrement (`page`, `per_page` = page_size, first page 1; a short or empty page ends the walk).

How it is run: `ConcurrentDeclarativeSource(...).read(logger, config, catalog)` in-process, the
RECORD messages counted. That is the CDK's own read loop minus what `airbyte_cdk.entrypoint launch
read` adds on top — serialising every message to stdout, about twice the time here even with
stdout to /dev/null — so it is Airbyte at its fastest, and measured as the suite's extract-only run
is: from the first request to the last record, imports and set-up not counted. With `"entrypoint":
true` the same manifest goes through `launch(source, ["read", …])` instead, stdout counted in a
pipe-less way (to /dev/null), for comparison. The page-increment paginator fetches one page after
another: concurrency (`concurrency_level`, set to the suite's) only spreads partitions, and one
stream without slices is one partition.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import sys
import tempfile
import time


def manifest(page_size: int, concurrency: int) -> dict:
    import airbyte_cdk

    return {
        "version": getattr(airbyte_cdk, "__version__", "7.39.1"), "type": "DeclarativeSource",
        "check": {"type": "CheckStream", "stream_names": ["items"]},
        "spec": {"type": "Spec", "connection_specification": {
            "type": "object", "required": ["base_url", "api_key"],
            "properties": {"base_url": {"type": "string"},
                           "api_key": {"type": "string", "airbyte_secret": True}}}},
        "concurrency_level": {"type": "ConcurrencyLevel", "default_concurrency": max(concurrency, 2),
                              "max_concurrency": max(concurrency, 2)},
        "streams": [{
            "type": "DeclarativeStream", "name": "items", "primary_key": ["id"],
            "schema_loader": {"type": "InlineSchemaLoader", "schema": {
                "type": "object", "properties": {"id": {"type": "integer"}}}},
            "retriever": {
                "type": "SimpleRetriever",
                "requester": {
                    "type": "HttpRequester", "url_base": "{{ config['base_url'] }}", "path": "/v1/items",
                    "http_method": "GET",
                    "authenticator": {"type": "ApiKeyAuthenticator", "api_token": "{{ config['api_key'] }}",
                                      "inject_into": {"type": "RequestOption", "inject_into": "header",
                                                      "field_name": "X-API-Key"}}},
                "record_selector": {"type": "RecordSelector",
                                    "extractor": {"type": "DpathExtractor", "field_path": ["data"]}},
                "paginator": {
                    "type": "DefaultPaginator",
                    "page_token_option": {"type": "RequestOption", "inject_into": "request_parameter",
                                          "field_name": "page"},
                    "page_size_option": {"type": "RequestOption", "inject_into": "request_parameter",
                                         "field_name": "per_page"},
                    "pagination_strategy": {"type": "PageIncrement", "page_size": page_size,
                                            "start_from_page": 1, "inject_on_first_request": True}}}}],
    }


CATALOG = {"streams": [{
    "stream": {"name": "items", "json_schema": {}, "supported_sync_modes": ["full_refresh"]},
    "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(args: dict) -> dict:
    import airbyte_cdk
    from airbyte_cdk.models import ConfiguredAirbyteCatalogSerializer, Type
    from airbyte_cdk.sources.declarative.concurrent_declarative_source import ConcurrentDeclarativeSource

    config = {"base_url": args["base_url"], "api_key": args["api_key"]}
    catalog = ConfiguredAirbyteCatalogSerializer.load(CATALOG)
    source = ConcurrentDeclarativeSource(catalog=catalog, config=config, state=[],
                                         source_config=manifest(args["page_size"], args["concurrency"]))
    version = getattr(airbyte_cdk, "__version__", None) or _version()
    if args.get("entrypoint"):
        return {**_launch(source, config), "version": version, "how": "entrypoint launch read > /dev/null"}
    records = 0
    start = time.perf_counter()
    for message in source.read(logging.getLogger("airbyte"), config, catalog, []):
        if message.type == Type.RECORD:
            records += 1
    return {"run_s": time.perf_counter() - start, "records": records, "peak_rss_mb": peak_rss_mb(),
            "version": version, "how": "ConcurrentDeclarativeSource.read in-process"}


def _launch(source, config: dict) -> dict:
    """`launch(source, ["read", ...])` as a connector container runs it, stdout to /dev/null."""
    from airbyte_cdk.entrypoint import launch

    folder = tempfile.mkdtemp(prefix="bench-airbyte-")
    with open(f"{folder}/config.json", "w") as f:
        json.dump(config, f)
    with open(f"{folder}/catalog.json", "w") as f:
        json.dump(CATALOG, f)
    saved = os.dup(1)
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        try:
            start = time.perf_counter()
            launch(source, ["read", "--config", f"{folder}/config.json",
                            "--catalog", f"{folder}/catalog.json"])
            sys.stdout.flush()
            elapsed = time.perf_counter() - start
        finally:
            os.dup2(saved, 1)
    return {"run_s": elapsed, "records": None, "peak_rss_mb": peak_rss_mb()}


def _version() -> str:
    from importlib.metadata import version

    return version("airbyte-cdk")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    result = run(json.loads(sys.argv[1]))
    print("RESULT " + json.dumps(result), flush=True)
