#!/usr/bin/env bash
# One Cloud Scheduler job per entity config that declares a `schedule`, publishing that entity's
# trigger message to the trigger topic. Generated from the configs: drop in a config and re-run to
# schedule it; remove its `schedule` (or the config) and re-run to delete the job.
# Usage: deploy/schedules.sh --project P [--region R] [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

upsert_jobs() {
  say "Cloud Scheduler jobs (from config/*/*.json \"schedule\")"
  local job cron time_zone body description verb
  while IFS=$'\t' read -r -u 3 job cron time_zone body description; do
    [[ -n $job ]] || continue
    verb=create
    exists gcloud scheduler jobs describe "$job" --project "$PROJECT" --location "$REGION" && verb=update
    run gcloud scheduler jobs "$verb" pubsub "$job" --project "$PROJECT" --location "$REGION" \
      --schedule "$cron" --time-zone "$time_zone" --topic "$TRIGGER_TOPIC" \
      --message-body "$body" --description "$description"
  done 3<<<"$SCHEDULES"
}

delete_orphans() {
  say "Cloud Scheduler jobs no config declares any more"
  local listed name
  listed=$(query gcloud scheduler jobs list --project "$PROJECT" --location "$REGION" \
    --filter "name:/jobs/$SCHEDULE_PREFIX" --format 'value(name)')
  [[ $DRY_RUN == 1 ]] && return 0
  while read -r -u 3 name; do
    name=${name##*/}
    [[ $name == "$SCHEDULE_PREFIX"* ]] || continue
    cut -f1 <<<"$SCHEDULES" | grep -qxF "$name" ||
      run gcloud scheduler jobs delete "$name" --project "$PROJECT" --location "$REGION" --quiet
  done 3<<<"$listed"
}

main() {
  parse_args "$@"
  validate_configs
  SCHEDULES=$(manifest schedules --prefix "$SCHEDULE_PREFIX")
  upsert_jobs
  delete_orphans
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
