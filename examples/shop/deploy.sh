#!/usr/bin/env bash
# Deploys examples/shop (a frontend, a backend, a PostgreSQL database and a seeding job) from this repository's
# Git history through Slipway's public (Qovery) API.
# Usage: set -a; . .slipway/env; set +a; examples/shop/deploy.sh [commit]   (default: HEAD)
# SLIPWAY_CLUSTER=local-kubernetes deploys it to that cluster (the embedded Kubernetes of `make up` with
# SLIPWAY_KUBERNETES=embedded), in the organization it is registered in; otherwise a new organization's default.
set -euo pipefail
. "$(dirname "$0")/../lib.sh" "$@"  # repo, commit, branch, api, field, new_environment
# remembers the environment and services between runs, one per target cluster
state_file="${SLIPWAY_STATE_DIR:-$repo/.slipway}/shop${SLIPWAY_CLUSTER:+-$SLIPWAY_CLUSTER}.json"

if [ -f "$state_file" ]; then
  read -r env db seed backend frontend < <(python3 -c '
import json, sys
s = json.load(sys.stdin)
print(s["environment"], s["database"], s["seed"], s["backend"], s["frontend"])' < "$state_file")
else
  env=$(new_environment shop shop)
  # a PostgreSQL 15 run as a container of the environment, on a volume; reachable from the environment only
  db=$(api -X POST "$SLIPWAY_API_URL/environment/$env/database" -d '{"name": "postgresql", "type": "POSTGRESQL",
       "version": "15", "mode": "CONTAINER", "accessibility": "PRIVATE"}' | field "['id']")
  # a lifecycle job built from Git, run at each deployment (on_start) between the database and the applications
  seed=$(api -X POST "$SLIPWAY_API_URL/environment/$env/job" -d @- <<JSON | field "['id']"
{"name": "seed",
 "source": {"docker": {"git_repository": {"url": "file://$repo", "branch": "$branch", "root_path": "/examples/shop/seed",
                                          "provider": "GITLAB"},
                       "dockerfile_path": "Dockerfile"}},
 "schedule": {"on_start": {"arguments": ["sh", "/seed.sh"]}},
 "healthchecks": {}}
JSON
)
  application() {  # name, root path, public?, readiness probe path: the new application's id
    api -X POST "$SLIPWAY_API_URL/environment/$env/application" -d @- <<JSON | field "['id']"
{"name": "$1",
 "git_repository": {"url": "file://$repo", "branch": "$branch", "root_path": "$2", "provider": "GITLAB"},
 "build_mode": "DOCKER", "dockerfile_path": "Dockerfile", "cpu": 250, "memory": 128,
 "ports": [{"internal_port": 8080, "publicly_accessible": $3, "protocol": "HTTP"}],
 "healthchecks": {"readiness_probe": {"type": {"http": {"path": "$4", "port": 8080}}, "initial_delay_seconds": 0,
                                      "period_seconds": 1, "timeout_seconds": 1, "failure_threshold": 15}}}
JSON
  }
  backend=$(application backend /examples/shop/backend false /)
  # the frontend's probe reads a static file: its / records a visit
  frontend=$(application frontend /examples/shop/frontend true /healthz)
  # BACKEND_HOST on the frontend: an alias of the backend's built-in QOVERY_APPLICATION_Z<8 hex>_HOST_INTERNAL
  # (the frontend cannot pick it out by pattern: it has its own); the alias follows whatever the cluster names it
  host_key="QOVERY_APPLICATION_Z$(tr -d - <<< "$backend" | cut -c1-8 | tr a-f A-F)_HOST_INTERNAL"
  host_var=$(api "$SLIPWAY_API_URL/variable?parent_id=$frontend&scope=APPLICATION" | python3 -c '
import json, sys
key = sys.argv[1]
found = [v["id"] for v in json.load(sys.stdin)["results"] if v["key"] == key]
print(found[0]) if found else sys.exit(f"no built-in variable {key} on the frontend")' "$host_key")
  api -X POST "$SLIPWAY_API_URL/variable/$host_var/alias" -d "{\"key\": \"BACKEND_HOST\",
       \"alias_scope\": \"APPLICATION\", \"alias_parent_id\": \"$frontend\"}" > /dev/null
  mkdir -p "$(dirname "$state_file")"
  printf '{"environment": "%s", "database": "%s", "seed": "%s", "backend": "%s", "frontend": "%s"}\n' \
    "$env" "$db" "$seed" "$backend" "$frontend" > "$state_file"
fi

# Qovery's deployAllServices: every service of the shop in one deployment (in the environment's stage order:
# database, job, applications), the three built from Git at this commit
request=$(api -X POST "$SLIPWAY_API_URL/environment/$env/service/deploy" -d @- <<JSON | field "['deployment_request_id']"
{"databases": ["$db"],
 "jobs": [{"id": "$seed", "git_commit_id": "$commit"}],
 "applications": [{"application_id": "$backend", "git_commit_id": "$commit"},
                  {"application_id": "$frontend", "git_commit_id": "$commit"}]}
JSON
)
echo "deploying ${commit:0:12} (deployment request $request)…"
last="" deadline=$((SECONDS + 1800))  # the first run builds three images and starts a database
while :; do
  # each service's state in this deployment; done when all four are DEPLOYED, failed on the first error
  verdict=$(api "$SLIPWAY_API_URL/environment/$env/statuses" | python3 -c '
import json, sys
request, names = sys.argv[1], dict(zip(sys.argv[2::2], sys.argv[3::2]))
body = json.load(sys.stdin)
mine = {s["id"]: s for kind in ("databases", "jobs", "applications") for s in body.get(kind) or []}
states = {}
for sid, name in names.items():
    s = mine.get(sid, {})
    states[name] = s.get("state", "?") if s.get("deployment_request_id") == request else "DEPLOYMENT_QUEUED"
env = body["environment"]
ours = env.get("deployment_request_id") == request  # the environment shows its latest deployment
if ours and env["state"].endswith(("ERROR", "CANCELED")):
    states["environment"] = env["state"]
line = ", ".join(f"{n} {s}" for n, s in states.items())
if any(s.endswith(("ERROR", "CANCELED")) for s in states.values()):
    print("failed", line)
elif all(s == "DEPLOYED" for s in states.values()) or (ours and env["state"] == "DEPLOYED"):
    print("done", line)
else:
    print("wait", line)' "$request" "$db" postgresql "$seed" seed "$backend" backend "$frontend" frontend)
  outcome=${verdict%% *} line=${verdict#* }
  [ "$line" = "$last" ] || echo "  $line"
  last=$line
  case "$outcome" in
    done) break ;;
    failed) echo "deployment failed: see GET /environment/$env/deploymentHistoryV2, GET /environment/$env/logs" \
                 "and .slipway/logs/" >&2; exit 1 ;;
  esac
  if [ "$SECONDS" -gt "$deadline" ]; then
    echo "still not deployed after 30 minutes: see GET /environment/$env/deploymentHistoryV2" >&2; exit 1
  fi
  sleep 2
done
url=$(api "$SLIPWAY_API_URL/application/$frontend/link" | field "['results'][0]['url']")
echo "open $url  (or: curl -k $url)"
