#!/usr/bin/env bash
# FerretDB v1.24.2 (SQLite backend) for CI and local tests of the MongoDB store.
#
#   scripts/ferretdb.sh build              build (or reuse) the cached binary, print its path
#   scripts/ferretdb.sh start <dir> <port> start in the background on 127.0.0.1:<port>,
#                                          data + state in <dir>, print the MONGODB_URL
#   scripts/ferretdb.sh stop <dir>         stop the instance started with that <dir>
#   scripts/ferretdb.sh url <port>         print the MONGODB_URL for a port
#
# Environment:
#   FERRETDB_CACHE       cache dir for the binary (default $HOME/.cache/iis-ferretdb)
#   FERRETDB_BIN         use this binary instead of building one
#   FERRETDB_DEBUG_PORT  port of FerretDB's debug HTTP listener (default: any free loopback port;
#                        FerretDB exits if it cannot bind it, so a fixed <port>+1 could collide)
#
# Telemetry is always disabled (flag, DO_NOT_TRACK and a loopback telemetry URL), which also
# turns off FerretDB's update check (it is part of the telemetry report). Loopback only.
#
# `go install github.com/FerretDB/FerretDB@v1.24.2` does not work behind proxies that refuse the
# module's version list, so the build downloads the exact module version and builds inside it.
set -euo pipefail

VERSION=v1.24.2
MODULE=github.com/FerretDB/FerretDB
CACHE_DIR="${FERRETDB_CACHE:-$HOME/.cache/iis-ferretdb}"
CACHED_BIN="$CACHE_DIR/ferretdb-$VERSION"

log() { echo "ferretdb.sh: $*" >&2; }
die() { log "$*"; exit 1; }

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

binary() {
  if [[ -n "${FERRETDB_BIN:-}" ]]; then
    [[ -x "$FERRETDB_BIN" ]] || die "FERRETDB_BIN=$FERRETDB_BIN is not executable"
    echo "$FERRETDB_BIN"
    return
  fi
  if [[ ! -x "$CACHED_BIN" ]]; then
    build >/dev/null
  fi
  echo "$CACHED_BIN"
}

build() {
  if [[ -x "$CACHED_BIN" ]]; then
    log "using cached $CACHED_BIN"
    echo "$CACHED_BIN"
    return
  fi
  command -v go >/dev/null || die "Go toolchain not found (needed to build FerretDB $VERSION)"
  mkdir -p "$CACHE_DIR"
  log "downloading $MODULE@$VERSION"
  local json dir
  json="$(go mod download -json "$MODULE@$VERSION")" || die "go mod download failed"
  dir="$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' | head -n 1)"
  [[ -n "$dir" && -d "$dir" ]] || die "could not find the module directory in: $json"
  # The module zip lacks the generated build/version/version.txt, and a binary built without it
  # panics at start ("Invalid build/version/version.txt file content"). The module cache is
  # read-only, so build from a writable copy that has the file.
  local src="$CACHE_DIR/src-$VERSION.$$"
  rm -rf "$src"
  cp -R "$dir" "$src"
  chmod -R u+w "$src"
  echo "$VERSION" >"$src/build/version/version.txt"
  log "building in $src (this can take 10+ minutes the first time)"
  local tmp="$CACHED_BIN.tmp.$$"
  (cd "$src" && GOFLAGS="-mod=mod ${GOFLAGS:-}" go build -o "$tmp" ./cmd/ferretdb) || {
    rm -rf "$tmp" "$src"
    die "go build failed"
  }
  rm -rf "$src"
  "$tmp" --version >/dev/null || { rm -f "$tmp"; die "the built binary does not start"; }
  mv -f "$tmp" "$CACHED_BIN"
  log "built $CACHED_BIN"
  echo "$CACHED_BIN"
}

port_open() {
  # bash's /dev/tcp: no nc needed.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local dir="${1:-}" port="${2:-}"
  [[ -n "$dir" && -n "$port" ]] || usage
  [[ "$port" =~ ^[0-9]+$ ]] || die "port must be a number, got $port"
  local debug_port="${FERRETDB_DEBUG_PORT:-0}"
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local pidfile="$dir/ferretdb.pid" logfile="$dir/ferretdb.log"
  if [[ -f "$pidfile" ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "already running (pid $(cat "$pidfile")); stop it first: $0 stop $dir"
  fi
  if port_open "$port"; then
    die "127.0.0.1:$port is already in use"
  fi
  local bin
  bin="$(binary)"
  DO_NOT_TRACK=1 FERRETDB_TELEMETRY=disable nohup "$bin" \
    --handler=sqlite \
    --sqlite-url="file:$dir/" \
    --state-dir="$dir" \
    --listen-addr="127.0.0.1:$port" \
    --debug-addr="127.0.0.1:$debug_port" \
    --telemetry=disable \
    --test-telemetry-url="http://127.0.0.1:9/" \
    --log-level=warn \
    >"$logfile" 2>&1 </dev/null &
  local pid=$!
  echo "$pid" >"$pidfile"
  local i
  for ((i = 0; i < 300; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f "$pidfile"
      tail -n 20 "$logfile" >&2 || true
      die "FerretDB exited during startup (log: $logfile)"
    fi
    if port_open "$port"; then
      log "FerretDB $VERSION pid $pid listening on 127.0.0.1:$port (data: $dir, log: $logfile)"
      echo "mongodb://127.0.0.1:$port/"
      return
    fi
    sleep 0.1
  done
  kill "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  die "FerretDB did not listen on 127.0.0.1:$port within 30 s (log: $logfile)"
}

stop() {
  local dir="${1:-}"
  [[ -n "$dir" ]] || usage
  local pidfile="$dir/ferretdb.pid"
  if [[ ! -f "$pidfile" ]]; then
    log "not running (no $pidfile)"
    return
  fi
  local pid
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    local i
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid did not stop after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    log "stopped pid $pid"
  else
    log "pid $pid was not running"
  fi
  rm -f "$pidfile"
}

case "${1:-}" in
  build) build ;;
  start) shift; start "$@" ;;
  stop) shift; stop "$@" ;;
  url) [[ -n "${2:-}" ]] || usage; echo "mongodb://127.0.0.1:$2/" ;;
  *) usage ;;
esac
