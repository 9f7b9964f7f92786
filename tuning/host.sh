#!/usr/bin/env bash
# Host settings sluice's shard cores care about: the CPU frequency governor and where
# hardware interrupts (network, disk) are delivered. Prints what is set now; with --apply,
# sets every CPU's governor to `performance` and moves every IRQ that may move onto the
# cores NOT listed in SHARD_CORES (default: the `cores` of your config, e.g. 0,1), so a
# shard's core is not interrupted by packets it is not serving. Needs root to apply.
# Revert: reboot, or run with --governor <previous> and --irq-cores <all cores>.
#
#   tuning/host.sh [--apply] [--shard-cores 0,1] [--governor performance] [--irq-cores 2,3]
set -euo pipefail
apply=0
shard_cores=""
governor=performance
irq_cores=""
while [ $# -gt 0 ]; do
  case $1 in
    --apply) apply=1 ;;
    --shard-cores) shard_cores=$2; shift ;;
    --governor) governor=$2; shift ;;
    --irq-cores) irq_cores=$2; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
ncpu=$(nproc --all)
echo "cpus: $ncpu"

# The governor: `performance` keeps the shard cores at full clock, so a burst does not
# first wait for the frequency to rise.
govs=(/sys/devices/system/cpu/cpu*/cpufreq/scaling_governor)
if [ -e "${govs[0]}" ]; then
  for g in "${govs[@]}"; do echo "governor $(echo "$g" | grep -o 'cpu[0-9]*'): $(cat "$g")"; done
  if [ $apply = 1 ]; then
    for g in "${govs[@]}"; do echo "$governor" >"$g"; done
    echo "set every governor to $governor"
  fi
else
  echo "governor: no cpufreq here (a VM, or the host controls frequency): nothing to set"
fi

# IRQ affinity: keep interrupts off the shard cores. With few cores (a 2-core VM) there
# may be no core left over: then say so and change nothing.
if [ -z "$irq_cores" ] && [ -n "$shard_cores" ]; then
  irq_cores=$(python3 -c "import sys; s={int(c) for c in sys.argv[1].split(',')}; \
print(','.join(str(c) for c in range(int(sys.argv[2])) if c not in s))" "$shard_cores" "$ncpu")
fi
moved=0
for d in /proc/irq/[0-9]*; do
  irq=${d##*/}
  [ -r "$d/smp_affinity_list" ] || continue
  name=$(awk -v n="$irq:" '$1 == n {print $NF}' /proc/interrupts)
  echo "irq $irq ${name:-?}: cores $(cat "$d/smp_affinity_list")"
  if [ $apply = 1 ] && [ -n "$irq_cores" ]; then
    if echo "$irq_cores" >"$d/smp_affinity_list" 2>/dev/null; then moved=$((moved + 1)); fi
  fi
done
if [ $apply = 1 ]; then
  if [ -z "$irq_cores" ]; then
    echo "irq affinity: no core outside the shard cores (or none given with --shard-cores): unchanged"
  else
    echo "moved $moved irqs to cores $irq_cores (some, e.g. per-cpu timers, cannot move)"
  fi
fi
