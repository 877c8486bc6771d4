#!/usr/bin/env bash
# Alerts: two log-based metrics read from the function's own log lines (permanent failures by
# entity; rows loaded by entity and run status), the notification channels of --notify, and three
# Cloud Monitoring alerting policies — a run failed permanently, dead-lettered trigger messages
# wait, an entity is LATE (no successful run within its freshness objective). Idempotent: a metric
# is described, then created or updated; channels and policies, which Monitoring names itself, are
# found by display name, then created or replaced. Templates: deploy/alerts/*.json.
# Usage: deploy/alerts.sh --project P [--notify email:oncall@example.com]... [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

TEMPLATES=$DEPLOY_DIR/alerts

# What the metrics count, as Logs Explorer filters. A gen2 function logs as the Cloud Run service
# of the same name (lower case, "-" for "_"); the fields are those of its JSON log lines
# (ingestion/contract/logs.py): the run summary carries `status`, a permanent failure status "failed".
names() {
  local service
  service=$(tr 'A-Z_' 'a-z-' <<<"$FUNCTION_NAME")
  FAILURES_METRIC=${FUNCTION_NAME}_permanent_failures
  ROWS_METRIC=${FUNCTION_NAME}_rows_loaded
  FUNCTION_LOGS="resource.type=\"cloud_run_revision\" AND resource.labels.service_name=\"$service\""
  FAILURES_FILTER="$FUNCTION_LOGS AND severity>=ERROR AND (jsonPayload.status=\"failed\" OR \
jsonPayload.message=~\"^rejected trigger message\")"
  ROWS_FILTER="$FUNCTION_LOGS AND (jsonPayload.status=\"succeeded\" OR jsonPayload.status=\"continued\") \
AND jsonPayload.message=~\"rows merged\""
  RETRY_FILTER="$FUNCTION_LOGS AND jsonPayload.status=\"retry\""
  PROBLEMS_FILTER="$FUNCTION_LOGS AND severity>=WARNING"
  HOLD=$DEAD_LETTER_TOPIC-hold  # infra.sh: the subscription that keeps the dead letters
  ALERT_DIR=$BUILD_DIR/alerts
  mkdir -p "$ALERT_DIR"
}

# render TEMPLATE NAME=VALUE...: deploy/alerts/TEMPLATE with every {{NAME}} in its strings replaced
# ({{NAME:url}}: URL-encoded), and a list item "{{NAME[]}}" replaced by the words of NAME; written
# to build/alerts/TEMPLATE (shown in a dry run). Parsed and re-serialized, so any value is
# JSON-safe and a placeholder with no value is an error, not a silent blank.
render() {
  local template=$1
  shift
  "$PYTHON" - "$TEMPLATES/$template" "$ALERT_DIR/$template" "$@" <<'EOF'
import json, re, sys, urllib.parse

template, out, *pairs = sys.argv[1:]
values = dict(pair.split("=", 1) for pair in pairs)

def fill(node):
    if isinstance(node, str):
        def value(match):
            text = values[match[1]]
            return urllib.parse.quote(text, safe="") if match[2] == ":url" else text
        return re.sub(r"\{\{(\w+)(:url)?\}\}", value, node)
    if isinstance(node, list):
        items = []
        for item in node:
            spliced = re.fullmatch(r"\{\{(\w+)\[\]\}\}", item) if isinstance(item, str) else None
            items += values[spliced[1]].split() if spliced else [fill(item)]
        return items
    if isinstance(node, dict):
        return {key: fill(item) for key, item in node.items()}
    return node

with open(template) as source:
    rendered = fill(json.load(source))
with open(out, "w") as target:
    json.dump(rendered, target, indent=2)
    target.write("\n")
EOF
  if [[ $DRY_RUN == 1 ]]; then cat "$ALERT_DIR/$template"; fi
}

# A read-only listing whose lines are looked through; in a dry run it is shown (on stderr, as
# `query` shows) and finds nothing, as `exists` does: the dry run prints what a first deploy does.
listing() {
  if [[ $DRY_RUN == 1 ]]; then
    show "$@" >&2
    return 0
  fi
  "$@"
}

# create_named PLACEHOLDER COMMAND...: a create that prints the new resource's name (its --format),
# kept in CREATED; in a dry run it is shown and CREATED is the placeholder.
create_named() {
  local placeholder=$1
  shift
  show "$@"
  if [[ $DRY_RUN == 1 ]]; then
    CREATED=$placeholder
  else
    CREATED=$("$@")
  fi
}

# The line of $2 whose tab-separated field number $1 is $3 ("" when none).
field_of() {
  awk -F'\t' -v col="$1" -v want="$3" '$col == want { print; exit }' <<<"$2"
}

ensure_metric() {
  local name=$1 template=$2 verb=create
  shift 2
  render "$template" "$@"
  exists gcloud logging metrics describe "$name" --project "$PROJECT" && verb=update
  run gcloud logging metrics "$verb" "$name" --project "$PROJECT" --config-from-file "$ALERT_DIR/$template"
}

ensure_metrics() {
  say "Log-based metrics (from the function's log lines)"
  run gcloud services enable monitoring.googleapis.com logging.googleapis.com --project "$PROJECT"
  ensure_metric "$FAILURES_METRIC" metric-permanent-failures.json \
    FUNCTION_NAME="$FUNCTION_NAME" FAILURES_FILTER="$FAILURES_FILTER"
  ensure_metric "$ROWS_METRIC" metric-rows-loaded.json \
    FUNCTION_NAME="$FUNCTION_NAME" ROWS_FILTER="$ROWS_FILTER"
}

# --notify / NOTIFY: each spec's channel, reused when one with its display name exists, else
# created; an existing channel's resource name is used as given. CHANNELS: their names.
ensure_channels() {
  say "Notification channels"
  CHANNELS=""
  local specs spec type value label display listed found
  specs=$(tr ' ' '\n' <<<"${NOTIFY:-}" | awk 'NF && !seen[$0]++')
  if [[ -z $specs ]]; then
    echo "NOTE: no --notify given: new alerting policies notify no one (incidents show in the console);" \
      "existing ones keep their channels"
    return 0
  fi
  listed=$(listing gcloud beta monitoring channels list --project "$PROJECT" --format 'value(displayName,name)')
  while read -r -u 3 spec; do
    if [[ $spec == projects/* ]]; then
      CHANNELS+=" $spec"
      continue
    fi
    type=${spec%%:*} value=${spec#*:}
    case $type in
      email) label=email_address ;;
      sms) label=number ;;
      pubsub) label=topic; [[ $value == */* ]] || value=projects/$PROJECT/topics/$value ;;
      webhook) type=webhook_tokenauth label=url ;;
    esac
    display="$FUNCTION_NAME alerts: ${spec%%:*} $value"
    found=$(field_of 1 "$listed" "$display" | cut -f2)
    if [[ -n $found ]]; then
      echo "reusing $found ($display)"
      CHANNELS+=" $found"
      continue
    fi
    create_named "<new-channel:$spec>" gcloud beta monitoring channels create --project "$PROJECT" \
      --display-name "$display" --type "$type" --channel-labels "$label=$value" --format 'value(name)'
    CHANNELS+=" $CREATED"
  done 3<<<"$specs"
}

# ensure_policy TEMPLATE DISPLAY_NAME NAME=VALUE...: the policy of that display name, created or
# replaced by the rendered template. A deploy without --notify keeps the channels the policy has: it
# must not silence the alerts.
ensure_policy() {
  local template=$1 display=$2 existing name channels
  shift 2
  existing=$(field_of 2 "$POLICIES" "$display")
  name=$(cut -f1 <<<"$existing")
  channels=${CHANNELS:-$(cut -f3 <<<"$existing" | tr ';' ' ')}
  render "$template" DISPLAY_NAME="$display" CHANNELS="$channels" FUNCTION_NAME="$FUNCTION_NAME" \
    PROJECT="$PROJECT" "$@"
  if [[ -n $name ]]; then
    run gcloud alpha monitoring policies update "$name" --project "$PROJECT" \
      --policy-from-file "$ALERT_DIR/$template"
  else
    run gcloud alpha monitoring policies create --project "$PROJECT" --policy-from-file "$ALERT_DIR/$template"
  fi
}

# One PromQL query for every entity with an objective. Per objective: the entities with a
# successful run within the look-back but none within the objective, each result labelled with its
# entity. An entity that never succeeded is not LATE here (a first deploy pages no one): `status`
# shows it NEVER. (A metric-absence condition cannot wait longer than 23.5 hours; a daily entity's
# objective is 48.)
late_query() {
  local series seconds entities selector lookback query=""
  series="logging_googleapis_com:user_${ROWS_METRIC//[^A-Za-z0-9_]/_}_count"
  while IFS=$'\t' read -r -u 3 seconds entities; do
    selector="$series{monitored_resource=\"cloud_run_revision\",status=\"succeeded\",entity=~\"$entities\"}"
    lookback=$((LATE_LOOKBACK_DAYS * 86400 > 2 * seconds ? LATE_LOOKBACK_DAYS * 86400 : 2 * seconds))
    query+="${query:+ or }(count by (entity) (count_over_time(${selector}[${lookback}s]))"
    query+=" unless count by (entity) (count_over_time(${selector}[${seconds}s])))"
  done 3< <(awk -F'\t' 'NF == 2 { if ($2 in group) group[$2] = group[$2] "|" $1; else group[$2] = $1 }
                        END { for (s in group) print s "\t" group[s] }' <<<"$OBJECTIVES" | sort -n)
  printf '%s' "$query"
}

ensure_policies() {
  say "Alerting policies"
  POLICIES=$(listing gcloud alpha monitoring policies list --project "$PROJECT" \
    --format 'value(name,displayName,notificationChannels)')
  ensure_policy policy-permanent-failure.json "$FUNCTION_NAME: a run failed permanently" \
    FAILURES_METRIC="$FAILURES_METRIC" FAILURES_FILTER="$FAILURES_FILTER" META_DATASET="$META_DATASET"
  ensure_policy policy-dead-letters.json "$FUNCTION_NAME: dead-lettered trigger messages" \
    HOLD="$HOLD" DEAD_LETTER_TOPIC="$DEAD_LETTER_TOPIC" MAX_DELIVERY_ATTEMPTS="$MAX_DELIVERY_ATTEMPTS" \
    RETRY_FILTER="$RETRY_FILTER"
  local late="$FUNCTION_NAME: an entity is LATE" stale
  if [[ -n $OBJECTIVES ]]; then
    ensure_policy policy-late.json "$late" LATE_QUERY="$(late_query)" PROBLEMS_FILTER="$PROBLEMS_FILTER" \
      SCHEDULE_PREFIX="$SCHEDULE_PREFIX" REGION="$REGION"
  else
    echo "no entity has a freshness objective (no schedule, no \"freshness\"): no LATE alert"
    stale=$(field_of 2 "$POLICIES" "$late" | cut -f1)
    [[ -z $stale ]] || run gcloud alpha monitoring policies delete "$stale" --project "$PROJECT" --quiet
  fi
}

main() {
  parse_args "$@"
  validate_configs
  OBJECTIVES=$(manifest objectives)
  names
  ensure_metrics
  ensure_channels
  ensure_policies
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
