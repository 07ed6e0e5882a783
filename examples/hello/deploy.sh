#!/usr/bin/env bash
# Deploys examples/hello from this repository's Git history through Slipway's public (Qovery) API.
# Usage: set -a; . .slipway/env; set +a; examples/hello/deploy.sh [commit]   (default: HEAD)
# SLIPWAY_CLUSTER=local-kubernetes deploys it to that cluster (the embedded Kubernetes of `make up` with
# SLIPWAY_KUBERNETES=embedded), in the organization it is registered in; otherwise a new organization's default.
set -euo pipefail
. "$(dirname "$0")/../lib.sh" "$@"  # repo, commit, branch, api, field, new_environment
# remembers the app between runs, one per target cluster (a run for local-kubernetes never redeploys the other)
state_file="${SLIPWAY_STATE_DIR:-$repo/.slipway}/hello${SLIPWAY_CLUSTER:+-$SLIPWAY_CLUSTER}.json"

if [ -f "$state_file" ]; then
  app=$(field "['app']" < "$state_file")
else
  env=$(new_environment demo hello)
  app=$(api -X POST "$SLIPWAY_API_URL/environment/$env/application" -d @- <<JSON | field "['id']"
{"name": "hello",
 "git_repository": {"url": "file://$repo", "branch": "$branch", "root_path": "/examples/hello", "provider": "GITLAB"},
 "build_mode": "DOCKER", "dockerfile_path": "Dockerfile", "cpu": 250, "memory": 128,
 "ports": [{"internal_port": 8080, "publicly_accessible": true, "protocol": "HTTP"}],
 "healthchecks": {"readiness_probe": {"type": {"http": {"path": "/", "port": 8080}}, "initial_delay_seconds": 0,
                                      "period_seconds": 1, "timeout_seconds": 1, "failure_threshold": 15}}}
JSON
)
  api -X POST "$SLIPWAY_API_URL/variable" -d "{\"key\": \"GREETING\", \"value\": \"hello\", \"is_secret\": false,
       \"variable_scope\": \"APPLICATION\", \"variable_parent_id\": \"$app\"}" > /dev/null
  printf '{"app": "%s"}\n' "$app" > "$state_file"
fi

execution=$(api -X POST "$SLIPWAY_API_URL/application/$app/deploy" -d "{\"git_commit_id\": \"$commit\"}" \
  | field "['execution_id']")
echo "deploying ${commit:0:12} (execution $execution)…"
while :; do
  state=$(api "$SLIPWAY_API_URL/application/$app/status" | field "['state']")
  echo "  $state"
  case "$state" in
    DEPLOYED) break ;;
    *ERROR|CANCELED) echo "deployment failed: see GET /environment/<id>/deploymentHistoryV2 and .slipway/logs/" >&2; exit 1 ;;
  esac
  sleep 2
done
url=$(api "$SLIPWAY_API_URL/application/$app/link" | field "['results'][0]['url']")
echo "open $url  (or: curl -k $url)"
