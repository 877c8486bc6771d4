#!/usr/bin/env bash
# Everything the function needs before it is deployed: APIs, the bucket and its lifecycle rules, the
# datasets the configs name, the trigger and dead-letter topics, the function's service account with
# least-privilege roles, and an empty Secret Manager secret per credential the configs name.
# Idempotent: run it again after adding a config. Usage: deploy/infra.sh --project P [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

APIS=(
  cloudfunctions.googleapis.com run.googleapis.com cloudbuild.googleapis.com
  artifactregistry.googleapis.com eventarc.googleapis.com pubsub.googleapis.com
  cloudscheduler.googleapis.com secretmanager.googleapis.com bigquery.googleapis.com
  storage.googleapis.com iam.googleapis.com logging.googleapis.com
)

enable_apis() {
  say "APIs"
  run gcloud services enable "${APIS[@]}" --project "$PROJECT"
}

lifecycle_rules() {
  # Expire what is only needed for a while; state/ and leases/ are kept.
  cat <<EOF
{"rule": [
  {"action": {"type": "Delete"}, "condition": {"age": $STAGED_DAYS, "matchesPrefix": ["staged/"]}},
  {"action": {"type": "Delete"}, "condition": {"age": $REJECTS_DAYS, "matchesPrefix": ["rejects/"]}},
  {"action": {"type": "Delete"}, "condition": {"age": $JOBS_DAYS, "matchesPrefix": ["jobs/"]}},
  {"action": {"type": "Delete"}, "condition": {"age": $RAW_DAYS, "matchesPrefix": ["raw/"]}}
]}
EOF
}

ensure_bucket() {
  say "Bucket gs://$BUCKET"
  exists gcloud storage buckets describe "gs://$BUCKET" --project "$PROJECT" ||
    run gcloud storage buckets create "gs://$BUCKET" --project "$PROJECT" --location "$BUCKET_LOCATION" \
      --uniform-bucket-level-access --public-access-prevention
  local rules="$BUILD_DIR/lifecycle.json"
  lifecycle_rules >"$rules"
  [[ $DRY_RUN == 1 ]] && cat "$rules"
  run gcloud storage buckets update "gs://$BUCKET" --project "$PROJECT" --lifecycle-file "$rules"
}

ensure_datasets() {
  say "BigQuery datasets"
  local dataset
  for dataset in "$META_DATASET" $DATASETS; do
    exists bq --project_id "$PROJECT" show --format none "$PROJECT:$dataset" ||
      run bq --project_id "$PROJECT" --location "$BQ_LOCATION" mk --dataset \
        --description "Loaded by the $FUNCTION_NAME function (deploy/infra.sh)" "$PROJECT:$dataset"
  done
}

ensure_topic() {
  exists gcloud pubsub topics describe "$1" --project "$PROJECT" ||
    run gcloud pubsub topics create "$1" --project "$PROJECT"
}

ensure_topics() {
  say "Pub/Sub topics"
  ensure_topic "$TRIGGER_TOPIC"
  ensure_topic "$DEAD_LETTER_TOPIC"
  # A topic without a subscription drops what is published to it: keep the dead letters.
  exists gcloud pubsub subscriptions describe "$DEAD_LETTER_TOPIC-hold" --project "$PROJECT" ||
    run gcloud pubsub subscriptions create "$DEAD_LETTER_TOPIC-hold" --project "$PROJECT" \
      --topic "$DEAD_LETTER_TOPIC" --message-retention-duration 7d --expiration-period never
}

ensure_service_account() {
  say "Service account $SERVICE_ACCOUNT"
  exists gcloud iam service-accounts describe "$SERVICE_ACCOUNT" --project "$PROJECT" ||
    run gcloud iam service-accounts create "$SERVICE_ACCOUNT_NAME" --project "$PROJECT" \
      --display-name "API ingestion function ($FUNCTION_NAME)"
}

grant_roles() {
  say "Roles of $SERVICE_ACCOUNT (each on the one resource it needs)"
  local member="serviceAccount:$SERVICE_ACCOUNT" dataset
  # Run load and query jobs (billed to the project); data access is granted per dataset below.
  run gcloud projects add-iam-policy-binding "$PROJECT" --member "$member" \
    --role roles/bigquery.jobUser --condition None --quiet
  run gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" --project "$PROJECT" \
    --member "$member" --role roles/storage.objectAdmin
  for dataset in "$META_DATASET" $DATASETS; do
    run bq --project_id "$PROJECT" --location "$BQ_LOCATION" query --nouse_legacy_sql \
      "GRANT \`roles/bigquery.dataEditor\` ON SCHEMA \`$PROJECT.$dataset\` TO \"$member\""
  done
  # Continuations and parallel backfill parts are published by the function itself.
  run gcloud pubsub topics add-iam-policy-binding "$TRIGGER_TOPIC" --project "$PROJECT" \
    --member "$member" --role roles/pubsub.publisher
}

ensure_secrets() {
  say "Secret Manager secrets (created empty: add the values yourself, see README)"
  local member="serviceAccount:$SERVICE_ACCOUNT" secret use versions
  while IFS=$'\t' read -r -u 3 secret use; do
    [[ -n $secret ]] || continue
    exists gcloud secrets describe "$secret" --project "$PROJECT" ||
      run gcloud secrets create "$secret" --project "$PROJECT" --replication-policy automatic \
        --labels "managed-by=$FUNCTION_NAME"
    run gcloud secrets add-iam-policy-binding "$secret" --project "$PROJECT" \
      --member "$member" --role roles/secretmanager.secretAccessor
    if [[ $use == rotates ]]; then  # OAuth refresh tokens: the function stores the rotated token set
      run gcloud secrets add-iam-policy-binding "$secret" --project "$PROJECT" \
        --member "$member" --role roles/secretmanager.secretVersionManager
    fi
    versions=$(query gcloud secrets versions list "$secret" --project "$PROJECT" \
      --filter state:ENABLED --limit 1 --format 'value(name)' 2>/dev/null || true)
    [[ -n $versions ]] || echo "NOTE: secret $secret has no value yet; add it with:" \
      "gcloud secrets versions add $secret --project $PROJECT --data-file=-   (a JSON object on stdin)"
  done 3<<<"$SECRETS"
}

main() {
  parse_args "$@"
  validate_configs
  DATASETS=$(manifest datasets)
  SECRETS=$(manifest secrets)
  enable_apis
  ensure_bucket
  ensure_datasets
  ensure_topics
  ensure_service_account
  grant_roles
  ensure_secrets
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
