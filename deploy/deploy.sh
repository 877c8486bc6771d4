#!/usr/bin/env bash
# The whole deployment, in order: infrastructure, the function, the entity_status view, the
# schedules, the alerts.
# Idempotent: re-run it after adding or changing a config.
# Usage: deploy/deploy.sh --project P [--region R] [--notify email:ADDRESS]... [--dry-run]
# shellcheck source=deploy/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

parse_args "$@"
validate_configs
check_config_env  # before infra.sh: a deploy that would fail at function.sh changes nothing
export CONFIGS_VALIDATED=1 CONFIG_ENV
"$DEPLOY_DIR/infra.sh" "$@"
"$DEPLOY_DIR/function.sh" "$@"
"$DEPLOY_DIR/status_view.sh" "$@"
"$DEPLOY_DIR/schedules.sh" "$@"
"$DEPLOY_DIR/alerts.sh" "$@"
say "Done. Trigger a run: python -m ingestion publish <source>/<entity> --project $PROJECT"
