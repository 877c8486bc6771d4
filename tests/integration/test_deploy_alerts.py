"""deploy/alerts.sh run for real with the fake `gcloud` (tests/support/fakes/gcloud): the log-based
metrics, notification channels and alerting policies a deploy creates, what a second deploy does
to them, the LATE alert following the freshness objectives, the dry run; the policy and metric
files as the installed Google Cloud CLI parses them; and, on the local stack, that the function's
own log lines are what the metrics' filters and extractors read."""

from __future__ import annotations

import io
import json
import logging
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path

import promql_parser
import pytest

from ingestion.contract import logs
from ingestion.contract.config import config_files, load_entity
from ingestion.contract.envrefs import ALL_FIELDS
from ingestion.contract.settings import ROOT
from tests.support.fakecloud import PROJECT, Cloud
from tests.support.log_filter import as_cloud_run_stores_it, extract, matches

FAILURES, ROWS = "ingest_permanent_failures", "ingest_rows_loaded"
POLICIES = {"failure": "ingest: a run failed permanently",
            "dead letters": "ingest: dead-lettered trigger messages",
            "late": "ingest: an entity is LATE"}



def objectives(config_dir: Path = ROOT / "config", schema_dir: Path = ROOT / "schema") -> dict[str, int]:
    """entity → freshness objective in seconds, as the configs define it (EntityConfig)."""
    found = {}
    for name in config_files(config_dir):
        objective = load_entity(name, config_dir, schema_dir, ALL_FIELDS).freshness_objective
        if objective is not None:
            found[name] = int(objective.total_seconds())
    return found


def metric_files(cloud: Cloud) -> dict[str, dict]:
    """The last config file each log-based metric was created or updated with."""
    return {c["words"][3]: json.loads(c["files"]["--config-from-file"]) for c in cloud.calls()
            if c["words"][:2] == ["logging", "metrics"] and "--config-from-file" in c["files"]}


def policy_calls(cloud: Cloud, verb: str) -> dict[str, tuple[list[str], dict]]:
    """display name → (command words, policy file) of each `policies <verb>`."""
    found = {}
    for call in cloud.commands("gcloud", "alpha", "monitoring", "policies", verb):
        policy = json.loads(next(c["files"]["--policy-from-file"] for c in cloud.calls()
                                 if c["args"] == call.args))
        found[policy["displayName"]] = (call.words, policy)
    return found


def late_windows(query: str) -> dict[str, tuple[int, int]]:
    """entity → (look-back, objective) in seconds, read from the LATE query's syntax tree: each
    `or` branch is `count by (entity) (count_over_time(S[look-back])) unless ...(S[objective])`."""
    def branches(node):
        if type(node).__name__ == "ParenExpr":
            return branches(node.expr)
        if type(node).__name__ == "BinaryExpr" and str(node.op) == "or":
            return branches(node.lhs) + branches(node.rhs)
        return [node]

    def selector(side):
        assert type(side).__name__ == "AggregateExpr" and "by (entity)" in str(side.modifier)
        matrix = side.expr.args[0]
        matchers = {m.name: m.value for m in matrix.vector_selector.matchers.matchers}
        assert matrix.vector_selector.name == f"logging_googleapis_com:user_{ROWS}_count"
        assert matchers["status"] == "succeeded" and matchers["monitored_resource"] == "cloud_run_revision"
        return matchers["entity"].split("|"), int(matrix.range.total_seconds())

    found = {}
    for branch in branches(promql_parser.parse(query)):
        assert str(branch.op) == "unless"
        (seen, lookback), (fresh, objective) = selector(branch.lhs), selector(branch.rhs)
        assert seen == fresh
        for entity in seen:
            assert entity not in found
            found[entity] = (lookback, objective)
    return found


def test_a_deploy_creates_the_metrics_the_channels_and_the_three_alerting_policies(cloud):
    cloud.deploy("deploy.sh", "--notify", "email:oncall@example.com",
                 NOTIFY="email:data-team@example.com email:oncall@example.com")

    metrics = metric_files(cloud)
    assert {c.words[4] for c in cloud.commands("gcloud", "logging", "metrics", "create")} == {FAILURES, ROWS}
    function_logs = 'resource.type="cloud_run_revision" AND resource.labels.service_name="ingest"'
    failures = metrics[FAILURES]
    assert failures["filter"].startswith(function_logs)
    assert 'jsonPayload.status="failed"' in failures["filter"] and "severity>=ERROR" in failures["filter"]
    assert (failures["metricDescriptor"]["metricKind"], failures["metricDescriptor"]["valueType"]) == \
        ("DELTA", "INT64")
    assert failures["labelExtractors"]["entity"] == "EXTRACT(jsonPayload.entity)"
    assert {label["key"] for label in failures["metricDescriptor"]["labels"]} == {"entity", "error_class"}
    rows = metrics[ROWS]
    assert rows["metricDescriptor"]["valueType"] == "DISTRIBUTION" and "rows merged" in rows["valueExtractor"]
    assert rows["labelExtractors"] == {"entity": "EXTRACT(jsonPayload.entity)",
                                       "status": "EXTRACT(jsonPayload.status)"}

    channels = cloud.commands("gcloud", "beta", "monitoring", "channels", "create")
    assert sorted(c.flag("--channel-labels") for c in channels) == [  # one each, the repeated one too
        "email_address=data-team@example.com", "email_address=oncall@example.com"]
    assert {c.flag("--type") for c in channels} == {"email"}
    channel_names = [f"projects/{PROJECT}/notificationChannels/{n}" for n in (1, 2)]

    created = policy_calls(cloud, "create")
    assert set(created) == set(POLICIES.values())
    assert all(sorted(policy["notificationChannels"]) == channel_names for _, policy in created.values())

    [failed] = created[POLICIES["failure"]][1]["conditions"]
    threshold = failed["conditionThreshold"]
    assert f'metric.type="logging.googleapis.com/user/{FAILURES}"' in threshold["filter"]
    assert (threshold["comparison"], threshold["thresholdValue"], threshold["duration"]) == \
        ("COMPARISON_GT", 0, "0s")  # the first failure opens an incident
    assert threshold["aggregations"][0]["groupByFields"] == ["metric.label.entity"]  # one per entity
    logs_link = created[POLICIES["failure"]][1]["documentation"]["links"][0]["url"]
    assert logs_link.endswith(f"?project={PROJECT}")
    assert urllib.parse.unquote(logs_link.split(";query=")[1].split(";")[0]) == failures["filter"]

    [dead] = created[POLICIES["dead letters"]][1]["conditions"]
    threshold = dead["conditionThreshold"]
    assert 'metric.type="pubsub.googleapis.com/subscription/num_undelivered_messages"' in threshold["filter"]
    assert 'resource.label.subscription_id="ingest-dead-letter-hold"' in threshold["filter"]
    assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 0)

    [late] = created[POLICIES["late"]][1]["conditions"]
    windows = late_windows(late["conditionPrometheusQueryLanguage"]["query"])
    expected = objectives()
    assert {entity: objective for entity, (_, objective) in windows.items()} == expected
    assert all(lookback >= max(30 * 86400, 2 * objective) for lookback, objective in windows.values())
    assert "demo_shop/orders" not in windows  # no schedule, no `freshness`: never LATE
    assert expected["appstore/sales"] == 2 * 86400  # daily: longer than a metric-absence condition allows


def test_a_second_deploy_replaces_everything_in_place_and_keeps_the_channels(cloud):
    cloud.deploy("alerts.sh", "--notify", "email:oncall@example.com")
    cloud.forget_calls()

    cloud.deploy("alerts.sh")  # no --notify this time

    assert [c.words for c in cloud.commands("gcloud") if "create" in c.words] == []
    assert {c.words[4] for c in cloud.commands("gcloud", "logging", "metrics", "update")} == {FAILURES, ROWS}
    updated = policy_calls(cloud, "update")
    assert sorted(words[5] for words, _ in updated.values()) == \
        [f"projects/{PROJECT}/alertPolicies/{n}" for n in (1, 2, 3)]
    assert all(policy["notificationChannels"] == [f"projects/{PROJECT}/notificationChannels/1"]
               for _, policy in updated.values())

    cloud.forget_calls()
    console_made = f"projects/{PROJECT}/notificationChannels/77"  # e.g. Slack, made in the console
    result = cloud.deploy("alerts.sh", "--notify", "email:oncall@example.com", "--notify", console_made)

    assert not cloud.commands("gcloud", "beta", "monitoring", "channels", "create")
    assert "reusing projects/acme-data/notificationChannels/1 (ingest alerts: email oncall@example.com)" \
        in result.stdout
    assert all(policy["notificationChannels"] == [f"projects/{PROJECT}/notificationChannels/1", console_made]
               for _, policy in policy_calls(cloud, "update").values())


def test_the_late_alert_follows_the_freshness_objectives_and_goes_when_none_is_left(cloud):
    configs, schemas = cloud.configs()
    spec = json.loads((configs / "jira/requests.json").read_text())
    (configs / "jira/requests.json").write_text(json.dumps({**spec, "freshness": "PT6H"}))

    cloud.deploy("alerts.sh")

    [(_, late)] = [v for k, v in policy_calls(cloud, "create").items() if k == POLICIES["late"]]
    windows = late_windows(late["conditions"][0]["conditionPrometheusQueryLanguage"]["query"])
    assert windows["jira/requests"][1] == 6 * 3600
    assert {entity: objective for entity, (_, objective) in windows.items()} == objectives(configs, schemas)

    for source in configs.iterdir():  # only the demo source is left: nothing is scheduled
        if source.name != "demo_shop":
            shutil.rmtree(source)
            shutil.rmtree(schemas / source.name)
    cloud.forget_calls()

    result = cloud.deploy("alerts.sh")

    assert "no entity has a freshness objective" in result.stdout
    assert [c.words[5] for c in cloud.commands("gcloud", "alpha", "monitoring", "policies", "delete")] == \
        [f"projects/{PROJECT}/alertPolicies/3"]
    assert set(policy_calls(cloud, "update")) == {POLICIES["failure"], POLICIES["dead letters"]}


def test_the_dry_run_shows_the_metrics_channels_and_policies_and_runs_nothing(cloud):
    result = cloud.deploy("deploy.sh", "--dry-run", "--notify", "email:oncall@example.com")

    assert cloud.calls() == []
    out = result.stdout
    for command in (f"+ gcloud logging metrics create {FAILURES} --project {PROJECT} --config-from-file",
                    f"+ gcloud logging metrics create {ROWS}",
                    "+ gcloud beta monitoring channels create --project acme-data --display-name "
                    "ingest\\ alerts:\\ email\\ oncall@example.com --type email",
                    "+ gcloud alpha monitoring policies create --project acme-data --policy-from-file"):
        assert command in out
    assert out.count("+ gcloud alpha monitoring policies create") == 3
    assert '"conditionPrometheusQueryLanguage"' in out and '"thresholdValue": 0' in out  # the files too
    assert '"notificationChannels": [\n    "<new-channel:email:oncall@example.com>"\n  ]' in out


def test_a_malformed_notify_stops_the_deploy_before_any_cloud_call(cloud):
    result = cloud.deploy("deploy.sh", "--notify", "mail:oncall@example.com", check=False)

    assert result.returncode != 0
    assert "--notify mail:oncall@example.com: expected email:ADDRESS" in result.stderr
    assert cloud.calls() == []


def google_cloud_sdk() -> Path | None:
    gcloud = shutil.which("gcloud")
    lib = Path(gcloud).resolve().parent.parent / "lib" if gcloud else None
    return lib if lib and (lib / "googlecloudsdk").is_dir() else None


PARSE_AS_GCLOUD_DOES = """
import json, sys
sdk = sys.argv[1]
sys.path[:0] = [sdk, sdk + "/third_party"]
from apitools.base.py import encoding
from googlecloudsdk.generated_clients.apis.logging.v2 import logging_v2_messages as logging_v2
from googlecloudsdk.generated_clients.apis.monitoring.v3 import monitoring_v3_messages as monitoring_v3

def unknown(message, path=""):
    found = [path + name for name in message.all_unrecognized_fields()]
    for field in message.all_fields():
        value = message.get_assigned_value(field.name)
        for item in value if isinstance(value, list) else [value]:
            if hasattr(item, "all_unrecognized_fields"):
                found += unknown(item, path + field.name + ".")
    return found

kinds = {"metric": logging_v2.LogMetric, "policy": monitoring_v3.AlertPolicy}
print(json.dumps({path: unknown(encoding.PyValueToMessage(kinds[kind], json.load(open(path))))
                  for kind, path in zip(sys.argv[2::2], sys.argv[3::2])}))
"""


@pytest.mark.skipif(google_cloud_sdk() is None, reason="no Google Cloud CLI installed")
def test_every_metric_and_policy_file_parses_as_gcloud_parses_it_with_no_unknown_field(cloud):
    """The CLI reads these files into its generated API messages (encoding.PyValueToMessage): a
    misspelt field would be dropped there without a word, and the alert would not be what it says."""
    cloud.deploy("alerts.sh", "--notify", "email:oncall@example.com")
    build = cloud.tmp / "build/alerts"
    files = [arg for name in ("metric-permanent-failures", "metric-rows-loaded", "policy-permanent-failure",
                              "policy-dead-letters", "policy-late")
             for arg in (name.split("-")[0], str(build / f"{name}.json"))]

    result = subprocess.run([sys.executable, "-c", PARSE_AS_GCLOUD_DOES, str(google_cloud_sdk()), *files],
                            capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {path: [] for path in files[1::2]}


def test_the_alerts_doc_names_what_the_deploy_creates_with_its_exact_filter_and_link(cloud):
    cloud.deploy("alerts.sh")
    failures = metric_files(cloud)[FAILURES]["filter"]

    doc = (ROOT / "docs/operations.md").read_text().split("\n## Alerts\n", 1)[1].split("\n## ", 1)[0]

    assert [name for name in (FAILURES, ROWS, *POLICIES.values()) if f"`{name}`" not in doc] == []
    assert failures in doc  # what on-call pastes into Logs Explorer is what the metric counts
    assert f"query={urllib.parse.quote(failures, safe='')};duration=P7D?project=PROJECT" in doc


def test_manifest_objectives_prints_each_objective_in_seconds():
    result = subprocess.run([sys.executable, "-m", "ingestion", "manifest", "objectives"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert {entity: int(seconds) for entity, seconds in lines} == objectives()


# --- the function's own log lines, on the local stack ---------------------------------------------

def test_the_filter_reader_reads_a_filter_as_cloud_logging_does():
    entry = {"severity": "ERROR", "jsonPayload": {"status": "failed", "message": "x: sync failed"}}

    # OR binds tighter than AND in Cloud Logging: this is `severity>=WARNING AND (... OR ...)`
    either = 'severity>=WARNING AND jsonPayload.status="retry" OR jsonPayload.status="failed"'
    assert matches(either, entry) and not matches(either, {**entry, "severity": "INFO"})
    assert not matches('jsonPayload.status="failed" AND NOT severity>=ERROR', entry)
    assert matches('jsonPayload.message=~"sync fail"', entry) and not matches('jsonPayload.item="x"', entry)


def test_the_function_logs_what_the_metrics_count(cloud, env, demo_api, function_client):
    from tests.support.delivery import deliver
    from utils import bq_helper

    cloud.deploy("alerts.sh")
    metrics = metric_files(cloud)
    env.copy_demo_configs()
    stream = io.StringIO()
    handler = logs.make_handler(logging.StreamHandler(stream), json_lines=True)
    logging.getLogger().addHandler(handler)
    try:
        deliver(function_client, {"entity": "demo_shop/orders"}, message_id="5001")  # loads rows
        demo_api.api_key = "rotated-elsewhere"
        deliver(function_client, {"entity": "demo_shop/customers"}, message_id="5002")  # HTTP 401
        deliver(function_client, {"entity": "demo_shop/nope"}, message_id="5003")  # no such config
        deliver(function_client, raw=b"{not json", message_id="5004")  # rejected before any run
    finally:
        logging.getLogger().removeHandler(handler)
    entries = [as_cloud_run_stores_it(line) for line in stream.getvalue().splitlines()]

    def counted(metric: str) -> list[dict]:
        return [e for e in entries if matches(metrics[metric]["filter"], e)]

    failed = counted(FAILURES)
    assert [e["jsonPayload"]["message_id"] for e in failed] == ["5002", "5003", "5004"]  # one line each
    extractors = metrics[FAILURES]["labelExtractors"]
    labels = [{key: extract(expression, e) or "" for key, expression in extractors.items()} for e in failed]
    assert labels == [{"entity": "demo_shop/customers", "error_class": "AuthError"},
                      {"entity": "demo_shop/nope", "error_class": "PayloadError"},
                      {"entity": "", "error_class": ""}]  # an unreadable message names no entity

    [loaded] = counted(ROWS)
    assert loaded["jsonPayload"]["message_id"] == "5001"
    assert {k: extract(x, loaded) for k, x in metrics[ROWS]["labelExtractors"].items()} == \
        {"entity": "demo_shop/orders", "status": "succeeded"}
    [run] = [dict(r.items()) for r in bq_helper.query(
        f"SELECT rows_merged FROM `{env.settings.project}.{env.settings.meta_dataset}.runs` "
        "WHERE message_id = '5001'").result()]
    assert int(extract(metrics[ROWS]["valueExtractor"], loaded)) == run["rows_merged"] > 0
