#!/usr/bin/env bash
# Evapo's distributed mode on one machine: two API processes, two Celery workers and Flower,
# against the local Redis + PostgreSQL (started if down). Ctrl-C stops everything it started.
#
# Knobs (environment): API_PORTS="8000 8001"  WORKERS=2  WORKER_CONCURRENCY=2
#   WORKER_METRICS_BASE=9200 (worker N: /metrics on BASE+N; 0 = off)  FLOWER_PORT=5555 (0 = off)
#   FAKE_APIS=1 (serve upstream weather from ../shared data on FAKE_APIS_PORT=9100, offline demo)
#   RUN_DIR=.run/distributed (logs)  WAIT_S=300 (start-up wait per process)
#   plus every EVAPO_* setting (see docs/SETTINGS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
EVAPO="$VENV/bin/evapo"
PY="$VENV/bin/python"
API_PORTS=${API_PORTS:-"8000 8001"}
WORKERS=${WORKERS:-2}
WORKER_CONCURRENCY=${WORKER_CONCURRENCY:-2}
WORKER_METRICS_BASE=${WORKER_METRICS_BASE:-9200}
FLOWER_PORT=${FLOWER_PORT:-5555}
FAKE_APIS=${FAKE_APIS:-0}
FAKE_APIS_PORT=${FAKE_APIS_PORT:-9100}
FAKE_DATA=${FAKE_DATA:-../shared/data/brazil-eto-validation}
RUN_DIR=${RUN_DIR:-.run/distributed}
HOST=${EVAPO_HOST:-127.0.0.1}

export EVAPO_MODE=distributed
export EVAPO_DATABASE_URL=${EVAPO_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/evapo}
export EVAPO_REDIS_URL=${EVAPO_REDIS_URL:-redis://127.0.0.1:6379/0}
export EVAPO_BROKER_URL=${EVAPO_BROKER_URL:-redis://127.0.0.1:6379/1}
export EVAPO_LOG_JSON=${EVAPO_LOG_JSON:-true}

mkdir -p "$RUN_DIR"
PIDS=()
NAMES=()
stop_all() {
  trap - EXIT INT TERM HUP
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 80); do  # up to 20 s for warm shutdowns, then force
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.25
  done
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "run-distributed: stopped"
}
trap stop_all EXIT INT TERM HUP
PARENT=$PPID  # when whoever started us goes away (closed terminal, killed test run), stop too

start() { # name, command... : run in the background, log to $RUN_DIR/name.log
  local name=$1; shift
  PYTHONUNBUFFERED=1 "$@" >"$RUN_DIR/$name.log" 2>&1 &
  PIDS+=("$!")
  NAMES+=("$name")
}

stop_if_orphaned() {
  if [ "$PARENT" != 1 ] && ! kill -0 "$PARENT" 2>/dev/null; then
    echo "run-distributed: the process that started this script is gone; stopping" >&2
    exit 1
  fi
}

first_dead() { # prints the name of the first started process that has exited, if any
  local i
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then echo "${NAMES[$i]}"; return 0; fi
  done
  return 1
}

wait_for() { # description, test command...
  local what=$1 dead; shift
  local deadline=$((SECONDS + ${WAIT_S:-300}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if dead=$(first_dead); then
      echo "run-distributed: $dead exited while waiting for $what (see $RUN_DIR/$dead.log)" >&2
      exit 1
    fi
    stop_if_orphaned
    sleep 0.25
  done
  echo "run-distributed: $what did not come up (logs in $RUN_DIR)" >&2
  exit 1
}

bash scripts/ensure-services.sh

if [ "$FAKE_APIS" = "1" ]; then
  export EVAPO_UPSTREAM_URL="http://127.0.0.1:$FAKE_APIS_PORT"
  start fake-apis "$EVAPO" fake-apis --data "$FAKE_DATA" --port "$FAKE_APIS_PORT"
  wait_for "fake APIs" "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $FAKE_APIS_PORT), 1)"
fi

# Validate every EVAPO_* setting (a bad value names its variable) and create the database.
"$PY" - <<'EOF'
import sys
from urllib.parse import urlsplit

from pydantic import ValidationError

from evapo.config import Settings

try:
    settings = Settings()
except ValidationError as exc:
    for err in exc.errors():
        name = "EVAPO_" + "_".join(str(p) for p in err["loc"]).upper() if err["loc"] else "settings"
        print(f"run-distributed: {name}: {err['msg']}", file=sys.stderr)
    sys.exit(2)
url = urlsplit(settings.database_url)
name = url.path.lstrip("/")
if url.hostname in ("127.0.0.1", "localhost") and name:
    import psycopg

    admin = settings.database_url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0]
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"run-distributed: created database {name}")
EOF
"$EVAPO" migrate

i=0
for port in $API_PORTS; do
  i=$((i + 1))
  start "api-$i" "$EVAPO" serve --host "$HOST" --port "$port"
done
for n in $(seq 1 "$WORKERS"); do
  metrics=()
  if [ "$WORKER_METRICS_BASE" != "0" ]; then metrics=(--metrics-port $((WORKER_METRICS_BASE + n))); fi
  start "worker-$n" "$EVAPO" worker --concurrency "$WORKER_CONCURRENCY" --hostname "w$n@%h" \
    "${metrics[@]}"
done
if [ "$FLOWER_PORT" != "0" ]; then
  if "$PY" -c "import flower" 2>/dev/null; then
    start flower "$VENV/bin/celery" --broker="$EVAPO_BROKER_URL" flower \
      --port="$FLOWER_PORT" --address="$HOST"
  else
    echo "run-distributed: Flower is not installed (pip install flower); skipping it" >&2
    FLOWER_PORT=0
  fi
fi

for port in $API_PORTS; do
  wait_for "API on port $port" "$PY" -c "import urllib.request; urllib.request.urlopen('http://$HOST:$port/ready', timeout=2)"
done
for n in $(seq 1 "$WORKERS"); do
  wait_for "worker $n" grep -q " ready\." "$RUN_DIR/worker-$n.log"
done

echo "run-distributed: everything is up (logs in $RUN_DIR)"
for port in $API_PORTS; do echo "  API + dashboard   http://$HOST:$port   (docs /docs, metrics /metrics)"; done
for n in $(seq 1 "$WORKERS"); do
  line="  worker w$n        concurrency $WORKER_CONCURRENCY"
  if [ "$WORKER_METRICS_BASE" != "0" ]; then line="$line, metrics http://$HOST:$((WORKER_METRICS_BASE + n))/metrics"; fi
  echo "$line"
done
if [ "$FLOWER_PORT" != "0" ]; then echo "  Flower            http://$HOST:$FLOWER_PORT"; fi
echo "  PostgreSQL        $EVAPO_DATABASE_URL"
echo "  Redis (events)    $EVAPO_REDIS_URL"
echo "  broker            $EVAPO_BROKER_URL"
if [ "$FAKE_APIS" = "1" ]; then echo "  fake upstream     $EVAPO_UPSTREAM_URL"; fi
echo "run-distributed: ready (Ctrl-C stops everything)"

# Stay in the foreground; if any process dies, stop the rest.
while true; do
  if dead=$(first_dead); then
    echo "run-distributed: $dead exited; stopping everything (see $RUN_DIR/$dead.log)" >&2
    exit 1
  fi
  stop_if_orphaned
  sleep 2 &
  wait $! || true
done
