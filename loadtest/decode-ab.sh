#!/usr/bin/env bash
# Decoder speed of two builds side by side: runs each `decode_speed` binary for 0.7 s of
# CPU time per round, alternating, and prints the best round of each (noise on a shared VM
# only ever slows a run down). Build the other one from a worktree, e.g.
#   git worktree add --detach /tmp/old REV && (cd /tmp/old && cargo build --release --example decode_speed)
#   loadtest/decode-ab.sh csv 8 /tmp/old/target/release/examples/decode_speed target/release/examples/decode_speed
#
#   loadtest/decode-ab.sh csv|json ROUNDS BINARY...
#   loadtest/decode-ab.sh "file BODY" ROUNDS BINARY...   (a body sluice-load --dump-bodies wrote)
set -euo pipefail
mode=$1 rounds=$2
shift 2
declare -A best
for _ in $(seq "$rounds"); do
  for b in "$@"; do
    # shellcheck disable=SC2086 # "file PATH" is two words on purpose.
    v=$("$b" 0.7 $mode | grep -oE "[0-9]+ MB/s" | head -1 | cut -d' ' -f1)
    if [ -z "${best[$b]:-}" ] || [ "$v" -gt "${best[$b]}" ]; then best[$b]=$v; fi
  done
done
for b in "$@"; do echo "$b: best ${best[$b]} MB/s"; done
