# shellcheck shell=bash
# Shared by deploy/*.sh: settings, argument parsing, and the three ways a command is issued.
#   run    ... a change: printed, then executed (only printed with --dry-run)
#   exists ... a read-only check: true when the resource is there (--dry-run: assumed absent, so the
#              dry run prints everything a first deploy would do)
#   query  ... a read-only command whose output is used (--dry-run: prints a <placeholder>)
set -euo pipefail

DEPLOY_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$DEPLOY_DIR")
DRY_RUN=${DRY_RUN:-0}
BUILD_DIR=${BUILD_DIR:-$ROOT/build}  # generated files: the function bundle, env and lifecycle files
mkdir -p "$BUILD_DIR"

usage() {
  cat <<EOF
usage: $0 --project PROJECT [--region REGION] [--notify CHANNEL]... [--dry-run]

  --project   Google Cloud project id (or PROJECT=...)
  --region    region of the function, scheduler jobs and bucket (or REGION=...; default us-central1)
  --notify    where alerts go (repeatable; or NOTIFY="a b", space-separated): email:ADDRESS,
              sms:+NUMBER, pubsub:TOPIC, webhook:URL, or an existing projects/P/notificationChannels/ID
  --dry-run   print every gcloud/bq command and run none (existence checks count as "absent")

Every other setting has a default in deploy/settings.env and can be overridden from the environment.
EOF
}

die() {
  echo "deploy: $*" >&2
  exit 1
}

parse_args() {
  while (($#)); do
    case $1 in
      --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
      --project=*) PROJECT=${1#*=}; shift ;;
      --region) REGION=${2:?--region needs a value}; shift 2 ;;
      --region=*) REGION=${1#*=}; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      --notify) NOTIFY="${NOTIFY:-} ${2:?--notify needs a value}"; shift 2 ;;
      --notify=*) NOTIFY="${NOTIFY:-} ${1#*=}"; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
  [[ -n ${PROJECT:-} ]] || { usage >&2; die "--project (or PROJECT) is required"; }
  check_notify
  # shellcheck source=deploy/settings.env
  source "$DEPLOY_DIR/settings.env"
}

# Notification channels of the alerts (deploy/alerts.sh), checked up front: a typo must not
# surface only after everything else was deployed.
NOTIFY_FORMS='email:ADDRESS, sms:+NUMBER, pubsub:TOPIC, webhook:URL or projects/P/notificationChannels/ID'
NOTIFY_SPEC='^(email:[^,@]+@[^,@]+|sms:\+?[0-9]+|pubsub:[^,]+|webhook:https?://[^[:space:],]+'
NOTIFY_SPEC+='|projects/[^/]+/notificationChannels/[^/]+)$'
check_notify() {
  local spec
  for spec in ${NOTIFY:-}; do
    [[ $spec =~ $NOTIFY_SPEC ]] || die "--notify $spec: expected $NOTIFY_FORMS"
  done
}

say() {
  printf '\n== %s\n' "$*"
}

show() {
  local quoted
  printf -v quoted '%q ' "$@"
  printf '+ %s\n' "${quoted% }"
}

run() {
  show "$@"
  if [[ $DRY_RUN == 1 ]]; then return 0; fi
  "$@"
}

exists() {
  if [[ $DRY_RUN == 1 ]]; then
    show "$@"
    return 1
  fi
  "$@" >/dev/null 2>&1
}

query() {
  if [[ $DRY_RUN == 1 ]]; then
    show "$@" >&2
    printf '<output of %s>\n' "$*"
    return 0
  fi
  "$@"
}

# The configs are the source of truth for datasets, secrets and schedules.
manifest() {
  (cd "$ROOT" && "$PYTHON" -m ingestion manifest "$@")
}

# The variables the configs' ${NAME} references read (`manifest env`): each one set here goes into
# the function's environment (function.sh), and a deploy without a required one (no default) stops
# before changing anything, naming it and the configs that read it.
check_config_env() {
  [[ ${CONFIGS_VALIDATED:-0} == 1 && -n ${CONFIG_ENV+set} ]] && return 0  # deploy.sh already did
  say "Environment variables the configs read"
  CONFIG_ENV=$(manifest env)
  local name need files missing=0
  while IFS=$'\t' read -r -u 3 name need files; do
    [[ -n $name ]] || continue
    if [[ -n ${!name:-} ]]; then
      echo "$name: passed to the function ($files)"
    elif [[ $need == required ]]; then
      echo "deploy: $name is not set (read by $files, which has no default for it)" >&2
      missing=1
    else
      echo "$name: not set, the default in $files applies"
    fi
  done 3<<<"$CONFIG_ENV"
  ((missing == 0)) || die "set the variables above: the deployed function reads them from its environment"
}

validate_configs() {
  [[ ${CONFIGS_VALIDATED:-0} == 1 ]] && return 0  # deploy.sh already did, for all three steps
  say "Validating every config and schema"
  (cd "$ROOT" && "$PYTHON" -m ingestion validate) || die "fix the configs above before deploying"
}
