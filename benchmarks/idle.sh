#!/usr/bin/env bash
# The seed's lesson, measured: how requests on 16 active connections fare as idle keep-alive connections pile up,
# on each transport. select's every wait passes over all watched sockets; epoll's costs what is ready.
#
# For each transport one server (samples/WebApp, pinned like benchmarks/run.sh: server on CPU 0, clients on CPU 1)
# is started and warmed up; then for each idle count N a holder (benchmarks/idle_clients.py) opens N keep-alive
# connections, each answered once and then left idle, and wrk measures 16 connections on /plaintext beside them.
# Per point: requests/s, p99, and the server's CPU time per request; then one client alone sends 200 requests one
# after another (benchmarks/latency_probe.py): the median and p90 of a single request's latency. Beside them, the
# holder's own measure of what poll(2) costs over as many idle sockets (timeout 0, and blocking until woken), taken
# after the server's measurements of the point: the floor under any select wait, whoever makes it. Writes idle.csv,
# a report and idle.png (requests/s, p99 and one request's median latency against idle connections, one line per
# transport, log scales).
#
# Usage (from anywhere):
#   benchmarks/idle.sh
#   TRANSPORTS="epoll select select:4" IDLE="0 1000 3000 10000" DURATION=3 benchmarks/idle.sh
#
# A transport may name its reactor count: "select:4" is the select transport with --reactor-count 4 (four reactors
# share the sockets, so each wait passes over a quarter of them).
#
# Environment (default): TRANSPORTS="epoll iouring select select:4 sockets"; IDLE="0 100 1000 3000 5000 10000"; DURATION=5 (seconds of
# wrk per point); WARMUP=25 (seconds per server before its first point; tiered JIT needs about that); PORT=5060; BUILD=1 (0: use the existing
# build); RESULTS_DIR=benchmarks/results.
# Exit status: 0 on success, 1 on a bad setting, a missing tool, too low a limit, or a server or holder that failed.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
TRANSPORTS="${TRANSPORTS:-epoll iouring select select:4 sockets}"
IDLE="${IDLE:-0 100 1000 3000 5000 10000}"
DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-25}"
PORT="${PORT:-5060}"
BUILD="${BUILD:-1}"
RESULTS_DIR="${RESULTS_DIR:-$REPO_ROOT/benchmarks/results}"
SERVER_CPU=0
CLIENT_CPU=1
APP_DLL="$REPO_ROOT/samples/WebApp/bin/Release/net10.0/WebApp.dll"

die() { echo "idle.sh: $*" >&2; exit 1; }
say() { echo "$*"; }

for t in $TRANSPORTS; do
  [[ "$t" =~ ^(epoll|iouring|select|default|sockets)(:[1-9][0-9]*)?$ ]] ||
    die "unknown transport '$t' in TRANSPORTS: use epoll, iouring, select, default or sockets, optionally with :N reactors (e.g. select:4)"
  [[ "$t" != sockets:* ]] || die "'$t' in TRANSPORTS: Kestrel's Sockets transport has no reactors; write sockets alone"
done
for n in $IDLE; do [[ "$n" =~ ^[0-9]+$ ]] || die "IDLE takes whole numbers, got '$n'"; done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "DURATION must be a positive number of seconds, got '$DURATION'"
[[ "$WARMUP" =~ ^[0-9]+$ ]] || die "WARMUP must be a number of seconds, got '$WARMUP'"
(($(nproc) >= 2)) || die "needs 2 CPUs (server on CPU 0, clients on CPU 1); this machine has $(nproc)"

# Tools: what benchmarks/run.sh installs, plus python3 for the holder.
missing=()
for tool in wrk gnuplot python3 curl taskset; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  [[ "$(id -u)" == 0 ]] || die "missing: ${missing[*]}; as root: apt-get update && apt-get install -y wrk gnuplot-nox python3 curl util-linux"
  apt-get update && apt-get install -y wrk gnuplot-nox python3 curl util-linux || die "apt-get install failed"
fi

# Limits, checked before anything starts: the holder and the server each need a descriptor per idle connection,
# and the holder an ephemeral port per connection.
max_idle=0
for n in $IDLE; do ((n > max_idle)) && max_idle=$n; done
need=$((max_idle + 1024))
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
(($(ulimit -n) >= need)) || die "the open-files limit is $(ulimit -n), and $max_idle idle connections need $need: raise it (ulimit -Hn, LimitNOFILE=) or lower IDLE"
read -r low high </proc/sys/net/ipv4/ip_local_port_range
((high - low + 1 >= max_idle + 1024)) || die "the ephemeral port range $low-$high has $((high - low + 1)) ports; $max_idle idle connections need more: widen net.ipv4.ip_local_port_range or lower IDLE"

if ((BUILD)); then
  say "Building samples/WebApp (Release)"
  (cd "$REPO_ROOT" && dotnet build samples/WebApp -c Release --nologo -v quiet) >/dev/null || die "dotnet build samples/WebApp failed"
fi
[[ -f "$APP_DLL" ]] || die "$APP_DLL is missing (BUILD=0 needs an existing build)"
commit="$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
[[ -z "$(git -C "$REPO_ROOT" status --porcelain 2>/dev/null)" ]] || commit="$commit + uncommitted changes"

OUT_DIR="$RESULTS_DIR/$(date -u +%Y%m%dT%H%M%SZ)_idle"
mkdir -p "$OUT_DIR"
CSV="$OUT_DIR/idle.csv"
REPORT="$OUT_DIR/report.txt"
echo "transport,idle,rps,p99_ms,cpu_us_per_req,single_median_ms,single_p90_ms,poll_floor_us,poll_floor_blocking_us" >"$CSV"

SERVER_PID=""
HOLDER_PID=""
cleanup() {
  [[ -n "$HOLDER_PID" ]] && kill "$HOLDER_PID" 2>/dev/null || true
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
}
trap cleanup EXIT

cpu_ticks() { local stat; stat="$(cat "/proc/$1/stat")"; local -a f; read -r -a f <<<"${stat##*) }"; echo $((f[11] + f[12])); }
ticks_per_second=$(getconf CLK_TCK)

# wrk's p99 in ms from its --latency table ("99%  1.23ms" or us or s).
p99_of() {
  awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 } else if (v ~ /ms$/) { sub(/ms$/, "", v) } else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 } printf "%.3f", v }' "$1"
}

for transport in $TRANSPORTS; do
  # "select:4": the select transport with --reactor-count 4, how many reactors share the sockets.
  base=${transport%%:*}
  server_args=(--transport "$base" --urls "http://127.0.0.1:$PORT")
  [[ "$transport" == *:* ]] && server_args+=(--reactor-count "${transport#*:}")
  log="$OUT_DIR/server-${transport/:/-r}.log"
  DOTNET_gcServer=1 taskset -c "$SERVER_CPU" dotnet "$APP_DLL" "${server_args[@]}" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$PORT/plaintext" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log" >&2; die "the $transport server exited at start-up"; }
    sleep 0.2
  done
  grep -q "$base transport serves" "$log" || { cat "$log" >&2; die "the $transport server did not say it serves on $base"; }
  say "$transport: warming up ${WARMUP} s"
  ((WARMUP == 0)) || taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"${WARMUP}s" "http://127.0.0.1:$PORT/plaintext" >/dev/null

  for n in $IDLE; do
    # The holder reads its standard input to know when to let go: a fifo kept open here on fd 3.
    fifo="$OUT_DIR/holder.fifo"
    rm -f "$fifo"
    mkfifo "$fifo"
    holder_out="$OUT_DIR/holder.out"
    taskset -c "$CLIENT_CPU" python3 "$SCRIPT_DIR/idle_clients.py" 127.0.0.1 "$PORT" "$n" <"$fifo" >"$holder_out" 2>&1 &
    HOLDER_PID=$!
    exec 3>"$fifo"
    opened=$SECONDS
    until grep -q "^ready $n\$" "$holder_out"; do
      kill -0 "$HOLDER_PID" 2>/dev/null || { cat "$holder_out" >&2; die "the holder of $n idle connections failed ($transport)"; }
      ((SECONDS - opened < 600)) || die "opening $n idle connections on $transport took more than 600 s"
      sleep 0.2
    done
    open_seconds=$((SECONDS - opened))

    out="$OUT_DIR/wrk-${transport/:/-r}-$n.txt"
    before=$(cpu_ticks "$SERVER_PID")
    taskset -c "$CLIENT_CPU" wrk -t1 -c16 -d"${DURATION}s" --timeout 10s --latency "http://127.0.0.1:$PORT/plaintext" >"$out" 2>&1
    after=$(cpu_ticks "$SERVER_PID")
    requests=$(awk '/requests in/ { print $1 }' "$out")
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    p99=$(p99_of "$out")
    cpu=$(awk -v t=$((after - before)) -v hz="$ticks_per_second" -v r="$requests" 'BEGIN { printf "%.2f", t / hz * 1e6 / r }')
    grep -q 'Socket errors' "$out" && say "  (wrk reported socket errors; see $out)"
    # One client alone beside the idle ones: the latency of a single request, what a select wait costs.
    read -r single_median single_p90 < <(taskset -c "$CLIENT_CPU" python3 "$SCRIPT_DIR/latency_probe.py" 127.0.0.1 "$PORT" 200) ||
      die "the latency probe failed ($transport, $n idle)"
    # Released, the holder measures what poll(2) itself costs over as many idle sockets, then closes them.
    exec 3>&-
    wait "$HOLDER_PID" || die "the holder of $n idle connections did not close cleanly ($transport)"
    read -r _ floor_fds floor_nonblocking floor_blocking < <(grep '^floor ' "$holder_out") ||
      die "the holder of $n idle connections reported no poll(2) floor ($transport); see $holder_out"
    echo "$transport,$n,$rps,$p99,$cpu,$single_median,$single_p90,$floor_nonblocking,$floor_blocking" >>"$CSV"
    say "$(printf '%-8s %6d idle (opened in %3d s): %8s req/s  p99 %8s ms  %7s us/req CPU  one request: median %s ms  (poll(2) over %d fds: %s us, blocking %s us)' \
      "$transport" "$n" "$open_seconds" "$rps" "$p99" "$cpu" "$single_median" "$floor_fds" "$floor_nonblocking" "$floor_blocking")"
    HOLDER_PID=""
  done
  kill -TERM "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
done

# The chart: requests/s, p99 and one request's median latency against idle connections (0 drawn at 1 on the log
# axis), one line per transport; the third panel adds what one blocking poll(2) over as many sockets costs (the
# holder's floor, the same for every transport, so drawn once from the first transport's points).
first_transport=${TRANSPORTS%% *}
gp="$OUT_DIR/idle.gp"
{
  echo "set terminal pngcairo size 1800,560 font 'sans,11'"
  echo "set output '$OUT_DIR/idle.png'"
  echo "set datafile separator ','"
  # Double quotes: gnuplot turns \n into a line break only there.
  printf 'set multiplot layout 1,3 title "%s\\n%s"\n' "Requests on 16 active connections beside N idle keep-alive connections" \
    "$(date -u +%Y-%m-%d), commit $commit, $(nproc) CPUs (server on CPU $SERVER_CPU), $(uname -r)"
  echo "set logscale x; set xlabel 'idle connections (0 drawn at 1)'; set grid; set key bottom left"
  echo "set logscale y; set ylabel 'requests/s'; set title 'throughput (wrk, 16 connections)'"
  plot_column() {
    printf "plot "
    local sep="" t
    for t in $TRANSPORTS; do
      printf "%s'%s' using (\$2 == 0 ? 1 : \$2):(strcol(1) eq '%s' ? \$%d : NaN) with linespoints lw 2 title '%s'" "$sep" "$CSV" "$t" "$1" "$t"
      sep=", "
    done
  }
  plot_column 3; echo
  echo "set ylabel 'p99 latency, ms'; set title 'p99 latency (wrk, 16 connections)'; set key top left"
  plot_column 4; echo
  echo "set ylabel 'ms'; set title 'one request alone: median latency'; set key top left"
  plot_column 6
  printf ", '%s' using (\$2 == 0 ? 1 : \$2):(strcol(1) eq '%s' ? \$9 / 1000 : NaN) with lines dt 2 lw 2 lc rgb 'gray40' title 'one blocking poll(2) over N+1 sockets'\n" "$CSV" "$first_transport"
  echo "unset multiplot"
} >"$gp"
gnuplot "$gp" 2>"$OUT_DIR/gnuplot.err" || { cat "$OUT_DIR/gnuplot.err" >&2; die "gnuplot failed ($gp)"; }

{
  echo "Idle connections: $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $commit, $(nproc) CPUs, $(uname -sr)"
  echo "16 active connections (wrk -t1 -c16, ${DURATION} s, /plaintext) beside N idle ones; server on CPU $SERVER_CPU, wrk and the holder on CPU $CLIENT_CPU"
  echo
  column -t -s, "$CSV" 2>/dev/null || cat "$CSV"
} >"$REPORT"
cat "$REPORT"
say ""
say "Written to $OUT_DIR: idle.csv, idle.png (idle.gp), report.txt, wrk-*.txt, server-*.log"
