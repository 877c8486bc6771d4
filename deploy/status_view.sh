#!/usr/bin/env bash
# The BigQuery view <meta dataset>.entity_status, for dashboards (Looker Studio): per entity its
# freshness state (OK, LATE, NEVER, FAILING) against the objective its config sets, from the run
# ledger — the facts of `python -m ingestion status`. The objectives are written into the view, so
# every deploy replaces it; the run ledger is created first when nothing has run yet.
# Usage: deploy/status_view.sh --project P [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

replace_view() {
  say "BigQuery view $META_DATASET.entity_status (freshness per entity, from the configs and the run ledger)"
  local sql
  sql=$(cd "$ROOT" && "$PYTHON" -m ingestion status --view-sql --project "$PROJECT" \
    --meta-dataset "$META_DATASET") || die "could not generate the view from the configs"
  run bq --project_id "$PROJECT" --location "$BQ_LOCATION" query --nouse_legacy_sql "$sql"
}

main() {
  parse_args "$@"
  validate_configs
  replace_view
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then main "$@"; fi
