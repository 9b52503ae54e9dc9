#!/usr/bin/env bash
# Reports whether this host is tuned for Gapless, one knob a line: OK, MISSING (the host has the
# knob but it is not set), or NOT AVAILABLE (this kernel or machine has no such knob). It reads
# only; scripts/isolate-cpus.sh makes the changes and docs/tuning.md explains each knob.
#
#   scripts/check-tuning.sh [--cpus LIST] [--hugepages N] [--strict]
#
# The isolated CPUs are, in order: --cpus, the kernel's isolated CPUs, the CPUs recorded by
# isolate-cpus.sh, or else every online CPU but CPU 0. Exits 0, or with --strict 1 when
# anything is MISSING.
set -euo pipefail
# shellcheck source=isolate-cpus.sh
source "$(dirname "${BASH_SOURCE[0]}")/isolate-cpus.sh"

ok=0
missing=0
unavailable=0

report() {
  local status=$1 knob=$2 detail=$3
  case $status in
    OK) ok=$((ok + 1)) ;;
    MISSING) missing=$((missing + 1)) ;;
    "NOT AVAILABLE") unavailable=$((unavailable + 1)) ;;
  esac
  printf '%-13s  %-22s  %s\n' "$status" "$knob" "$detail"
}

# Prints at most eight words of "$@", then how many more there were.
abbreviate() {
  local -a words=("$@")
  if ((${#words[@]} > 8)); then
    echo "${words[*]:0:8} and $((${#words[@]} - 8)) more"
  else
    echo "${words[*]}"
  fi
}

# Picks the CPUs to check; sets the globals of select_cpus and cpus_source.
choose_cpus() {
  local list=$1 kernel_isolated state_cpus
  cpus_source="--cpus"
  if [[ -z $list ]]; then
    kernel_isolated=$(cat "$cpu_sys/isolated" 2>/dev/null || true)
    state_cpus=$(sed -n 's/^# isolate-cpus state: cpus=\([^ ]*\) .*/\1/p' "$state_file" 2>/dev/null | head -1 || true)
    if [[ -n $kernel_isolated ]]; then
      list=$kernel_isolated cpus_source="kernel isolcpus"
    elif [[ -n $state_cpus ]]; then
      list=$state_cpus cpus_source="isolate-cpus.sh state"
    else
      list=$(list_of_mask "$(mask_of_cpus $(online_cpus | grep -vx 0))")
      cpus_source="assumed: all online CPUs but CPU 0"
    fi
  fi
  if [[ $list == none ]]; then
    echo "error: only CPU 0 is online; nothing can be isolated" >&2
    exit 1
  fi
  select_cpus "$list" || exit 2
}

check_cmdline_words() {
  local word name
  for word in $(recommended_cmdline); do
    name=${word%%=*}
    if [[ $name == nohz_full && ! -e $cpu_sys/nohz_full ]]; then
      report "NOT AVAILABLE" "$name" "kernel built without CONFIG_NO_HZ_FULL"
    elif cmdline_has "$word"; then
      report OK "$name" "$(cmdline_value "$name")"
    else
      report MISSING "$name" "add $word to the kernel command line (now: $(cmdline_value "$name" | grep . || echo unset))"
    fi
  done
}

check_irqbalance() {
  if pgrep -x irqbalance >/dev/null; then
    report MISSING irqbalance "running: it will move IRQs back onto isolated CPUs"
  else
    report OK irqbalance "not running"
  fi
}

# Reports the files "$@" (under the knob name $1, shift) whose masks include an isolated CPU.
check_masks() {
  local knob=$1 label_from=$2
  shift 2
  local file label
  local -a offending=() readable=()
  for file in "$@"; do
    [[ -r $file ]] && cat "$file" >/dev/null 2>&1 || continue
    readable+=("$file")
    masks_intersect "$(cat "$file")" "$isolated_mask" || continue
    case $label_from in
      irq) label=${file#/proc/irq/} label=${label%%/*} ;;
      queue) label=${file#/sys/class/net/} label=${label/\/queues\//\/} label=${label%/*} ;;
      *) label=$file ;;
    esac
    offending+=("$label")
  done
  if ((${#readable[@]} == 0)); then
    report "NOT AVAILABLE" "$knob" "no readable files"
  elif ((${#offending[@]})); then
    report MISSING "$knob" "${#offending[@]} of ${#readable[@]} include isolated CPUs: $(abbreviate "${offending[@]}")"
  else
    report OK "$knob" "${#readable[@]} checked, none includes an isolated CPU"
  fi
}

check_thp() {
  if [[ ! -r $thp_sys ]]; then
    report "NOT AVAILABLE" "transparent hugepages" "$thp_sys absent"
    return
  fi
  local mode
  mode=$(selected_choice "$thp_sys")
  if [[ $mode == never || $mode == madvise ]]; then
    report OK "transparent hugepages" "$mode"
  else
    report MISSING "transparent hugepages" "$mode (want never or madvise)"
  fi
}

check_governor() {
  local cpu file
  local -a slow=() seen=()
  for cpu in $(online_cpus); do
    file=$cpu_sys/cpu$cpu/cpufreq/scaling_governor
    [[ -r $file ]] || continue
    seen+=("$cpu")
    [[ $(cat "$file") == performance ]] || slow+=("cpu$cpu=$(cat "$file")")
  done
  if ((${#seen[@]} == 0)); then
    report "NOT AVAILABLE" "CPU governor" "no cpufreq (frequency fixed by the hypervisor or firmware)"
  elif ((${#slow[@]})); then
    report MISSING "CPU governor" "not performance: $(abbreviate "${slow[@]}")"
  else
    report OK "CPU governor" "performance on ${#seen[@]} CPUs"
  fi
}

check_cstates() {
  local cpu state
  local -a enabled=() seen=()
  for cpu in "${isolated_cpus[@]}"; do
    [[ -d $cpu_sys/cpu$cpu/cpuidle ]] || continue
    seen+=("$cpu")
    for state in $(deep_idle_states "$cpu" "$max_cstate_latency"); do
      [[ $(cat "$state/disable") == 0 ]] && enabled+=("cpu$cpu:$(cat "$state/name" | tr ' ' _)")
    done
  done
  if ((${#seen[@]} == 0)); then
    report "NOT AVAILABLE" "C-states" "no cpuidle on the isolated CPUs"
  elif ((${#enabled[@]})); then
    report MISSING "C-states" "enabled with exit latency > $max_cstate_latency us: $(abbreviate "${enabled[@]}")"
  else
    report OK "C-states" "none deeper than $max_cstate_latency us enabled on the isolated CPUs"
  fi
}

check_dma_latency() {
  if [[ ! -r $dma_latency_dev ]]; then
    report "NOT AVAILABLE" "cpu_dma_latency" "$dma_latency_dev absent"
    return
  fi
  local now
  now=$(current_dma_latency)
  if ((now <= max_cstate_latency)); then
    report OK "cpu_dma_latency" "held at $now us"
  else
    report MISSING "cpu_dma_latency" "no holder: the kernel allows $now us wake-up latency"
  fi
}

check_hugepages() {
  if [[ ! -r /proc/sys/vm/nr_hugepages ]]; then
    report "NOT AVAILABLE" "hugepages" "kernel without hugetlbfs"
    return
  fi
  local reserved
  reserved=$(cat /proc/sys/vm/nr_hugepages)
  if ((reserved >= hugepages)); then
    report OK "hugepages" "$reserved reserved ($(awk '/^Hugepagesize/ { print $2 $3 }' /proc/meminfo) each)"
  else
    report MISSING "hugepages" "$reserved reserved, want at least $hugepages"
  fi
}

check_main() {
  local cpus="" strict=false
  hugepages=1
  max_cstate_latency=0
  while (($#)); do
    case $1 in
      --cpus) cpus=${2:-} && shift ;;
      --hugepages) hugepages=${2:-} && shift ;;
      --strict) strict=true ;;
      *)
        sed -n '6p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2
        exit 2
        ;;
    esac
    shift
  done
  [[ $hugepages =~ ^[0-9]+$ ]] || { echo "error: --hugepages takes a count" >&2 && exit 2; }
  choose_cpus "$cpus"
  echo "isolated CPUs $(list_of_mask "$isolated_mask") ($cpus_source); housekeeping CPUs $housekeeping_list"
  check_cmdline_words
  check_irqbalance
  check_masks "IRQ affinity" irq /proc/irq/[0-9]*/smp_affinity
  check_masks "IRQ default affinity" path /proc/irq/default_smp_affinity
  check_masks "RPS" queue /sys/class/net/*/queues/rx-*/rps_cpus
  check_masks "XPS" queue /sys/class/net/*/queues/tx-*/xps_cpus
  check_masks "workqueue affinity" path "$workqueue_mask"
  check_thp
  check_governor
  check_cstates
  check_dma_latency
  check_hugepages
  echo "summary: $ok OK, $missing MISSING, $unavailable NOT AVAILABLE"
  if $strict && ((missing)); then
    exit 1
  fi
}

check_main "$@"
