#!/usr/bin/env bash
# Deploys examples/hello from this repository's Git history through Slipway's public (Qovery) API.
# Usage: set -a; . .slipway/env; set +a; examples/hello/deploy.sh [commit]   (default: HEAD)
# SLIPWAY_CLUSTER=local-kubernetes deploys it to that cluster (the embedded Kubernetes of `make up` with
# SLIPWAY_KUBERNETES=embedded), in the organization it is registered in; otherwise a new organization's default.
set -euo pipefail
: "${SLIPWAY_API_URL:?source .slipway/env first}" "${SLIPWAY_API_TOKEN:?source .slipway/env first}"
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse "${1:-HEAD}")
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD)
api() { curl -sfS -H "Authorization: Token $SLIPWAY_API_TOKEN" -H 'content-type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
state_file="${SLIPWAY_STATE_DIR:-$repo/.slipway}/hello.json"  # remembers the app between runs

if [ -f "$state_file" ]; then
  app=$(field "['app']" < "$state_file")
else
  target=""
  if [ -n "${SLIPWAY_CLUSTER:-}" ]; then  # the organization and id of the cluster named so
    read -r org cluster < <(api "$SLIPWAY_API_URL/organization" | python3 -c '
import json, os, sys, urllib.request
url, token, name = os.environ["SLIPWAY_API_URL"], os.environ["SLIPWAY_API_TOKEN"], os.environ["SLIPWAY_CLUSTER"]
for org in json.load(sys.stdin)["results"]:
    oid = org["id"]
    req = urllib.request.Request(f"{url}/organization/{oid}/cluster", headers={"Authorization": f"Token {token}"})
    found = [c["id"] for c in json.load(urllib.request.urlopen(req))["results"] if c["name"] == name]
    if found:
        print(org["id"], found[0]); break
else:
    sys.exit(f"no cluster named {name}")')
    target=", \"cluster\": \"$cluster\""
  else
    org=$(api -X POST "$SLIPWAY_API_URL/organization" -d '{"name": "demo", "plan": "FREE"}' | field "['id']")
  fi
  project=$(api -X POST "$SLIPWAY_API_URL/organization/$org/project" -d '{"name": "hello"}' | field "['id']")
  env=$(api -X POST "$SLIPWAY_API_URL/project/$project/environment" -d "{\"name\": \"dev\"$target}" | field "['id']")
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
