#!/usr/bin/env bash
# Package and deploy the one generic function (gen2, python312, Pub/Sub trigger, retries on), then
# give its push subscription a backoff and a dead-letter topic. Run deploy/infra.sh first.
# Usage: deploy/function.sh --project P [--region R] [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

BUNDLE=$BUILD_DIR/function

# The bundle Cloud Build installs and runs: main.py at its root, next to the packages it imports,
# the configs and schemas it reads, and the runtime requirements (never the dev ones). The operator
# tools (ingestion/ops: command line, scaffold) stay behind: the function never imports them.
package() {
  say "Packaging $BUNDLE"
  rm -rf "$BUNDLE"
  mkdir -p "$BUNDLE"
  cp "$ROOT/functions/main.py" "$ROOT/requirements.txt" "$BUNDLE/"
  cp -R "$ROOT/ingestion" "$ROOT/utils" "$BUNDLE/"
  rm -rf "$BUNDLE/ingestion/ops" "$BUNDLE/ingestion/__main__.py"
  cp -R "${INGEST_CONFIG_DIR:-$ROOT/config}" "$BUNDLE/config"
  cp -R "${INGEST_SCHEMA_DIR:-$ROOT/schema}" "$BUNDLE/schema"
  find "$BUNDLE" -name __pycache__ -type d -prune -exec rm -rf {} +
  du -sh "$BUNDLE" | cut -f1 | sed 's/^/bundle size: /'
}

# YAML, one quoted value per line: values may hold commas, which --set-env-vars would split on. Then
# the variables the configs' ${NAME} references read, as set here (check_config_env).
env_file() {
  local fixed name value
  fixed=$(cat <<EOF
GOOGLE_CLOUD_PROJECT: "$PROJECT"
INGEST_BUCKET: "$BUCKET"
INGEST_META_DATASET: "$META_DATASET"
INGEST_BQ_LOCATION: "$BQ_LOCATION"
INGEST_TRIGGER_TOPIC: "$TRIGGER_TOPIC"
INGEST_TIME_BUDGET_SECONDS: "$TIME_BUDGET_SECONDS"
INGEST_LOG_FORMAT: "json"
INGEST_LOG_LEVEL: "$LOG_LEVEL"
EOF
  )
  printf '%s\n' "$fixed"
  while IFS=$'\t' read -r -u 3 name _; do
    [[ -n $name && -n ${!name:-} ]] || continue
    [[ $'\n'$fixed == *$'\n'"$name: "* ]] && continue  # set by the deploy itself
    value=${!name}
    value=${value//\\/\\\\}
    value=${value//\"/\\\"}
    printf '%s: "%s"\n' "$name" "${value//$'\n'/\\n}"
  done 3<<<"$CONFIG_ENV"
}

deploy_function() {
  say "Function $FUNCTION_NAME"
  ((TIME_BUDGET_SECONDS < TIMEOUT_SECONDS)) ||
    die "TIME_BUDGET_SECONDS ($TIME_BUDGET_SECONDS) must stay below TIMEOUT_SECONDS ($TIMEOUT_SECONDS)"
  local env_vars="$BUILD_DIR/env.yaml"
  env_file >"$env_vars"
  [[ $DRY_RUN == 1 ]] && cat "$env_vars"
  run gcloud functions deploy "$FUNCTION_NAME" --gen2 --project "$PROJECT" --region "$REGION" \
    --runtime python312 --source "$BUNDLE" --entry-point ingest \
    --trigger-topic "$TRIGGER_TOPIC" --retry \
    --timeout "${TIMEOUT_SECONDS}s" --memory "$MEMORY" --cpu "$CPU" --concurrency 1 \
    --max-instances "$MAX_INSTANCES" --min-instances 0 \
    --service-account "$SERVICE_ACCOUNT" --trigger-service-account "$SERVICE_ACCOUNT" \
    --no-allow-unauthenticated --ingress-settings internal-only \
    --env-vars-file "$env_vars" --quiet
  # The Pub/Sub trigger pushes as the service account: it may invoke this function, no one else.
  run gcloud functions add-invoker-policy-binding "$FUNCTION_NAME" --project "$PROJECT" \
    --region "$REGION" --member "serviceAccount:$SERVICE_ACCOUNT"
}

# The trigger's push subscription is made by Eventarc; give it the backoff and dead-letter policy
# the run semantics need (a crashed run's lease expires after 600 s).
configure_redelivery() {
  say "Redelivery policy of the trigger subscription"
  local trigger subscription number agent
  trigger=$(query gcloud functions describe "$FUNCTION_NAME" --gen2 --project "$PROJECT" \
    --region "$REGION" --format 'value(eventTrigger.trigger)')
  subscription=$(query gcloud eventarc triggers describe "$trigger" --project "$PROJECT" \
    --location "$REGION" --format 'value(transport.pubsub.subscription)')
  [[ -n $subscription ]] || die "could not find the Pub/Sub subscription of trigger $trigger"
  run gcloud pubsub subscriptions update "$subscription" --project "$PROJECT" \
    --ack-deadline 600 --min-retry-delay "$MIN_RETRY_DELAY" --max-retry-delay "$MAX_RETRY_DELAY" \
    --dead-letter-topic "$DEAD_LETTER_TOPIC" --max-delivery-attempts "$MAX_DELIVERY_ATTEMPTS"
  # Pub/Sub's own service agent moves messages to the dead-letter topic.
  number=$(query gcloud projects describe "$PROJECT" --format 'value(projectNumber)')
  agent="serviceAccount:service-$number@gcp-sa-pubsub.iam.gserviceaccount.com"
  run gcloud pubsub topics add-iam-policy-binding "$DEAD_LETTER_TOPIC" --project "$PROJECT" \
    --member "$agent" --role roles/pubsub.publisher
  run gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --project "$PROJECT" \
    --member "$agent" --role roles/pubsub.subscriber
}

main() {
  parse_args "$@"
  validate_configs
  check_config_env
  package
  deploy_function
  configure_redelivery
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
