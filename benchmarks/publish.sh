#!/usr/bin/env bash
# Publishes one result of benchmarks/run.sh in README.md.
#
# Usage: benchmarks/publish.sh RESULT_DIR NAME
#   e.g. benchmarks/publish.sh benchmarks/results/20260101T120000Z_epoll-sockets_cores1_r8_d5_w25 cores1
#
# Copies RESULT_DIR/chart.png to benchmarks/published/NAME.png and replaces what lies between the lines
#   <!-- bench:NAME:start -->
#   <!-- bench:NAME:end -->
# of README.md with RESULT_DIR/summary.md followed by ![NAME](benchmarks/published/NAME.png). The markers stay,
# so publishing again replaces the previous numbers. They are placed by hand: this script never adds them.
#
# A result whose report.txt has the "!!! ERRORS" banner (socket errors or non-2xx responses in a measured run)
# is refused; FORCE=1 publishes it anyway.
#
# Exit status: 0 published; 1 bad arguments, missing files or missing/duplicate markers.
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
README="$REPO_ROOT/README.md"
FORCE="${FORCE:-0}"

die() { printf 'publish.sh: error: %s\n' "$*" >&2; exit 1; }

validate_arguments() {
  (($# == 2)) || die "usage: benchmarks/publish.sh RESULT_DIR NAME (e.g. benchmarks/publish.sh benchmarks/results/<run> cores1)"
  RESULT_DIR="${1%/}"
  NAME="$2"
  [[ "$NAME" =~ ^[A-Za-z0-9._-]+$ ]] || die "NAME '$NAME' may contain only letters, digits, '.', '_' and '-' (it names a file and the markers)"
  [[ -d "$RESULT_DIR" ]] || die "RESULT_DIR '$RESULT_DIR' is not a directory; give a directory that benchmarks/run.sh wrote"
  local file
  for file in summary.md chart.png report.txt; do
    [[ -f "$RESULT_DIR/$file" ]] || die "$RESULT_DIR/$file is missing; was the run complete? (benchmarks/run.sh writes it at the end)"
  done
  [[ "$FORCE" == 0 || "$FORCE" == 1 ]] || die "FORCE must be 0 or 1, got '$FORCE'"
  if grep -q '^!!! ERRORS' "$RESULT_DIR/report.txt" && [[ "$FORCE" != 1 ]]; then
    die "$RESULT_DIR/report.txt reports errors in measured runs, so its numbers are not comparable; rerun, or set FORCE=1 to publish anyway"
  fi
}

# Prints the line number of the one line of README.md that is exactly $1 (surrounding blanks allowed).
marker_line() {
  local marker="$1" lines count
  lines="$(awk -v m="$marker" '{ line = $0; gsub(/^[ \t]+|[ \t\r]+$/, "", line) } line == m { print NR }' "$README")"
  count="$(grep -c . <<<"$lines" || true)"
  ((count == 1)) || die "README.md has $count lines '$marker', needs exactly one; place the markers <!-- bench:$NAME:start --> and <!-- bench:$NAME:end --> on lines of their own"
  echo "$lines"
}

# Rewrites README.md in place (same file, so its mode stays): the lines between the markers become the table
# and the chart.
replace_block() {
  local start end image tmp
  start="$(marker_line "<!-- bench:$NAME:start -->")"
  end="$(marker_line "<!-- bench:$NAME:end -->")"
  ((start < end)) || die "in README.md, <!-- bench:$NAME:start --> (line $start) must come before <!-- bench:$NAME:end --> (line $end)"
  image="![$NAME](benchmarks/published/$NAME.png)"
  tmp="$(mktemp)"
  awk -v start="$start" -v end="$end" -v summary="$RESULT_DIR/summary.md" -v image="$image" '
    NR == start { print; print ""; while ((getline line < summary) > 0) print line; print ""; print image; print ""; next }
    NR > start && NR < end { next }
    { print }' "$README" >"$tmp"
  cat "$tmp" >"$README"
  rm -f "$tmp"
}

main() {
  validate_arguments "$@"
  # The markers are checked before anything is copied, so a mistake leaves the tree as it was.
  marker_line "<!-- bench:$NAME:start -->" >/dev/null
  marker_line "<!-- bench:$NAME:end -->" >/dev/null
  mkdir -p "$SCRIPT_DIR/published"
  cp "$RESULT_DIR/chart.png" "$SCRIPT_DIR/published/$NAME.png"
  replace_block
  printf 'Published %s as "%s": README.md (between the bench:%s markers) and benchmarks/published/%s.png\n' \
    "$RESULT_DIR" "$NAME" "$NAME" "$NAME"
}

main "$@"
