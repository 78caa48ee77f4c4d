#!/usr/bin/env bash
# Compares Kestrel transports serving samples/WebApp, measured with wrk, in alternating rounds.
#
# Each round runs every transport of TRANSPORTS once, in order (A B, A B, ...). Each run starts a fresh
# server pinned to SERVER_CPU, waits until it answers, warms it up under load for WARMUP seconds (tiered JIT
# needs 25-30 s to settle), measures for DURATION seconds with wrk pinned to CLIENT_CPU, then stops the server.
# Read the ratios, not the absolute numbers: see benchmarks/README.md.
#
# Usage (from anywhere):
#   benchmarks/run.sh
#   ROUNDS=20 PIPELINE=16 benchmarks/run.sh
#   ROUNDS=2 WARMUP=5 DURATION=5 TRANSPORTS="epoll sockets" benchmarks/run.sh
#
# Environment variables (default):
#   ROUNDS=10                  rounds; each runs every transport once
#   TRANSPORTS="epoll sockets" values of the sample's --transport; the first is compared with each other one
#   CONNECTIONS=256            wrk connections (-c)
#   THREADS=1                  wrk threads (-t)
#   DURATION=10                measured seconds per run (wrk -d)
#   WARMUP=30                  seconds of wrk load before each measurement; 0 skips the warm-up
#   PIPELINE=1                 requests per write; above 1 uses benchmarks/pipeline.lua (TechEmpower uses 16)
#   PORT=5050                  the server listens on http://127.0.0.1:PORT
#   PATH_=/plaintext           request path (PATH_ because PATH is the shell's)
#   SERVER_CPU=0               CPU list for the server (taskset -c)
#   CLIENT_CPU=1               CPU list for wrk (taskset -c)
#   STARTUP_TIMEOUT=30         seconds a server gets to start answering
#   RESULTS_DIR=benchmarks/results   where the .txt report and .csv rows are written
#
# Exit status: 0 on success; 1 on a setup or server failure; 3 when wrk saw socket errors or non-2xx/3xx
# responses in a measured run (the numbers are then suspect; the report says which runs).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"

ROUNDS="${ROUNDS:-10}"
TRANSPORTS="${TRANSPORTS:-epoll sockets}"
CONNECTIONS="${CONNECTIONS:-256}"
THREADS="${THREADS:-1}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-30}"
PIPELINE="${PIPELINE:-1}"
PORT="${PORT:-5050}"
PATH_="${PATH_:-/plaintext}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-30}"
RESULTS_DIR="${RESULTS_DIR:-$SCRIPT_DIR/results}"

APP_DIR="$REPO_ROOT/samples/WebApp"
APP_DLL="$APP_DIR/bin/Release/net10.0/WebApp.dll"
URL_BASE="http://127.0.0.1:$PORT"
URL="$URL_BASE$PATH_"

read -r -a TRANSPORT_LIST <<<"$TRANSPORTS"
declare -a LABELS=()          # column label per transport position (names may repeat: "sockets sockets")
declare -A RPS=()             # RPS[round,index] = requests/sec
declare -a PROBLEMS=()        # measured runs with socket errors or non-2xx/3xx responses
declare -a WARNINGS=()        # warm-up runs with errors (reported, not fatal)
declare -a SERVER_NOTES=()    # what each transport's server said about its threads in round 1
SERVER_PID=""
WRK_PID=""
WORK_DIR=""
REPORT_FILE=""
CSV_FILE=""
WRK_LOG=""

# ---------------------------------------------------------------------------------------------- helpers

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }

# Prints a line and appends it to the report file (once that exists).
report() {
  printf '%s\n' "$*"
  if [[ -n "$REPORT_FILE" ]]; then printf '%s\n' "$*" >>"$REPORT_FILE"; fi
}

is_uint() { [[ "$1" =~ ^[0-9]+$ ]]; }

# ---------------------------------------------------------------------------------------------- setup

validate_config() {
  local name
  for name in ROUNDS CONNECTIONS THREADS DURATION WARMUP PIPELINE PORT STARTUP_TIMEOUT; do
    is_uint "${!name}" || die "$name must be a whole number, got '${!name}'"
  done
  ((ROUNDS >= 1)) || die "ROUNDS must be at least 1"
  ((DURATION >= 1)) || die "DURATION must be at least 1"
  ((PIPELINE >= 1)) || die "PIPELINE must be at least 1 (1 = not pipelined)"
  ((CONNECTIONS >= THREADS && THREADS >= 1)) || die "need CONNECTIONS >= THREADS >= 1"
  ((PORT >= 1 && PORT <= 65535)) || die "PORT must be 1-65535"
  ((${#TRANSPORT_LIST[@]} >= 2)) || die "TRANSPORTS needs at least two transports to compare, got '$TRANSPORTS'"
  [[ "$PATH_" == /* ]] || die "PATH_ must start with '/', got '$PATH_'"
  command -v dotnet >/dev/null || die "dotnet is not on PATH"
  command -v taskset >/dev/null || die "taskset is missing (Debian: apt-get install util-linux)"
  command -v curl >/dev/null || die "curl is missing (Debian: apt-get install curl)"
  taskset -c "$SERVER_CPU" true 2>/dev/null || die "SERVER_CPU='$SERVER_CPU' is not a usable CPU list (nproc: $(nproc))"
  taskset -c "$CLIENT_CPU" true 2>/dev/null || die "CLIENT_CPU='$CLIENT_CPU' is not a usable CPU list (nproc: $(nproc))"
}

make_labels() {
  local i name count
  for i in "${!TRANSPORT_LIST[@]}"; do
    name="${TRANSPORT_LIST[$i]}"
    count="$(printf '%s\n' "${TRANSPORT_LIST[@]}" | grep -cx -- "$name")"
    if ((count > 1)); then LABELS[i]="$name#$((i + 1))"; else LABELS[i]="$name"; fi
  done
}

ensure_wrk() {
  command -v wrk >/dev/null && return 0
  [[ "$(id -u)" == 0 ]] || die "wrk is missing; install it as root: apt-get update && apt-get install -y wrk"
  say "wrk is missing; installing it with apt-get"
  apt-get update && apt-get install -y wrk
  command -v wrk >/dev/null || die "wrk is still missing after apt-get install"
}

build_sample() {
  say "Building samples/WebApp (Release) once"
  (cd "$REPO_ROOT" && dotnet build samples/WebApp -c Release --nologo) || die "dotnet build samples/WebApp -c Release failed"
  [[ -f "$APP_DLL" ]] || die "the build succeeded but $APP_DLL is missing"
}

open_results() {
  local stamp config
  stamp="$(date +%Y%m%d-%H%M%S)"
  config="${TRANSPORTS// /-}_r${ROUNDS}_c${CONNECTIONS}_t${THREADS}_d${DURATION}_w${WARMUP}_p${PIPELINE}_${PATH_//[^A-Za-z0-9]/}"
  mkdir -p "$RESULTS_DIR"
  REPORT_FILE="$RESULTS_DIR/${stamp}_${config}.txt"
  CSV_FILE="$RESULTS_DIR/${stamp}_${config}.csv"
  WRK_LOG="$RESULTS_DIR/${stamp}_${config}.wrk.log"
  : >"$REPORT_FILE"
  : >"$WRK_LOG"
  echo "round,position,transport,requests_per_sec,socket_errors,non_2xx_3xx" >"$CSV_FILE"
}

report_config() {
  local commit
  commit="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo "none")"
  report "Kestrel transport benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  report "  transports:  ${TRANSPORT_LIST[*]} (ratios are ${LABELS[0]} / each other)"
  report "  rounds:      $ROUNDS   warm-up: ${WARMUP}s   measured: ${DURATION}s per run"
  report "  wrk:         -t$THREADS -c$CONNECTIONS, pipeline $PIPELINE, $URL, client CPU $CLIENT_CPU"
  report "  server:      dotnet WebApp.dll (Release, DOTNET_gcServer=1), server CPU $SERVER_CPU"
  report "  machine:     $(nproc) CPUs, $(uname -sr), .NET SDK $(dotnet --version), commit $commit"
  report "  report:      $REPORT_FILE"
  report ""
}

# ---------------------------------------------------------------------------------------------- server

port_is_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

start_server() {
  local transport="$1" log="$2"
  port_is_open && die "something already listens on 127.0.0.1:$PORT; stop it or set PORT"
  DOTNET_gcServer=1 taskset -c "$SERVER_CPU" \
    dotnet "$APP_DLL" --transport "$transport" --urls "$URL_BASE" >"$log" 2>&1 &
  SERVER_PID=$!
}

# Ready = answers HTTP on PATH_ (any status: wrk counts non-2xx) and logged "<transport> transport serves ..." (so a fallback is caught).
wait_until_ready() {
  local transport="$1" log="$2" deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ((SECONDS < deadline)); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      tail -n 30 "$log" >&2 || true
      die "the $transport server exited during start-up (its log is above)"
    fi
    if curl -sS -o /dev/null --max-time 2 "$URL" 2>/dev/null; then
      grep -q "$transport transport serves" "$log" && return 0
      if grep -q "transport serves" "$log"; then
        grep "transport serves" "$log" >&2
        die "asked for the $transport transport but another one serves (above); the comparison would be meaningless"
      fi
    fi
    sleep 0.2
  done
  tail -n 30 "$log" >&2 || true
  die "the $transport server did not answer $URL and log '$transport transport serves' within ${STARTUP_TIMEOUT}s"
}

stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  local pid="$SERVER_PID" waited=0
  SERVER_PID=""
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do sleep 0.1; waited=$((waited + 1)); done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

ensure_server_alive() {
  local transport="$1" log="$2"
  kill -0 "$SERVER_PID" 2>/dev/null && return 0
  tail -n 30 "$log" >&2 || true
  die "the $transport server died under load (its log is above)"
}

# Keeps the server's own line about its threads (e.g. "Started 1 epoll reactor thread(s).") for the report.
note_server_threads() {
  local label="$1" log="$2" line
  line="$(grep -h -m1 'reactor thread' "$log" | sed 's/^ *//' || true)"
  SERVER_NOTES+=("$label: ${line:-no thread count logged}")
}

# ---------------------------------------------------------------------------------------------- wrk

# Runs wrk for $1 seconds, writes its output to $2 and appends it, titled $3, to the raw wrk log.
run_wrk() {
  local seconds="$1" out="$2" title="$3"
  local -a cmd=(taskset -c "$CLIENT_CPU" wrk "-t$THREADS" "-c$CONNECTIONS" "-d${seconds}s")
  if ((PIPELINE > 1)); then
    cmd+=(-s "$SCRIPT_DIR/pipeline.lua" "$URL" -- "$PIPELINE")
  else
    cmd+=("$URL")
  fi
  # In the background plus `wait`: a foreground wrk would catch Ctrl-C itself, print its numbers and exit 0,
  # and bash would then carry on; `wait` returns at once on a trapped signal, so the traps stop everything.
  "${cmd[@]}" >"$out" 2>&1 &
  WRK_PID=$!
  wait "$WRK_PID" || { WRK_PID=""; cat "$out" >&2; die "wrk failed: ${cmd[*]}"; }
  WRK_PID=""
  { printf '==== %s: %s\n' "$title" "${cmd[*]}"; cat "$out"; } >>"$WRK_LOG"
}

parse_rps() { awk '/^Requests\/sec:/ { print $2; found = 1 } END { if (!found) print "" }' "$1"; }

# Sum of wrk's "Socket errors: connect A, read B, write C, timeout D" (0 when the line is absent).
parse_socket_errors() {
  awk '/Socket errors:/ { gsub(/,/, ""); print $4 + $6 + $8 + $10; found = 1 } END { if (!found) print 0 }' "$1"
}

# "Socket errors: connect A, read B, write C, timeout D; non-2xx/3xx responses: N" for a wrk output.
describe_errors() {
  local socket_line
  socket_line="$(grep -o 'Socket errors:.*' "$1" || echo 'Socket errors: none')"
  printf '%s; non-2xx/3xx responses: %s' "$socket_line" "$(parse_non2xx "$1")"
}

# wrk's "Non-2xx or 3xx responses: N" (0 when absent).
parse_non2xx() { awk '/Non-2xx or 3xx responses:/ { print $NF; found = 1 } END { if (!found) print 0 }' "$1"; }

# ---------------------------------------------------------------------------------------------- one run

# Measures transport $3 (position $2) in round $1; stores RPS[$1,$2] and notes any errors.
measure() {
  local round="$1" index="$2" transport="$3"
  local label="${LABELS[$index]}" log="$WORK_DIR/server-r$1-$2.log" out="$WORK_DIR/wrk-r$1-$2.txt"
  local rps errors non2xx

  start_server "$transport" "$log"
  wait_until_ready "$transport" "$log"
  if ((round == 1)); then note_server_threads "$label" "$log"; fi

  if ((WARMUP > 0)); then
    run_wrk "$WARMUP" "$out" "round $round, $label, warm-up"
    ensure_server_alive "$transport" "$log"
    errors="$(parse_socket_errors "$out")" non2xx="$(parse_non2xx "$out")"
    if ((errors > 0 || non2xx > 0)); then
      WARNINGS+=("round $round $label warm-up: $(describe_errors "$out")")
    fi
  fi

  run_wrk "$DURATION" "$out" "round $round, $label, measured"
  ensure_server_alive "$transport" "$log"
  stop_server

  rps="$(parse_rps "$out")"
  [[ -n "$rps" ]] || { cat "$out" >&2; die "no Requests/sec in wrk's output for round $round $label (above)"; }
  errors="$(parse_socket_errors "$out")" non2xx="$(parse_non2xx "$out")"
  if ((errors > 0 || non2xx > 0)); then
    PROBLEMS+=("round $round $label: $(describe_errors "$out")")
  fi
  RPS[$round,$index]="$rps"
  echo "$round,$((index + 1)),$transport,$rps,$errors,$non2xx" >>"$CSV_FILE"
}

# ---------------------------------------------------------------------------------------------- report

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

# Column width: wide enough for the header "$1" and for a number.
col_width() { local w=$((${#1} + 1)); ((w < 12)) && w=12; echo "$w"; }

print_table_header() {
  local i line header
  line="$(printf '%-6s' round)"
  for i in "${!LABELS[@]}"; do
    header="${LABELS[$i]} rps"
    line+="$(printf ' %*s' "$(col_width "$header")" "$header")"
  done
  for ((i = 1; i < ${#LABELS[@]}; i++)); do
    header="${LABELS[0]}/${LABELS[$i]}"
    line+="$(printf ' %*s' "$(col_width "$header")" "$header")"
  done
  report "$line"
}

print_round_row() {
  local round="$1" i line
  line="$(printf '%-6s' "$round")"
  for i in "${!LABELS[@]}"; do
    line+="$(printf ' %*.0f' "$(col_width "${LABELS[$i]} rps")" "${RPS[$round,$i]}")"
  done
  for ((i = 1; i < ${#LABELS[@]}; i++)); do
    line+="$(printf ' %*s' "$(col_width "${LABELS[0]}/${LABELS[$i]}")" "$(ratio "${RPS[$round,0]}" "${RPS[$round,$i]}")")"
  done
  report "$line"
}

# Reads numbers on stdin; prints "median min max".
median_min_max() {
  sort -g | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a n/a n/a"; exit }
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.3f %.3f %.3f\n", m, v[1], v[NR] }'
}

print_summary() {
  local i r stats med lo hi
  report ""
  report "Summary over $ROUNDS round(s):"
  for i in "${!LABELS[@]}"; do
    stats="$(for ((r = 1; r <= ROUNDS; r++)); do echo "${RPS[$r,$i]}"; done | median_min_max)"
    read -r med lo hi <<<"$stats"
    report "$(printf '  %-22s median %12.0f rps   min %12.0f   max %12.0f' "${LABELS[$i]}" "$med" "$lo" "$hi")"
  done
  for ((i = 1; i < ${#LABELS[@]}; i++)); do
    stats="$(for ((r = 1; r <= ROUNDS; r++)); do ratio "${RPS[$r,0]}" "${RPS[$r,$i]}"; echo; done | median_min_max)"
    read -r med lo hi <<<"$stats"
    report "$(printf '  %-22s median ratio %6s   spread %s .. %s' "${LABELS[0]}/${LABELS[$i]}" "$med" "$lo" "$hi")"
  done
}

print_server_notes() {
  local note
  report ""
  for note in "${SERVER_NOTES[@]}"; do report "Server $note"; done
}

# Reports warm-up errors, then measured-run errors loudly; returns 3 when a measured run had any.
print_problems() {
  local p
  report ""
  if ((${#WARNINGS[@]} > 0)); then
    report "Warning: errors during warm-up (not counted in the numbers):"
    for p in "${WARNINGS[@]}"; do report "  $p"; done
  fi
  if ((${#PROBLEMS[@]} == 0)); then
    report "Errors: none (no socket errors, no non-2xx/3xx responses in any measured run)."
    return 0
  fi
  report "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  report "!!! ERRORS in ${#PROBLEMS[@]} measured run(s); the numbers of these runs are not comparable:"
  for p in "${PROBLEMS[@]}"; do report "!!!   $p"; done
  report "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  return 3
}

# ---------------------------------------------------------------------------------------------- main

cleanup() {
  if [[ -n "$WRK_PID" ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  stop_server
  if [[ -n "$WORK_DIR" ]]; then rm -rf "$WORK_DIR"; fi
}

main() {
  local round index status=0
  trap cleanup EXIT
  trap 'say "interrupted" >&2; exit 130' INT
  trap 'exit 143' TERM

  validate_config
  make_labels
  ensure_wrk
  build_sample
  WORK_DIR="$(mktemp -d)"
  open_results
  report_config
  print_table_header

  for ((round = 1; round <= ROUNDS; round++)); do
    for index in "${!TRANSPORT_LIST[@]}"; do
      measure "$round" "$index" "${TRANSPORT_LIST[$index]}"
    done
    print_round_row "$round"
  done

  print_summary
  print_server_notes
  print_problems || status=$?
  report ""
  report "Written: $REPORT_FILE"
  report "         $CSV_FILE"
  report "         $WRK_LOG (raw wrk output)"
  return "$status"
}

main "$@"
