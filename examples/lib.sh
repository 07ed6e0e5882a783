#!/usr/bin/env bash
# Shared by the examples' deploy.sh scripts (sourced, with the script's commit argument): the checkout, the API
# helpers, and a new environment on the cluster SLIPWAY_CLUSTER names (or in a new organization's default).
: "${SLIPWAY_API_URL:?source .slipway/env first}" "${SLIPWAY_API_TOKEN:?source .slipway/env first}"
repo=$(git -C "$(dirname "${BASH_SOURCE[0]}")" rev-parse --show-toplevel)
commit=$(git -C "$repo" rev-parse "${1:-HEAD}")
branch=$(git -C "$repo" rev-parse --abbrev-ref HEAD)
api() { curl -sfS -H "Authorization: Token $SLIPWAY_API_TOKEN" -H 'content-type: application/json' "$@"; }
field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# new_environment <organization name> <project name>: prints the id of a new environment "dev" (or "dev-<cluster>")
new_environment() {
  local target="" org cluster project
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
    org=$(api -X POST "$SLIPWAY_API_URL/organization" -d "{\"name\": \"$1\", \"plan\": \"FREE\"}" | field "['id']")
  fi
  # the cluster's organization may hold this project already (an earlier run for another cluster): reuse it
  project=$(api "$SLIPWAY_API_URL/organization/$org/project" | NAME="$2" python3 -c '
import json, os, sys
print(next((p["id"] for p in json.load(sys.stdin)["results"] if p["name"] == os.environ["NAME"]), ""))')
  if [ -z "$project" ]; then
    project=$(api -X POST "$SLIPWAY_API_URL/organization/$org/project" -d "{\"name\": \"$2\"}" | field "['id']")
  fi
  # "dev", or "dev-<cluster>" when that project has a "dev" already
  name=$(api "$SLIPWAY_API_URL/project/$project/environment" | CLUSTER="${SLIPWAY_CLUSTER:-}" python3 -c '
import json, os, sys
taken = {e["name"] for e in json.load(sys.stdin)["results"]}
print("dev" if "dev" not in taken else "dev-" + os.environ["CLUSTER"])')
  api -X POST "$SLIPWAY_API_URL/project/$project/environment" -d "{\"name\": \"$name\"$target}" | field "['id']"
}
