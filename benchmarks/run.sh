#!/usr/bin/env bash
# Compares Kestrel transports serving samples/WebApp under wrk load, at several load points, in rounds.
#
# Every round starts a fresh server process per transport spec (one at a time, each on its own port, all pinned
# alike), warms it up at every load point and measures it at every load point, then stops it; the order of the
# transports rotates from round to round. A fresh process per round samples where the kernel happens to place its
# threads, which on a shared core moves a process's numbers by 15-20 % (benchmarks/README.md), instead of letting
# one placement decide the whole run. Per measurement it records requests/s, p99 latency, errors and the
# server's CPU time per request; with PERF=1 one extra fresh process per transport counts syscalls and context
# switches per request at every point. Results: a report, CSV files, a markdown table and a chart.
# Read the ratios, not the absolute numbers: see benchmarks/README.md.
#
# Usage (from anywhere):
#   benchmarks/run.sh
#   TRANSPORTS="epoll epoll:inline sockets" ROUNDS=12 benchmarks/run.sh
#   TRANSPORTS="sockets sockets" benchmarks/run.sh          # A/A run: the noise floor of this machine
#   CORES=2 PERF=1 POINTS="c256 p256" benchmarks/run.sh
#   CORES=4 benchmarks/run.sh                              # on a bigger machine: servers on CPUs 0-3, wrk on the rest
#   ROUNDS=2 WARMUP=3 DURATION=2 benchmarks/run.sh          # smoke test of the script (numbers meaningless)
#
# Environment variables (default):
#   TRANSPORTS="epoll sockets"  transport specs: a sample --transport value (epoll, iouring, select, default, sockets),
#                               optionally with ":inline" (adds --unsafe-prefer-inline-scheduling true) and, for
#                               the reactor transports, ":nospin" (adds --reactor-spin-microseconds 0); or c-epoll,
#                               the reference for the physical limit: benchmarks/reference/epoll-server.c, a minimal
#                               C server on epoll (one thread per server CPU), built with gcc.
#                               Repeats are allowed. Ratios are the first spec / each other one.
#   POINTS="c1 c16 c64 c256 p256 json256 close16 close64"   load points, in this order (see POINT_SHAPE below)
#   ROUNDS=8                    rounds; each starts every transport's server afresh and measures it at every point
#   DURATION=5                  measured seconds per measurement (wrk -d)
#   WARMUP=25                   warm-up seconds per server start, split evenly over POINTS (at least 1 s each); 0 skips
#   THREADS=                    wrk threads (-t), capped at the point's connection count; default: one per wrk CPU
#   CORES=1                     N: servers on the first N usable CPUs, wrk on the others; when N is all of them,
#                               wrk shares the last one (on 2 CPUs: 1 = server CPU 0, wrk CPU 1; 2 = server 0-1, wrk 1)
#   SERVER_CPU, CLIENT_CPU      override the CPU lists (taskset -c) that CORES picks
#   PERF=0                      1: after the rounds, one perf-stat pass per point and transport
#   PORT=5050                   the i-th spec's server listens on 127.0.0.1:PORT+i (i from 0)
#   PAUSE=1                     seconds of quiet before each measurement
#   STARTUP_TIMEOUT=30          seconds a server gets to start answering
#   BUILD=1                     0: skip `dotnet build` and use the WebApp.dll already built
#   APP_DLL=                    another checkout's built WebApp.dll to measure instead (not rebuilt), e.g. an older commit
#   RESULTS_DIR=benchmarks/results   a directory <stamp>_<config>/ is made in it for the result files
#
# Exit status: 0 on success; 1 on a bad setting, a setup failure or a server that died; 3 when wrk saw socket
# errors or non-2xx/3xx responses in a measured run (the numbers are then suspect; the report says which runs).
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
# Another checkout's build may be measured with this kit (APP_DLL=/path/to/other/samples/WebApp/bin/Release/net10.0/WebApp.dll):
# it is used as it is, and the report names that checkout's commit.
APP_DLL_GIVEN="${APP_DLL:+1}"
APP_DLL="${APP_DLL:-$REPO_ROOT/samples/WebApp/bin/Release/net10.0/WebApp.dll}"
APP_ROOT="$REPO_ROOT"

TRANSPORTS="${TRANSPORTS:-epoll sockets}"
DEFAULT_POINTS="c1 c16 c64 c256 p256 json256 close16 close64"
POINTS="${POINTS:-$DEFAULT_POINTS}"
ROUNDS="${ROUNDS:-8}"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-25}"
THREADS="${THREADS:-}"
CORES="${CORES:-1}"
PERF="${PERF:-0}"
PORT="${PORT:-5050}"
PAUSE="${PAUSE:-1}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-30}"
BUILD="${BUILD:-1}"
RESULTS_DIR="${RESULTS_DIR:-$SCRIPT_DIR/results}"

# The sample's --transport values; the sample itself rejects others, but a typo should fail before the build.
KNOWN_TRANSPORTS="epoll iouring select default sockets c-epoll"

# The load points: connections, request path, requests per write (above 1 = pipelined with pipeline.lua), and
# whether every request asks for "Connection: close" (a new connection per request: short-lived clients, health
# checks, HTTP/1.0 clients, proxies that do not pool), so that accept, registration and close are measured too.
declare -A POINT_SHAPE=(
  [c1]="1 /plaintext 1 keep-alive"
  [c16]="16 /plaintext 1 keep-alive"
  [c64]="64 /plaintext 1 keep-alive"
  [c256]="256 /plaintext 1 keep-alive"
  [p256]="256 /plaintext 16 keep-alive"
  [json256]="256 /json 1 keep-alive"
  [close16]="16 /plaintext 1 close"
  [close64]="64 /plaintext 1 close"
)

# perf events and their column names. sendto is counted next to sendmsg because Kestrel's Sockets transport
# sends a single buffer with send(2), which is the sendto syscall, while the epoll transport uses sendmsg.
PERF_EVENTS=(context-switches raw_syscalls:sys_enter syscalls:sys_enter_sendmsg syscalls:sys_enter_sendto syscalls:sys_enter_epoll_wait)
PERF_COLUMNS=(context_switches syscalls sendmsg sendto epoll_wait)

declare -a SPECS=() BASES=() INLINE=() NOSPIN=() LABELS=() PORTS=() SERVER_PIDS=() SERVER_LOGS=() SERVER_NOTES=() CLIENT_CPUS=()
declare -a POINT_LIST=() PERF_OK=() PERF_NOTES=() PROBLEMS=() WARNINGS=()
WRK_PID=""
PERF_PID=""
TMP_DIR=""
OUT_DIR=""
REPORT=""
RUNS_CSV=""
PERF_CSV=""
SUMMARY_CSV=""
WRK_LOG=""
CLK_TCK=""
MODE_TEXT=""

# ---------------------------------------------------------------------------------------------- helpers

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: error: %s\n' "$*" >&2; exit 1; }
is_uint() { [[ "$1" =~ ^(0|[1-9][0-9]{0,8})$ ]]; } # no leading 0: bash arithmetic would read 08 as octal
is_root() { [[ "$(id -u)" == 0 ]]; }

# Prints a line and appends it to report.txt (once that exists).
report() {
  printf '%s\n' "$*"
  if [[ -n "$REPORT" ]]; then printf '%s\n' "$*" >>"$REPORT"; fi
}

# ---------------------------------------------------------------------------------------------- settings

validate_numbers() {
  local name
  for name in ROUNDS DURATION WARMUP CORES PERF PORT PAUSE STARTUP_TIMEOUT BUILD; do
    is_uint "${!name}" || die "$name must be a whole number (no leading zeros), got '${!name}' (see the header of benchmarks/run.sh)"
  done
  ((ROUNDS >= 1)) || die "ROUNDS must be at least 1"
  ((DURATION >= 1)) || die "DURATION must be at least 1 (seconds per measurement)"
  if [[ -n "$THREADS" ]]; then
    is_uint "$THREADS" && ((THREADS >= 1)) || die "THREADS must be a whole number of at least 1 (wrk threads), or unset for one per wrk CPU, got '$THREADS'"
  fi
  ((STARTUP_TIMEOUT >= 1)) || die "STARTUP_TIMEOUT must be at least 1 (seconds)"
  ((PERF == 0 || PERF == 1)) || die "PERF must be 0 or 1, got '$PERF'"
  ((BUILD == 0 || BUILD == 1)) || die "BUILD must be 0 (use the existing build) or 1, got '$BUILD'"
}

# Splits TRANSPORTS into specs ("epoll:inline" -> base epoll, inline 1) and gives repeats labels "name#k".
parse_transports() {
  local spec base suffix i k count seen
  local -a suffixes
  read -r -a SPECS <<<"$TRANSPORTS"
  ((${#SPECS[@]} >= 2)) || die "TRANSPORTS needs at least two transport specs to compare, got '$TRANSPORTS' (e.g. TRANSPORTS=\"epoll sockets\")"
  for i in "${!SPECS[@]}"; do
    spec="${SPECS[$i]}"
    base="${spec%%:*}"
    suffixes=()
    [[ "$spec" == *:* ]] && IFS=: read -r -a suffixes <<<"${spec#*:}"
    [[ " $KNOWN_TRANSPORTS " == *" $base "* ]] ||
      die "TRANSPORTS: unknown transport '$base' in '$spec'; use one of: $KNOWN_TRANSPORTS, optionally with :inline (e.g. epoll:inline)"
    INLINE[i]=0 NOSPIN[i]=0
    [[ "$base" != c-epoll || ${#suffixes[@]} -eq 0 ]] || die "TRANSPORTS: '$spec': the C reference server takes no suffixes"
    for suffix in "${suffixes[@]}"; do
      case "$suffix" in
        inline) INLINE[i]=1 ;;
        nospin)
          [[ "$base" != sockets ]] || die "TRANSPORTS: ':nospin' in '$spec' applies to the reactor transports only (Sockets never polls)"
          NOSPIN[i]=1 ;;
        *) die "TRANSPORTS: unknown suffix ':$suffix' in '$spec'; the suffixes are :inline and :nospin (e.g. epoll:inline, epoll:nospin)" ;;
      esac
    done
    BASES[i]="$base"
  done
  for i in "${!SPECS[@]}"; do
    count=0 seen=0
    for k in "${!SPECS[@]}"; do
      [[ "${SPECS[$k]}" == "${SPECS[$i]}" ]] || continue
      count=$((count + 1))
      if ((k <= i)); then seen=$((seen + 1)); fi
    done
    if ((count > 1)); then LABELS[i]="${SPECS[$i]}#$seen"; else LABELS[i]="${SPECS[$i]}"; fi
    PORTS[i]=$((PORT + i))
  done
  ((PORT >= 1 && PORT + ${#SPECS[@]} - 1 <= 65535)) || die "PORT must leave room for ${#SPECS[@]} ports up to 65535, got '$PORT'"
}

parse_points() {
  local point seen=" "
  read -r -a POINT_LIST <<<"$POINTS"
  ((${#POINT_LIST[@]} >= 1)) || die "POINTS is empty; choose from: $DEFAULT_POINTS"
  for point in "${POINT_LIST[@]}"; do
    [[ -n "${POINT_SHAPE[$point]:-}" ]] || die "POINTS: unknown load point '$point'; choose from: $DEFAULT_POINTS"
    [[ "$seen" != *" $point "* ]] || die "POINTS lists '$point' twice; give each load point once"
    seen+="$point "
  done
}

# The CPUs this script may use (its affinity, e.g. under taskset), as a list of numbers.
usable_cpus() {
  local list part from to cpu
  list="$(awk '/^Cpus_allowed_list:/ { print $2 }' /proc/self/status)"
  [[ -n "$list" ]] || list="0-$(($(nproc) - 1))"
  for part in ${list//,/ }; do
    from="${part%-*}" to="${part#*-}"
    for ((cpu = from; cpu <= to; cpu++)); do printf '%d ' "$cpu"; done
  done
}

# A list of CPU numbers as taskset -c wants it: "0 1 2 5" -> "0-2,5".
cpu_list() {
  local out="" start="" prev="" cpu
  for cpu in "$@"; do
    if [[ -n "$prev" && $cpu -eq $((prev + 1)) ]]; then prev=$cpu; continue; fi
    [[ -n "$start" ]] && out+="${out:+,}$start$( ((prev > start)) && echo "-$prev")"
    start=$cpu prev=$cpu
  done
  [[ -n "$start" ]] && out+="${out:+,}$start$( ((prev > start)) && echo "-$prev")"
  echo "$out"
}

# "CPU 0" or "CPUs 0-1" for a taskset -c list. (A bare `(( n > 1 )) && echo s` in a command substitution would fail
# the assignment around it under set -e when n is 1.)
cpu_words() {
  if (($(cpu_count "$1") > 1)); then echo "CPUs $1"; else echo "CPU $1"; fi
}

# How many CPUs a taskset -c list names.
cpu_count() {
  local part count=0
  for part in ${1//,/ }; do
    if [[ "$part" == *-* ]]; then count=$((count + ${part#*-} - ${part%-*} + 1)); else count=$((count + 1)); fi
  done
  echo "$count"
}

# CORES=N picks the CPU lists: the servers on the first N usable CPUs, wrk on the others, or wrk on the last one
# (shared with the servers) when N is all of them. SERVER_CPU/CLIENT_CPU, when set, win. All servers get the same.
resolve_mode() {
  local -a cpus
  local server_default client_default usable
  read -r -a cpus <<<"$(usable_cpus)"
  usable=${#cpus[@]}
  ((CORES >= 1 && CORES <= usable)) ||
    die "CORES must be between 1 and the $usable CPU(s) this script may use ($(cpu_list "${cpus[@]}")), got '$CORES'"
  server_default="$(cpu_list "${cpus[@]:0:CORES}")"
  if ((CORES < usable)); then
    client_default="$(cpu_list "${cpus[@]:CORES}")"
  else
    client_default="${cpus[usable - 1]}"
  fi
  SERVER_CPU="${SERVER_CPU:-$server_default}"
  CLIENT_CPU="${CLIENT_CPU:-$client_default}"
  taskset -c "$SERVER_CPU" true 2>/dev/null ||
    die "SERVER_CPU='$SERVER_CPU' is not a usable CPU list on this machine (usable: $(cpu_list "${cpus[@]}"))"
  taskset -c "$CLIENT_CPU" true 2>/dev/null ||
    die "CLIENT_CPU='$CLIENT_CPU' is not a usable CPU list on this machine (usable: $(cpu_list "${cpus[@]}"))"
  [[ -n "$THREADS" ]] || THREADS="$(cpu_count "$CLIENT_CPU")"
  if ((CORES < usable)); then
    MODE_TEXT="CORES=$CORES: every server on $(cpu_words "$SERVER_CPU"), wrk on $(cpu_words "$CLIENT_CPU")"
  else
    MODE_TEXT="CORES=$CORES: every server on $(cpu_words "$SERVER_CPU"), wrk on $(cpu_words "$CLIENT_CPU") (wrk shares a core with the servers)"
  fi
  if [[ "$SERVER_CPU" != "$server_default" || "$CLIENT_CPU" != "$client_default" ]]; then
    MODE_TEXT+=" [SERVER_CPU/CLIENT_CPU overridden]"
  fi
}

validate_config() {
  validate_numbers
  parse_transports
  parse_points
  command -v taskset >/dev/null || die "taskset is missing (Debian: apt-get install util-linux)"
  resolve_mode
}

# ---------------------------------------------------------------------------------------------- tools

# Installs wrk, gnuplot and (PERF=1) perf with apt-get when missing; as another user, says what to run.
ensure_tools() {
  local -a missing=()
  command -v dotnet >/dev/null || die "dotnet is not on PATH (install the .NET 10 SDK)"
  command -v curl >/dev/null || die "curl is missing (Debian: apt-get install curl)"
  command -v wrk >/dev/null || missing+=(wrk)
  command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
  if ((PERF)) && ! command -v perf >/dev/null; then missing+=(linux-perf); fi
  ((${#missing[@]} > 0)) || return 0
  is_root || die "missing: ${missing[*]}; install as root: apt-get update && apt-get install -y ${missing[*]}"
  command -v apt-get >/dev/null || die "missing: ${missing[*]}, and there is no apt-get here to install them"
  say "Installing with apt-get: ${missing[*]}"
  apt-get update || die "apt-get update failed"
  apt-get install -y "${missing[@]}" || die "apt-get install -y ${missing[*]} failed"
  command -v wrk >/dev/null || die "wrk is still missing after apt-get install"
  command -v gnuplot >/dev/null || die "gnuplot is still missing after apt-get install"
  if ((PERF)); then command -v perf >/dev/null || die "perf is still missing after apt-get install linux-perf"; fi
}

# The C reference server, when a spec asks for it: built afresh into the results' temporary folder.
build_reference() {
  [[ " ${BASES[*]} " == *" c-epoll "* ]] || return 0
  command -v gcc >/dev/null || die "TRANSPORTS has c-epoll but gcc is missing (Debian: apt-get install gcc libc6-dev)"
  C_SERVER="$TMP_DIR/epoll-server"
  gcc -O2 -Wall -o "$C_SERVER" "$SCRIPT_DIR/reference/epoll-server.c" -lpthread || die "building benchmarks/reference/epoll-server.c failed"
}

build_sample() {
  if [[ -n "$APP_DLL_GIVEN" ]]; then
    [[ -f "$APP_DLL" ]] || die "APP_DLL='$APP_DLL' does not exist; build that checkout's sample first (dotnet build samples/WebApp -c Release)"
    APP_ROOT="$(git -C "$(dirname "$APP_DLL")" rev-parse --show-toplevel 2>/dev/null || echo "$(dirname "$APP_DLL")")"
    say "Using the given build (APP_DLL, not rebuilt): $APP_DLL"
    COMMIT_TEXT="$(describe_commit)"
    return 0
  fi
  if ((BUILD == 0)); then
    [[ -f "$APP_DLL" ]] || die "BUILD=0 but $APP_DLL does not exist; run with BUILD=1"
    say "Using the existing build (BUILD=0): $APP_DLL"
    COMMIT_TEXT="$(describe_commit)"
    return 0
  fi
  say "Building samples/WebApp (Release) once"
  (cd "$REPO_ROOT" && dotnet build samples/WebApp -c Release --nologo -v quiet) || die "dotnet build samples/WebApp -c Release failed"
  [[ -f "$APP_DLL" ]] || die "the build succeeded but $APP_DLL is missing"
  COMMIT_TEXT="$(describe_commit)"
}

# ---------------------------------------------------------------------------------------------- perf

# True when perf counts event $1 here (a missing tracepoint or a permission problem makes it false).
perf_event_works() {
  local out
  out="$(perf stat -x, -e "$1" -- true 2>&1)" || return 1
  awk -F, -v ev="$1" '$3 == ev && $1 ~ /^[0-9]+$/ { ok = 1 } END { exit !ok }' <<<"$out"
}

# Tracepoints need tracefs, and a non-root user needs kernel.perf_event_paranoid=-1. Fixes what it can as root,
# then keeps the events that work in PERF_OK; the others are reported as n/a.
prepare_perf() {
  ((PERF)) || return 0
  local event paranoid
  if [[ ! -d /sys/kernel/tracing/events && ! -d /sys/kernel/debug/tracing/events ]]; then
    if is_root && mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null; then
      PERF_NOTES+=("mounted tracefs on /sys/kernel/tracing (the syscall tracepoints live there)")
    else
      PERF_NOTES+=("tracefs is not mounted, so syscall tracepoints are missing; as root: mount -t tracefs nodev /sys/kernel/tracing")
    fi
  fi
  paranoid="$(cat /proc/sys/kernel/perf_event_paranoid 2>/dev/null || echo unknown)"
  if ! perf_event_works raw_syscalls:sys_enter && [[ "$paranoid" != -1 ]]; then
    if is_root && sysctl -q -w kernel.perf_event_paranoid=-1 >/dev/null 2>&1; then
      PERF_NOTES+=("set kernel.perf_event_paranoid from $paranoid to -1 for the tracepoints (reboot or sysctl to restore)")
    elif ! is_root; then
      PERF_NOTES+=("tracepoints need kernel.perf_event_paranoid=-1 (now $paranoid); as root: sysctl kernel.perf_event_paranoid=-1")
    fi
  fi
  PERF_OK=()
  for event in "${PERF_EVENTS[@]}"; do
    if perf_event_works "$event"; then PERF_OK+=("$event"); else PERF_NOTES+=("perf event $event does not work here: reported as n/a"); fi
  done
  ((${#PERF_OK[@]} > 0)) || PERF_NOTES+=("no perf event works here (try as root); the perf passes are skipped")
}

# ---------------------------------------------------------------------------------------------- results

open_results() {
  local stamp config
  stamp="$(date -u +%Y%m%dT%H%M%SZ)"
  config="$(printf '%s-' "${SPECS[@]}")"
  config="${config%-}_cores${CORES}_r${ROUNDS}_d${DURATION}_w${WARMUP}"
  if ((PERF)); then config+="_perf"; fi
  if [[ "${POINT_LIST[*]}" != "$DEFAULT_POINTS" ]]; then config+="_$(IFS=-; echo "${POINT_LIST[*]}")"; fi
  config="${config//[^A-Za-z0-9._-]/.}"
  OUT_DIR="$RESULTS_DIR/${stamp}_${config}"
  mkdir -p "$OUT_DIR" || die "cannot create $OUT_DIR; set RESULTS_DIR to a writable directory"
  REPORT="$OUT_DIR/report.txt"
  RUNS_CSV="$OUT_DIR/runs.csv"
  PERF_CSV="$OUT_DIR/perf.csv"
  SUMMARY_CSV="$OUT_DIR/summary.csv"
  WRK_LOG="$OUT_DIR/wrk.log"
  : >"$REPORT"
  : >"$WRK_LOG"
  echo "round,point,transport,position,rps,requests,p99_ms,cpu_us_per_req,socket_errors,non2xx" >"$RUNS_CSV"
  if ((PERF)); then echo "point,transport,requests,rps,$(IFS=,; echo "${PERF_COLUMNS[*]}"),socket_errors,non2xx" >"$PERF_CSV"; fi
}

# What was built: read right after the build, since the tree may change while a long run goes on.
describe_commit() {
  local hash changes
  hash="$(git -C "$APP_ROOT" rev-parse --short HEAD 2>/dev/null)" || { echo "no git commit"; return 0; }
  changes="$(git -C "$APP_ROOT" status --porcelain 2>/dev/null | wc -l)"
  if ((changes > 0)); then echo "$hash + uncommitted changes ($changes files)"; else echo "$hash (clean tree)"; fi
}

commit_text() { echo "${COMMIT_TEXT:-$(describe_commit)}"; }

machine_text() {
  local model
  model="$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)"
  printf '%s CPUs, %s, %s' "$(nproc)" "$(uname -sr)" "${model:-unknown CPU model}"
}

point_text() {
  local connections path depth reuse
  read -r connections path depth reuse <<<"${POINT_SHAPE[$1]}"
  printf '%s connection%s, GET %s' "$connections" "$( ((connections == 1)) || echo s)" "$path"
  if ((depth > 1)); then printf ', pipelined x%s' "$depth"; fi
  if [[ "$reuse" == close ]]; then printf ', Connection: close (a new connection per request)'; fi
}

# The point_text of every point of POINTS, separated by "|" (for awk's split).
point_descriptions() {
  local point
  for point in "${POINT_LIST[@]}"; do point_text "$point"; printf '|'; done
}

rounds_text() { if ((ROUNDS == 1)); then echo "1 round"; else echo "$ROUNDS rounds"; fi; }

warmup_seconds_per_point() { echo $(((WARMUP + ${#POINT_LIST[@]} - 1) / ${#POINT_LIST[@]})); }

# Per server start: about 3 s to start and stop, the warm-up, and every point's pause and measurement.
estimated_minutes() {
  local n=${#SPECS[@]} np=${#POINT_LIST[@]} per_start seconds
  per_start=$((3 + np * (DURATION + PAUSE + 1)))
  ((WARMUP > 0)) && per_start=$((per_start + np * $(warmup_seconds_per_point)))
  seconds=$((ROUNDS * n * per_start))
  ((PERF)) && seconds=$((seconds + n * (per_start + np)))
  echo $(((seconds + 59) / 60))
}

report_header() {
  local i point servers="" note
  for i in "${!SPECS[@]}"; do servers+="${LABELS[$i]} (:${PORTS[$i]}) "; done
  report "Kestrel transport benchmark, $(date -u +%Y-%m-%dT%H:%M:%SZ) (UTC)"
  report "  machine:     $(machine_text)"
  report "  .NET SDK:    $(dotnet --version 2>/dev/null || echo unknown); commit $(commit_text)$( ((BUILD)) || echo '; not rebuilt (BUILD=0)')"
  report "  mode:        $MODE_TEXT"
  report "  transports:  ${servers% } - ratios are ${LABELS[0]} / each other"
  report "  servers:     a fresh process per transport in every round, one at a time: DOTNET_gcServer=1 dotnet WebApp.dll --transport X"
  report "  rounds:      $ROUNDS; ${DURATION} s per measurement, ${PAUSE} s pause before each; transport order rotates per round"
  if ((WARMUP > 0)); then
    report "  warm-up:     $(warmup_seconds_per_point) s per point after every server start ($WARMUP s split over ${#POINT_LIST[@]} points)"
  else
    report "  warm-up:     none (WARMUP=0): every round runs partly on unoptimized JIT code"
  fi
  report "  wrk:         -t$THREADS (capped at the connections) --timeout 10s --latency"
  report "  points:"
  for point in "${POINT_LIST[@]}"; do report "$(printf '    %-8s %s' "$point" "$(point_text "$point")")"; done
  if ((PERF)); then
    report "  perf:        after the rounds, one more server start per transport, warmed up, with one ${DURATION} s perf pass per point, not in the ratios; events: ${PERF_OK[*]:-none}"
    for note in "${PERF_NOTES[@]}"; do report "               note: $note"; done
  fi
  report "  results:     $OUT_DIR"
  report ""
}

# ---------------------------------------------------------------------------------------------- servers

port_is_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Starts the server of spec $1 for round $2 (0: the perf passes) in the background; SERVER_PIDS[$1] is its pid.
start_server() {
  local i="$1" round="$2"
  local -a args
  port_is_open "${PORTS[$i]}" && die "something already listens on 127.0.0.1:${PORTS[$i]}; stop it or set PORT (the servers use PORT..PORT+$((${#SPECS[@]} - 1)))"
  SERVER_LOGS[i]="$OUT_DIR/server-${LABELS[$i]//[^A-Za-z0-9._-]/.}-$( ((round > 0)) && echo "r$round" || echo perf).log"
  if [[ "${BASES[$i]}" == c-epoll ]]; then
    taskset -c "$SERVER_CPU" "$C_SERVER" "${PORTS[$i]}" "$(cpu_count "$SERVER_CPU")" >"${SERVER_LOGS[$i]}" 2>&1 &
    SERVER_PIDS[i]=$!
    return 0
  fi
  args=(--transport "${BASES[$i]}" --urls "http://127.0.0.1:${PORTS[$i]}")
  # Explicit false too, so no configuration source (appsettings, environment) can turn it on unasked.
  if ((INLINE[i])); then args+=(--unsafe-prefer-inline-scheduling true); else args+=(--unsafe-prefer-inline-scheduling false); fi
  if ((NOSPIN[i])); then args+=(--reactor-spin-microseconds 0); fi
  # taskset execs dotnet, so $! is the server's own pid: the one /proc and perf are pointed at.
  DOTNET_gcServer=1 taskset -c "$SERVER_CPU" dotnet "$APP_DLL" "${args[@]}" >"${SERVER_LOGS[$i]}" 2>&1 &
  SERVER_PIDS[i]=$!
}

server_died() {
  local i="$1" when="$2"
  tail -n 30 "${SERVER_LOGS[$i]}" >&2 || true
  die "the ${LABELS[$i]} server (pid ${SERVER_PIDS[$i]}, port ${PORTS[$i]}) exited $when; the tail of its log is above (${SERVER_LOGS[$i]})"
}

ensure_alive() { kill -0 "${SERVER_PIDS[$1]}" 2>/dev/null || server_died "$1" "${2:-during the run}"; }

# Ready = answers HTTP and logged "<transport> transport serves ..." (a fallback to Sockets, which another line
# reports, fails the run), plus, for :inline specs, the sample's "Inline scheduling is on" line.
wait_until_ready() {
  local i="$1" base="${BASES[$1]}" log="${SERVER_LOGS[$1]}" url="http://127.0.0.1:${PORTS[$1]}/plaintext"
  local deadline=$((SECONDS + STARTUP_TIMEOUT))
  while ((SECONDS < deadline)); do
    ensure_alive "$i" "during start-up"
    if curl -sS -o /dev/null --max-time 2 "$url" 2>/dev/null; then
      if grep -q "$base transport serves" "$log"; then
        if [[ "$base" == iouring ]] && ! grep -q "Serving through io_uring" "$log"; then
          grep -A1 "IoUring" "$log" >&2 || true
          die "${LABELS[$i]}: the io_uring transport serves through its epoll fallback here (its warning is above); the comparison would be meaningless"
        fi
        if ((INLINE[i])) && ! grep -q "Inline scheduling is on for $base" "$log"; then
          die "${LABELS[$i]}: the server does not log 'Inline scheduling is on for $base'; is the sample older than --unsafe-prefer-inline-scheduling? ($log)"
        fi
        return 0
      fi
      if grep -q "transport serves" "$log"; then
        grep "transport serves" "$log" >&2
        die "asked for the $base transport on port ${PORTS[$i]} but another one serves (above); the comparison would be meaningless"
      fi
    fi
    sleep 0.2
  done
  tail -n 30 "$log" >&2 || true
  die "the ${LABELS[$i]} server did not answer $url and log '$base transport serves' within ${STARTUP_TIMEOUT}s (STARTUP_TIMEOUT)"
}

# Keeps the server's own line about its threads (e.g. "Started 1 epoll reactor thread(s).") for the report.
note_server_threads() {
  local i="$1" line
  [[ -z "${SERVER_NOTES[$i]:-}" ]] || return 0
  line="$(grep -h -m1 'reactor thread' "${SERVER_LOGS[$i]}" | sed 's/^ *//' || true)"
  SERVER_NOTES[i]="${LABELS[$i]}: ${line:-no reactor line (the Sockets transport logs none)}"
}

# Starts spec $1's server for round $2, waits until it serves and warms it up.
start_warm_server() {
  local i="$1" round="$2"
  start_server "$i" "$round"
  wait_until_ready "$i"
  note_server_threads "$i"
  warm_up "$i"
}

stop_servers() {
  local i pid waited=0
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for i in "${!SERVER_PIDS[@]}"; do
    pid="${SERVER_PIDS[$i]}"
    while kill -0 "$pid" 2>/dev/null && ((waited < 100)); do sleep 0.1; waited=$((waited + 1)); done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  SERVER_PIDS=()
}

# utime + stime of a process, in clock ticks: fields 14 and 15 of /proc/PID/stat, counted after the ") " that
# ends field 2 (the command name, which may contain spaces).
cpu_ticks() {
  local stat
  local -a fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  read -r -a fields <<<"${stat##*) }"
  echo $((fields[11] + fields[12]))
}

# ---------------------------------------------------------------------------------------------- wrk

# Runs wrk at point $1 against server $2 for $3 seconds; its output goes to $4 and, titled $5, to wrk.log.
run_wrk() {
  local point="$1" i="$2" seconds="$3" out="$4" title="$5"
  local connections path depth reuse threads url
  read -r connections path depth reuse <<<"${POINT_SHAPE[$point]}"
  threads=$((THREADS < connections ? THREADS : connections))
  url="http://127.0.0.1:${PORTS[$i]}$path"
  # --timeout 10s: wrk's default of 2 s counts latency outliers at 256 connections on a slow box as errors.
  local -a cmd=(taskset -c "$CLIENT_CPU" wrk "-t$threads" "-c$connections" "-d${seconds}s" --timeout 10s --latency)
  # wrk opens a new connection after every response that closes its connection.
  if [[ "$reuse" == close ]]; then cmd+=(-H "Connection: close"); fi
  if ((depth > 1)); then cmd+=(-s "$SCRIPT_DIR/pipeline.lua" "$url" -- "$depth"); else cmd+=("$url"); fi
  # In the background plus `wait`: a foreground wrk would catch Ctrl-C itself, print its numbers and exit 0,
  # and bash would carry on; `wait` returns at once on a trapped signal, so the traps stop everything.
  "${cmd[@]}" >"$out" 2>&1 &
  WRK_PID=$!
  if ! wait "$WRK_PID"; then
    WRK_PID=""
    cat "$out" >&2
    die "wrk failed ($title): ${cmd[*]}"
  fi
  WRK_PID=""
  { printf '==== %s: %s\n' "$title" "${cmd[*]}"; cat "$out"; } >>"$WRK_LOG"
}

# Prints "rps requests p99_ms socket_errors non2xx" from wrk's output; "-" for a missing number. A p99 of 0 is
# "n/a": under pipelining wrk's coordinated-omission correction adds samples below the lowest recorded latency,
# which its percentile scan never reaches, so it prints 0.00us for p90/p99.
parse_wrk() {
  awk '
    function to_ms(s,   value, unit) {
      value = s + 0; unit = s; sub(/^[0-9.]+/, "", unit)
      if (unit == "us") return value / 1000
      if (unit == "ms") return value
      if (unit == "s") return value * 1000
      if (unit == "m") return value * 60000
      return "-"
    }
    /^Requests\/sec:/ { rps = $2 }
    / requests in / { requests = $1 }
    /^ +99% / { p99 = to_ms($2); p99 = (p99 == "-") ? p99 : (p99 > 0) ? sprintf("%.3f", p99) : "n/a" }
    /Socket errors:/ { gsub(/,/, ""); errors = $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    END {
      printf "%s %s %s %d %d\n", (rps == "" ? "-" : rps), (requests == "" ? "-" : requests),
        (p99 == "" ? "-" : p99), errors, non2xx
    }' "$1"
}

# "Socket errors: connect A, read B, write C, timeout D; non-2xx/3xx responses: N" of a wrk output.
describe_errors() {
  local socket_line non2xx
  socket_line="$(grep -o 'Socket errors:.*' "$1" || echo 'Socket errors: none')"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ { n = $NF } END { print n + 0 }' "$1")"
  printf '%s; non-2xx/3xx responses: %s' "$socket_line" "$non2xx"
}

# Microseconds of server CPU per request: $1 clock ticks over $2 requests.
cpu_us_per_request() {
  awk -v ticks="$1" -v requests="$2" -v hz="$CLK_TCK" \
    'BEGIN { if (requests > 0) printf "%.2f", ticks * 1000000 / hz / requests; else print "n/a" }'
}

# ---------------------------------------------------------------------------------------------- phases

# A fresh server gets WARMUP seconds of load split over the points, so each code path (pipelining, JSON, 1 to 256
# connections, new connections) is jitted and tiered up before it is measured.
warm_up() {
  ((WARMUP > 0)) || return 0
  local i="$1" point per out="$TMP_DIR/wrk-warmup.txt" errors non2xx rest
  per="$(warmup_seconds_per_point)"
  for point in "${POINT_LIST[@]}"; do
    run_wrk "$point" "$i" "$per" "$out" "warm-up, $point, ${LABELS[$i]}"
    ensure_alive "$i" "during the warm-up"
    read -r rest rest rest errors non2xx <<<"$(parse_wrk "$out")"
    if ((errors > 0 || non2xx > 0)); then WARNINGS+=("warm-up $point ${LABELS[$i]}: $(describe_errors "$out")"); fi
  done
}

# The transport indexes of round $1: the list rotated by one per round (A B, B A; A B C, B C A, C A B), so
# no transport always goes first or last after a given other one.
round_order() {
  local round="$1" n=${#SPECS[@]} k
  for ((k = 0; k < n; k++)); do printf '%d ' $(((round - 1 + k) % n)); done
}

# One measurement of server $3 at point $2 in round $1, at position $4 of that round; one row in runs.csv.
measure() {
  local round="$1" point="$2" i="$3" position="$4"
  local label="${LABELS[$3]}" out="$TMP_DIR/wrk.txt" before after rps requests p99 errors non2xx cpu
  ensure_alive "$i"
  sleep "$PAUSE"
  before="$(cpu_ticks "${SERVER_PIDS[$i]}")" || server_died "$i" "before a measurement"
  run_wrk "$point" "$i" "$DURATION" "$out" "round $round, $point, $label"
  after="$(cpu_ticks "${SERVER_PIDS[$i]}")" || server_died "$i" "under load"
  read -r rps requests p99 errors non2xx <<<"$(parse_wrk "$out")"
  if [[ "$rps" == - || "$requests" == - || "$p99" == - ]]; then
    cat "$out" >&2
    die "could not read Requests/sec, the request count or the 99% latency from wrk's output (above), round $round $point $label"
  fi
  cpu="$(cpu_us_per_request "$((after - before))" "$requests")"
  if ((errors > 0 || non2xx > 0)); then PROBLEMS+=("round $round $point $label: $(describe_errors "$out")"); fi
  echo "$round,$point,$label,$position,$rps,$requests,$p99,$cpu,$errors,$non2xx" >>"$RUNS_CSV"
  say "$(printf 'round %d/%d  %-8s %-18s %12.0f req/s   p99 %8s ms   %8s us/req CPU' \
    "$round" "$ROUNDS" "$point" "$label" "$rps" "$p99" "$cpu")"
}

run_rounds() {
  local round point i position
  for ((round = 1; round <= ROUNDS; round++)); do
    position=0
    for i in $(round_order "$round"); do
      position=$((position + 1))
      say "Round $round/$ROUNDS: starting and warming up ${LABELS[$i]}"
      start_warm_server "$i" "$round"
      for point in "${POINT_LIST[@]}"; do measure "$round" "$point" "$i" "$position"; done
      stop_servers
    done
  done
}

# Prints the counts of perf's CSV output $1, one per PERF_EVENTS entry, "n/a" for an event not counted.
parse_perf() {
  local event value
  for event in "${PERF_EVENTS[@]}"; do
    value="$(awk -F, -v ev="$event" '$3 == ev && $1 ~ /^[0-9]+$/ { v = $1 } END { print (v == "" ? "n/a" : v) }' "$1")"
    printf '%s ' "$value"
  done
}

# One measurement of server $2 at point $1 with perf stat attached for the length of the wrk run.
perf_measure() {
  local point="$1" i="$2" label="${LABELS[$2]}" out="$TMP_DIR/wrk-perf.txt" perf_out="$TMP_DIR/perf.csv"
  local rps requests p99 errors non2xx events counts
  events="$(IFS=,; echo "${PERF_OK[*]}")"
  ensure_alive "$i"
  sleep "$PAUSE"
  # -p counts every thread the server has when perf attaches; the warmed-up server's pools are stable by then.
  taskset -c "$CLIENT_CPU" perf stat -x, -o "$perf_out" -e "$events" -p "${SERVER_PIDS[$i]}" 2>"$TMP_DIR/perf.err" &
  PERF_PID=$!
  sleep 0.5 # perf opens its counters on every thread of the server before the load starts
  kill -0 "$PERF_PID" 2>/dev/null || { cat "$TMP_DIR/perf.err" >&2; die "perf stat did not stay attached to the ${label} server (above)"; }
  run_wrk "$point" "$i" "$DURATION" "$out" "perf pass, $point, $label"
  kill -INT "$PERF_PID" 2>/dev/null || true
  wait "$PERF_PID" 2>/dev/null || true # perf exits with 130 after SIGINT, having written its counts
  PERF_PID=""
  ensure_alive "$i" "under load (perf pass)"
  read -r rps requests p99 errors non2xx <<<"$(parse_wrk "$out")"
  [[ "$requests" != - ]] || { cat "$out" >&2; die "no request count in wrk's output for the perf pass $point $label (above)"; }
  counts="$(parse_perf "$perf_out")"
  if ((errors > 0 || non2xx > 0)); then PROBLEMS+=("perf pass $point $label: $(describe_errors "$out")"); fi
  echo "$point,$label,$requests,$rps,$(tr ' ' ',' <<<"${counts% }"),$errors,$non2xx" >>"$PERF_CSV"
  say "$(printf 'perf       %-8s %-18s %12.0f req/s   %s: %s' "$point" "$label" "$rps" "${PERF_COLUMNS[*]}" "$counts")"
}

run_perf_passes() {
  ((PERF && ${#PERF_OK[@]} > 0)) || return 0
  local point i
  for i in "${!SPECS[@]}"; do
    say "perf passes: starting and warming up ${LABELS[$i]}"
    start_warm_server "$i" 0
    for point in "${POINT_LIST[@]}"; do perf_measure "$point" "$i"; done
    stop_servers
  done
}

# ---------------------------------------------------------------------------------------------- summary

# summary.csv from runs.csv (and perf.csv): per point and transport the median/min/max req/s and the medians of
# p99 and CPU per request (plus perf counts per request); per point and pair the median/min/max of the per-round
# ratios first/other (each ratio compares two measurements of the same round and point).
summarize() {
  local perf_file=""
  [[ -f "$PERF_CSV" ]] && perf_file="$PERF_CSV"
  awk -F, -v runs="$RUNS_CSV" -v perf="$perf_file" -v labels="${LABELS[*]}" -v points="${POINT_LIST[*]}" '
    function isnum(x) { return x ~ /^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/ }
    function sort_values(n,   i, j, x) {
      for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
    }
    function median(n) { return (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }
    # Copies the numbers arr[key, 1..count] into v[1..] sorted; returns how many.
    function gather(arr, key, count,   i, n) {
      split("", v); n = 0
      for (i = 1; i <= count; i++) if (isnum(arr[key, i])) v[++n] = arr[key, i] + 0
      sort_values(n); return n
    }
    function per_request(point, label, column,   value, requests) {
      if (!((point, label) in perf_requests)) return ""
      value = perf_count[point, label, column]; requests = perf_requests[point, label]
      return (isnum(value) && requests > 0) ? sprintf("%.3f", value / requests) : "n/a"
    }
    FNR == 1 { next }
    FILENAME == runs {
      key = $2 SUBSEP $3; count[key]++
      rps[key, count[key]] = $5; p99[key, count[key]] = $7; cpu[key, count[key]] = $8
      by_round[$2, $3, $1] = $5; if ($1 > max_round) max_round = $1
      next
    }
    FILENAME == perf { perf_requests[$1, $2] = $3; for (c = 5; c <= 9; c++) perf_count[$1, $2, c] = $c }
    END {
      nl = split(labels, L, " "); np = split(points, P, " ")
      print "kind,point,transport,vs,median_rps,min_rps,max_rps,median_p99_ms,median_cpu_us_per_req," \
            "context_switches_per_req,syscalls_per_req,sendmsg_per_req,sendto_per_req,epoll_wait_per_req," \
            "median_ratio,min_ratio,max_ratio,samples"
      for (p = 1; p <= np; p++) {
        for (t = 1; t <= nl; t++) {
          key = P[p] SUBSEP L[t]
          n = gather(rps, key, count[key]); if (n == 0) continue
          line = sprintf("transport,%s,%s,,%.1f,%.1f,%.1f", P[p], L[t], median(n), v[1], v[n])
          n = gather(p99, key, count[key]); line = line "," (n ? sprintf("%.3f", median(n)) : "n/a")
          n = gather(cpu, key, count[key]); line = line "," (n ? sprintf("%.2f", median(n)) : "n/a")
          for (c = 5; c <= 9; c++) line = line "," per_request(P[p], L[t], c)
          print line ",,,," count[key]
        }
        for (t = 2; t <= nl; t++) {
          split("", v); n = 0
          for (r = 1; r <= max_round; r++) {
            a = by_round[P[p], L[1], r]; b = by_round[P[p], L[t], r]
            if (isnum(a) && isnum(b) && b > 0) v[++n] = a / b
          }
          if (n == 0) continue
          sort_values(n)
          printf "ratio,%s,%s,%s,,,,,,,,,,,%.3f,%.3f,%.3f,%d\n", P[p], L[1], L[t], median(n), v[1], v[n], n
        }
      }
    }' "$RUNS_CSV" ${perf_file:+"$perf_file"} >"$SUMMARY_CSV"
}

# The per-point tables of the report, from summary.csv (and the per-round ratios from runs.csv).
report_tables() {
  local text
  text="$(awk -F, -v runs="$RUNS_CSV" -v labels="${LABELS[*]}" -v points="${POINT_LIST[*]}" \
    -v perf="$PERF" -v descriptions="$(point_descriptions)" '
    FNR == 1 { next }
    FILENAME == runs { by_round[$2, $3, $1] = $5; if ($1 > max_round) max_round = $1; next }
    $1 == "transport" { for (c = 5; c <= 14; c++) s[$2, $3, c] = $c; next }
    $1 == "ratio" { for (c = 15; c <= 18; c++) s[$2, $4, c] = $c }
    END {
      nl = split(labels, L, " "); np = split(points, P, " "); split(descriptions, D, "|")
      w = 10; for (t = 1; t <= nl; t++) if (length(L[t]) + 2 > w) w = length(L[t]) + 2
      for (p = 1; p <= np; p++) {
        printf "%s: %s\n", P[p], D[p]
        printf "  %-*s %12s %12s %12s %9s %11s\n", w, "transport", "req/s median", "min", "max", "p99 ms", "CPU us/req"
        for (t = 1; t <= nl; t++)
          printf "  %-*s %12.0f %12.0f %12.0f %9s %11s\n", w, L[t], s[P[p], L[t], 5], s[P[p], L[t], 6], s[P[p], L[t], 7],
            s[P[p], L[t], 8], s[P[p], L[t], 9]
        for (t = 2; t <= nl; t++) {
          rounds = ""
          for (r = 1; r <= max_round; r++) {
            a = by_round[P[p], L[1], r]; b = by_round[P[p], L[t], r]
            rounds = rounds sprintf(" %.2f", (b > 0) ? a / b : 0)
          }
          printf "  %s / %s: median %.3f (min %.3f, max %.3f); per round:%s\n", L[1], L[t],
            s[P[p], L[t], 15], s[P[p], L[t], 16], s[P[p], L[t], 17], rounds
        }
        if (perf == 1) {
          printf "  %-*s %12s %12s %12s %12s %14s   (perf pass, per request)\n", w, "", "syscalls", "ctx switches",
            "sendmsg", "sendto", "epoll_wait"
          for (t = 1; t <= nl; t++)
            printf "  %-*s %12s %12s %12s %12s %14s\n", w, L[t], s[P[p], L[t], 11], s[P[p], L[t], 10],
              s[P[p], L[t], 12], s[P[p], L[t], 13], s[P[p], L[t], 14]
        }
        print ""
      }
    }' "$RUNS_CSV" "$SUMMARY_CSV")"
  report "$text"
  report ""
}

# summary.md: one header line and a table (rows = points) ready to paste into README.md.
write_summary_md() {
  local header
  header="Measured $(date -u +%Y-%m-%d) on $(machine_text), .NET SDK $(dotnet --version 2>/dev/null || echo unknown); $MODE_TEXT;"
  header+=" $(rounds_text) of ${DURATION} s per measurement, a fresh server per transport in every round, warmed up ${WARMUP} s; commit $(commit_text)."
  MD_HEADER="$header" awk -F, -v labels="${LABELS[*]}" -v points="${POINT_LIST[*]}" -v perf="$PERF" -v rounds="$ROUNDS" \
    -v descriptions="$(point_descriptions)" '
    NR == 1 { next }
    $1 == "transport" { for (c = 5; c <= 14; c++) s[$2, $3, c] = $c; next }
    $1 == "ratio" { for (c = 15; c <= 17; c++) s[$2, $4, c] = $c }
    function cell(x) { return (x == "" ? "n/a" : x) }
    function two_decimals(x) { return (x ~ /^[0-9.]+$/) ? sprintf("%.2f", x) : cell(x) }
    END {
      nl = split(labels, L, " "); np = split(points, P, " "); split(descriptions, D, "|")
      print ENVIRON["MD_HEADER"]; print ""
      line = "| Point |"; rule = "| --- |"
      for (t = 1; t <= nl; t++) { line = line " " L[t] " req/s (min–max) | " L[t] " p99 ms |"; rule = rule " ---: | ---: |" }
      for (t = 2; t <= nl; t++) { line = line " " L[1] " / " L[t] " |"; rule = rule " ---: |" }
      for (t = 1; t <= nl; t++) { line = line " " L[t] " CPU µs/req |"; rule = rule " ---: |" }
      if (perf == 1) for (t = 1; t <= nl; t++) { line = line " " L[t] " syscalls/req | " L[t] " cs/req |"; rule = rule " ---: | ---: |" }
      print line; print rule
      for (p = 1; p <= np; p++) {
        line = "| `" P[p] "` |"
        for (t = 1; t <= nl; t++) line = line sprintf(" %.0f (%.0f–%.0f) | %s |", s[P[p], L[t], 5], s[P[p], L[t], 6], s[P[p], L[t], 7], two_decimals(s[P[p], L[t], 8]))
        for (t = 2; t <= nl; t++) line = line sprintf(" **%.2f** (%.2f–%.2f) |", s[P[p], L[t], 15], s[P[p], L[t], 16], s[P[p], L[t], 17])
        for (t = 1; t <= nl; t++) line = line " " cell(s[P[p], L[t], 9]) " |"
        if (perf == 1) for (t = 1; t <= nl; t++) line = line " " cell(s[P[p], L[t], 11]) " | " cell(s[P[p], L[t], 10]) " |"
        print line
      }
      print ""
      line = ""
      for (p = 1; p <= np; p++) line = line sprintf("`%s`: %s; ", P[p], D[p])
      print line "req/s: median over " rounds " server start" (rounds == 1 ? "" : "s") " per transport, with the spread of the starts; p99: median" \
        "; ratios: median (min–max) of the per-round ratios" \
        (perf == 1 ? "; syscalls and context switches (cs) per request: one extra perf-stat pass each, not in the ratios." : ".")
    }' "$SUMMARY_CSV" >"$OUT_DIR/summary.md"
}

# chart.png: clustered bars of median req/s (log scale: c1 and p256 differ by 100x), whiskers min-max over the
# rounds, "×ratio" (first / that transport) above every bar but the first of each cluster.
draw_chart() {
  local title
  title="Kestrel transports: median requests/s over $(rounds_text) of ${DURATION} s; ×: ${LABELS[0]} / that transport"
  title+='\n'"$MODE_TEXT"'\n'"$(date -u +%Y-%m-%d), commit $(commit_text), $(machine_text)"
  # The title through the environment: awk -v would turn the \n that gnuplot wants into real line breaks.
  CHART_TITLE="$(tr -d '"' <<<"$title")" awk -F, -v labels="${LABELS[*]}" -v points="${POINT_LIST[*]}" -v png="$OUT_DIR/chart.png" '
    NR == 1 { next }
    $1 == "transport" { med[$2, $3] = $5; lo[$2, $3] = $6; hi[$2, $3] = $7; next }
    $1 == "ratio" { ratio[$2, $4] = $15 }
    function log10(x) { return log(x) / log(10) }
    function short(x) { return (x >= 1000000) ? sprintf("%.2fM", x / 1000000) : (x >= 1000) ? sprintf("%.1fk", x / 1000) : sprintf("%.0f", x) }
    END {
      nl = split(labels, L, " "); np = split(points, P, " ")
      split("#4C72B0 #DD8452 #55A868 #C44E52 #8172B3 #937860 #DA8BC3 #8C8C8C", colour, " ")
      ymin = 0; ymax = 0
      for (p = 1; p <= np; p++) for (t = 1; t <= nl; t++) {
        if (ymin == 0 || lo[P[p], L[t]] < ymin) ymin = lo[P[p], L[t]]
        if (hi[P[p], L[t]] > ymax) ymax = hi[P[p], L[t]]
      }
      if (ymin <= 0) ymin = 1
      ymin = 10 ^ int(log10(ymin / 2)); ymax = ymax * 4
      print "set terminal pngcairo size 1400,800 font \"DejaVu Sans,11\" noenhanced"
      print "set encoding utf8"
      printf "set output \"%s\"\n", png
      printf "set title \"%s\"\n", ENVIRON["CHART_TITLE"]
      print "set logscale y"; print "set format y \"%.0s%c\""
      printf "set yrange [%g:%g]\n", ymin, ymax
      printf "set xrange [-0.8:%g]\n", np * (nl + 1) - 1.2
      print "set ylabel \"requests/s (log scale; whiskers: min-max over the rounds)\""
      print "set grid ytics mytics lc rgb \"#dddddd\""; print "set key top left"
      print "set style fill solid 0.85 border rgb \"#333333\""
      tics = ""
      for (p = 1; p <= np; p++) tics = tics (p > 1 ? ", " : "") sprintf("\"%s\" %g", P[p], (p - 1) * (nl + 1) + (nl - 1) / 2)
      print "set xtics (" tics ") scale 0"
      for (t = 1; t <= nl; t++) {
        printf "$bars%d << EOD\n", t
        for (p = 1; p <= np; p++) {
          x = (p - 1) * (nl + 1) + (t - 1)
          printf "%g %s %s %s\n", x, med[P[p], L[t]], lo[P[p], L[t]], hi[P[p], L[t]]
          values_out = values_out sprintf("set label \"%s\" at %g,%g center rotate by 90 font \",9\" tc rgb \"white\" front\n", short(med[P[p], L[t]]), x, ymin * 1.9)
          if (t > 1 && ratio[P[p], L[t]] != "")
            labels_out = labels_out sprintf("set label \"×%.2f\" at %g,%g center font \",10\"\n", ratio[P[p], L[t]], x, hi[P[p], L[t]] * 1.25)
        }
        print "EOD"
      }
      printf "%s%s", labels_out, values_out
      plot = "plot"
      for (t = 1; t <= nl; t++) {
        plot = plot sprintf("%s $bars%d using 1:2:($1-0.42):($1+0.42):(%g):2 with boxxyerror lc rgb \"%s\" title \"%s\", \\\n", (t > 1 ? "    " : " "), t, ymin, colour[(t - 1) % 8 + 1], L[t])
        plot = plot sprintf("    $bars%d using 1:3:(0):($4-$3) with vectors nohead lw 1.5 lc rgb \"#222222\" notitle%s", t, (t < nl ? ", \\\n" : "\n"))
      }
      printf "%s", plot
    }' "$SUMMARY_CSV" >"$OUT_DIR/chart.gp"
  gnuplot "$OUT_DIR/chart.gp" 2>"$TMP_DIR/gnuplot.err" || { cat "$TMP_DIR/gnuplot.err" >&2; die "gnuplot failed on $OUT_DIR/chart.gp (above)"; }
}

report_servers() {
  local note
  for note in "${SERVER_NOTES[@]}"; do report "Server $note"; done
  report ""
}

# Reports warm-up errors, then measured-run errors loudly; returns 3 when a measured run had any.
report_problems() {
  local p
  if ((${#WARNINGS[@]} > 0)); then
    report "Warning: errors during the warm-up (not counted in the numbers):"
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

report_files() {
  report "Written to $OUT_DIR:"
  report "  report.txt   this report"
  report "  runs.csv     one row per measurement"
  ((PERF)) && report "  perf.csv     raw perf counts of the perf passes"
  report "  summary.csv  medians, spreads and ratios per point"
  report "  summary.md   the table for README.md (benchmarks/publish.sh copies it there)"
  report "  chart.png    the chart (chart.gp: its gnuplot script)"
  report "  wrk.log      wrk's raw output; server-*.log: each server's log"
}

# ---------------------------------------------------------------------------------------------- main

cleanup() {
  if [[ -n "$WRK_PID" ]]; then kill -TERM "$WRK_PID" 2>/dev/null || true; wait "$WRK_PID" 2>/dev/null || true; fi
  if [[ -n "$PERF_PID" ]]; then kill -INT "$PERF_PID" 2>/dev/null || true; wait "$PERF_PID" 2>/dev/null || true; fi
  stop_servers
  if [[ -n "$TMP_DIR" ]]; then rm -rf "$TMP_DIR"; fi
}

main() {
  local status=0
  trap cleanup EXIT
  trap 'say "interrupted" >&2; exit 130' INT
  trap 'exit 143' TERM

  validate_config
  ensure_tools
  build_sample
  CLK_TCK="$(getconf CLK_TCK)"
  TMP_DIR="$(mktemp -d)"
  build_reference
  open_results
  prepare_perf
  report_header
  say "Expected to take about $(estimated_minutes) minute(s)."

  run_rounds
  run_perf_passes

  summarize
  report_tables
  report_servers
  write_summary_md
  draw_chart
  report_problems || status=$?
  report ""
  report_files
  return "$status"
}

main "$@"
