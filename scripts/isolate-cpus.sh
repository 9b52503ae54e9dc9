#!/usr/bin/env bash
# Prepares a colocated Linux host for Gapless: keeps the kernel, interrupts and power management
# away from the CPUs that run the busy-polling network core (docs/tuning.md explains every knob).
#
#   scripts/isolate-cpus.sh --cpus LIST [--dry-run] [--thp never|madvise] [--hugepages N]
#                           [--max-cstate-latency US] [--apply-cmdline [--grub-file FILE]]
#                           [--state FILE]
#   scripts/isolate-cpus.sh --undo [--state FILE]
#
# LIST is a kernel CPU list such as "2-3" or "1,3"; CPU 0 is never isolated. Every change is
# recorded, with the value it replaced, in the state file (default
# /var/lib/gapless/isolate-cpus.state), and --undo writes the recorded values back in reverse
# order. Knobs this host does not have are reported and skipped. The kernel command line is only
# checked unless --apply-cmdline is given; it takes effect at the next boot.
#
# check-tuning.sh sources this file for its helpers; `main` only runs when it is executed.
set -euo pipefail

state_file=${GAPLESS_TUNING_STATE:-/var/lib/gapless/isolate-cpus.state}
cpu_sys=/sys/devices/system/cpu
thp_sys=/sys/kernel/mm/transparent_hugepage/enabled
workqueue_mask=/sys/devices/virtual/workqueue/cpumask
dma_latency_dev=/dev/cpu_dma_latency

# --- CPU lists and masks ------------------------------------------------------------------------
# Masks are in the kernel's format: hexadecimal 32-bit groups separated by commas, most
# significant first ("3", "00000000,00000003").

# Prints the CPUs of a list such as "1-3,6", one per line; fails on anything else.
expand_cpu_list() {
  local part
  local -a parts
  IFS=, read -ra parts <<<"$1"
  ((${#parts[@]})) || return 1
  for part in "${parts[@]}"; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then
      ((BASH_REMATCH[1] <= BASH_REMATCH[2])) || return 1
      seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    elif [[ $part =~ ^[0-9]+$ ]]; then
      echo "$part"
    else
      return 1
    fi
  done
}

# Prints the mask whose bits are the CPUs given as arguments.
mask_of_cpus() {
  local -a words=()
  local cpu i
  for cpu in "$@"; do
    i=$((cpu / 32))
    words[i]=$((${words[i]:-0} | (1 << (cpu % 32))))
  done
  local out="" top=$((${#words[@]} ? ${#words[@]} - 1 : 0))
  for ((i = top; i >= 0; i--)); do
    out+=$(printf '%08x' "${words[i]:-0}")
    ((i)) && out+=,
  done
  echo "$out"
}

# Prints the CPUs of a mask, ascending, one per line.
cpus_of_mask() {
  local -a groups
  local n g bit
  IFS=, read -ra groups <<<"$1"
  n=${#groups[@]}
  for ((g = 0; g < n; g++)); do
    local word=$((16#${groups[n - 1 - g]}))
    for ((bit = 0; bit < 32; bit++)); do
      ((word >> bit & 1)) && echo $((g * 32 + bit))
    done
  done
  return 0
}

# Prints the CPUs of a mask as a kernel CPU list ("1-3,6"); "none" when empty.
list_of_mask() {
  local cpu out="" start=-1 prev=-2
  for cpu in $(cpus_of_mask "$1") -1; do
    if ((cpu != prev + 1)); then
      ((start >= 0)) && out+=$([[ $start == "$prev" ]] && echo "$start," || echo "$start-$prev,")
      start=$cpu
    fi
    prev=$cpu
  done
  [[ -n $out ]] && echo "${out%,}" || echo none
}

# Succeeds when the two masks share a CPU.
masks_intersect() {
  local cpu
  for cpu in $(cpus_of_mask "$1"); do
    cpus_of_mask "$2" | grep -qx "$cpu" && return 0
  done
  return 1
}

# The mask a knob should hold so that no isolated CPU is in it: its CPUs minus the isolated ones,
# or all housekeeping CPUs when nothing would be left. An empty mask (feature off) stays empty.
# Uses the globals isolated_mask and housekeeping_mask.
confined_mask() {
  local cpu
  local -a kept=()
  for cpu in $(cpus_of_mask "$1"); do
    cpus_of_mask "$isolated_mask" | grep -qx "$cpu" || kept+=("$cpu")
  done
  if ((${#kept[@]})); then
    mask_of_cpus "${kept[@]}"
  elif [[ -n $(cpus_of_mask "$1") ]]; then
    echo "$housekeeping_mask"
  else
    echo "$1"
  fi
}

online_cpus() { expand_cpu_list "$(cat "$cpu_sys/online")"; }

# Sets isolated_cpus (array), isolated_mask, housekeeping_mask and housekeeping_list from a CPU
# list; fails with a message when the list is malformed, names CPU 0 or an offline CPU.
select_cpus() {
  local list=$1 cpu
  local -a online housekeeping=()
  if ! mapfile -t isolated_cpus < <(expand_cpu_list "$list") || ((${#isolated_cpus[@]} == 0)); then
    echo "error: '$list' is not a CPU list (for example 2-3 or 1,3)" >&2
    return 1
  fi
  mapfile -t online < <(online_cpus)
  for cpu in "${isolated_cpus[@]}"; do
    if ((cpu == 0)); then
      echo "error: CPU 0 keeps the kernel's housekeeping work and is never isolated" >&2
      return 1
    fi
    if ! printf '%s\n' "${online[@]}" | grep -qx "$cpu"; then
      echo "error: CPU $cpu is not online (online: $(cat "$cpu_sys/online"))" >&2
      return 1
    fi
  done
  for cpu in "${online[@]}"; do
    printf '%s\n' "${isolated_cpus[@]}" | grep -qx "$cpu" || housekeeping+=("$cpu")
  done
  isolated_mask=$(mask_of_cpus "${isolated_cpus[@]}")
  housekeeping_mask=$(mask_of_cpus "${housekeeping[@]}")
  housekeeping_list=$(list_of_mask "$housekeeping_mask")
}

# --- Reading knobs --------------------------------------------------------------------------------

# The value of a kernel command-line parameter of the running kernel, or nothing.
cmdline_value() {
  local token
  for token in $(cat /proc/cmdline); do
    [[ $token == -- ]] && return 0 # the rest belongs to init
    [[ $token == "$1="* ]] && echo "${token#*=}"
  done
  return 0
}

# The CPU list inside an isolcpus= value, whose flags (domain, managed_irq, nohz) come first.
isolcpus_list() {
  local item out=""
  local -a items
  IFS=, read -ra items <<<"$1"
  for item in "${items[@]}"; do
    [[ $item =~ ^[0-9] ]] && out+="$item,"
  done
  echo "${out%,}"
}

# The kernel parameters that isolate the selected CPUs, as name=value words.
recommended_cmdline() {
  local list
  list=$(list_of_mask "$isolated_mask")
  echo "isolcpus=managed_irq,domain,$list nohz_full=$list rcu_nocbs=$list irqaffinity=$housekeeping_list"
}

# Succeeds when the running kernel has parameter word $1 (name=value) with the same CPUs.
cmdline_has() {
  local name=${1%%=*} want=${1#*=} have
  have=$(cmdline_value "$name")
  [[ -n $have ]] || return 1
  if [[ $name == isolcpus ]]; then
    have=$(isolcpus_list "$have")
    want=$(isolcpus_list "$want")
  fi
  [[ -n $have && $(mask_of_cpus $(expand_cpu_list "$have")) == $(mask_of_cpus $(expand_cpu_list "$want")) ]]
}

# The selected word of a sysfs choice file such as "always [madvise] never".
selected_choice() { sed -n 's/.*\[\(.*\)\].*/\1/p' "$1"; }

# The cpuidle state directories of a CPU whose exit latency exceeds $2 microseconds.
deep_idle_states() {
  local state
  for state in "$cpu_sys/cpu$1"/cpuidle/state*; do
    [[ -r $state/latency ]] && (($(cat "$state/latency") > $2)) && echo "$state"
  done
  return 0
}

# The pid of a running cpu_dma_latency holder from the pid file, or nothing.
latency_holder_pid() {
  local pid_file=$1 pid
  [[ -r $pid_file ]] || return 0
  pid=$(cat "$pid_file")
  # The pid must still be a process holding the device open, not a recycled pid.
  if [[ $pid =~ ^[0-9]+$ ]] && ls -l "/proc/$pid/fd" 2>/dev/null | grep -q " -> $dma_latency_dev\$"; then
    echo "$pid"
  fi
}

# The latency in microseconds that the kernel currently enforces through PM QoS.
current_dma_latency() { od -An -td4 -N4 "$dma_latency_dev" | tr -d ' '; }

# --- Changing knobs (apply) --------------------------------------------------------------------

dry_run=false
changed=0
skipped=0
refused=0

say() { printf '%s\n' "$*"; }
not_available() {
  skipped=$((skipped + 1))
  say "skip   $1: NOT AVAILABLE ($2)"
}
record() { $dry_run || printf '%s\n' "$(
  IFS=$'\t'
  echo "$*"
)" >>"$state_file"; }

# Writes $2 to the file $1 (described as $3) unless it already holds it, recording the old value.
set_file() {
  local path=$1 new=$2 what=$3 old
  old=$(cat "$path")
  if [[ $old == "$new" ]]; then
    say "keep   $what: already $old"
    return 0
  fi
  if $dry_run; then
    say "would  $what: $old -> $new   ($path)"
  elif { printf '%s\n' "$new" >"$path"; } 2>/dev/null; then
    record file "$path" "$old"
    changed=$((changed + 1))
    say "set    $what: $old -> $new"
  else
    refused=$((refused + 1))
    say "fail   $what: the kernel refused $new, kept $old   ($path)"
  fi
}

# Confines a mask file so that it excludes the isolated CPUs.
confine_mask_file() {
  local path=$1 what=$2 old new
  old=$(cat "$path")
  new=$(confined_mask "$old")
  if [[ $(cpus_of_mask "$old") == $(cpus_of_mask "$new") ]]; then
    say "keep   $what: CPUs $(list_of_mask "$old"), no isolated CPU among them"
  else
    set_file "$path" "$new" "$what"
  fi
}

check_cmdline() {
  local word missing=()
  for word in $(recommended_cmdline); do
    if cmdline_has "$word"; then
      say "keep   kernel command line: has $word"
    else
      missing+=("$word")
      say "need   kernel command line: lacks $word"
    fi
  done
  if ((${#missing[@]})); then
    say "       add to GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot:"
    say "       ${missing[*]}"
  fi
  if $apply_cmdline && ((${#missing[@]})); then
    edit_grub "${missing[@]}"
  fi
}

# Adds the kernel parameters "$@" to GRUB_CMDLINE_LINUX in $grub_file, replacing earlier values
# of the same parameters, and regenerates the boot configuration when that file is the system's.
edit_grub() {
  if [[ ! -f $grub_file ]]; then
    not_available "bootloader" "$grub_file absent; add the parameters by hand"
    return 0
  fi
  if ! grep -q '^GRUB_CMDLINE_LINUX=' "$grub_file"; then
    not_available "bootloader" "$grub_file has no GRUB_CMDLINE_LINUX line"
    return 0
  fi
  local line word value
  line=$(grep '^GRUB_CMDLINE_LINUX=' "$grub_file" | tail -1)
  value=${line#GRUB_CMDLINE_LINUX=}
  value=${value#\"}
  value=${value%\"}
  for word in "$@"; do
    value=$(tr ' ' '\n' <<<"$value" | grep -v "^${word%%=*}=" | tr '\n' ' ')
    value="${value% } $word"
  done
  value=${value# }
  if $dry_run; then
    say "would  $grub_file: GRUB_CMDLINE_LINUX=\"$value\""
    return 0
  fi
  local backup
  backup="$(dirname "$state_file")/grub.$(date +%s).orig"
  cp -p "$grub_file" "$backup"
  record grub "$grub_file" "$backup"
  local escaped=${value//\\/\\\\}
  escaped=${escaped//&/\\&}
  escaped=${escaped//|/\\|}
  sed -i "s|^GRUB_CMDLINE_LINUX=.*|GRUB_CMDLINE_LINUX=\"$escaped\"|" "$grub_file"
  changed=$((changed + 1))
  say "set    $grub_file: GRUB_CMDLINE_LINUX=\"$value\" (original saved as $backup)"
  [[ $grub_file == /etc/default/grub ]] && regenerate_grub
  say "       reboot for the kernel command line to take effect"
}

regenerate_grub() {
  if command -v update-grub >/dev/null; then
    update-grub
  elif command -v grub2-mkconfig >/dev/null && [[ -d /boot/grub2 ]]; then
    grub2-mkconfig -o /boot/grub2/grub.cfg
  else
    say "       no update-grub or grub2-mkconfig here: regenerate the boot configuration by hand"
  fi
}

confine_irqs() {
  local dir irq refused_before=$refused
  if [[ ! -w /proc/irq/default_smp_affinity ]]; then
    not_available "IRQ affinity" "/proc/irq/default_smp_affinity not writable"
    return 0
  fi
  confine_mask_file /proc/irq/default_smp_affinity "IRQ default affinity"
  for dir in /proc/irq/[0-9]*; do
    irq=${dir##*/}
    [[ -w $dir/smp_affinity ]] || continue
    confine_mask_file "$dir/smp_affinity" "IRQ $irq ($(irq_name "$irq")) affinity"
  done
  if ((refused > refused_before)); then
    say "       the kernel manages the affinity of refused IRQs itself (per-queue interrupts);"
    say "       isolcpus=managed_irq on the kernel command line keeps them off isolated CPUs"
  fi
}

# The device name of an IRQ from /proc/interrupts, for the report.
irq_name() { awk -v irq="$1:" '$1 == irq { print $NF }' /proc/interrupts; }

confine_packet_steering() {
  local kind file found=false
  for kind in rps_cpus xps_cpus; do
    found=false
    for file in /sys/class/net/*/queues/*/"$kind"; do
      # Reading xps_cpus fails on devices with a single queue although the file exists.
      [[ -w $file ]] && cat "$file" >/dev/null 2>&1 || continue
      found=true
      local queue=${file%/*}
      local device=${queue%/queues/*}
      confine_mask_file "$file" "${kind%_cpus} ${device##*/}/${queue##*/}"
    done
    $found || not_available "${kind%_cpus}" "no readable /sys/class/net/*/queues/*/$kind"
  done
}

stop_irqbalance() {
  if ! pgrep -x irqbalance >/dev/null; then
    say "keep   irqbalance: not running"
    return 0
  fi
  local how
  if [[ -d /run/systemd/system ]]; then
    how="systemctl stop irqbalance"
  elif command -v service >/dev/null; then
    how="service irqbalance stop"
  else
    not_available "irqbalance" "running, but no systemd or service command to stop it"
    return 0
  fi
  if $dry_run; then
    say "would  irqbalance: $how"
  elif $how >/dev/null; then
    record service irqbalance
    changed=$((changed + 1))
    say "set    irqbalance: stopped ($how)"
  else
    say "fail   irqbalance: $how failed"
  fi
}

set_thp() {
  if [[ ! -w $thp_sys ]]; then
    not_available "transparent hugepages" "$thp_sys absent"
    return 0
  fi
  local old
  old=$(selected_choice "$thp_sys")
  if [[ $old == "$thp_mode" ]]; then
    say "keep   transparent hugepages: already $old"
  elif $dry_run; then
    say "would  transparent hugepages: $old -> $thp_mode   ($thp_sys)"
  elif { echo "$thp_mode" >"$thp_sys"; } 2>/dev/null; then
    record file "$thp_sys" "$old"
    changed=$((changed + 1))
    say "set    transparent hugepages: $old -> $thp_mode"
  else
    say "fail   transparent hugepages: the kernel refused $thp_mode"
  fi
}

set_governor() {
  local cpu file found=false
  for cpu in $(online_cpus); do
    file=$cpu_sys/cpu$cpu/cpufreq/scaling_governor
    [[ -w $file ]] || continue
    found=true
    if grep -qw performance "$cpu_sys/cpu$cpu/cpufreq/scaling_available_governors"; then
      set_file "$file" performance "CPU $cpu frequency governor"
    else
      not_available "CPU $cpu frequency governor" "no performance governor"
    fi
  done
  $found || not_available "CPU frequency governor" "no cpufreq in $cpu_sys/cpu*/cpufreq"
}

disable_deep_cstates() {
  local cpu state found=false
  for cpu in "${isolated_cpus[@]}"; do
    [[ -d $cpu_sys/cpu$cpu/cpuidle ]] || continue
    found=true
    for state in $(deep_idle_states "$cpu" "$max_cstate_latency"); do
      set_file "$state/disable" 1 \
        "CPU $cpu idle state $(cat "$state/name") ($(cat "$state/latency") us exit)"
    done
  done
  $found || not_available "C-states" "no cpuidle in $cpu_sys/cpu*/cpuidle"
}

# Starts a small process that holds /dev/cpu_dma_latency open with the maximum latency the
# kernel may allow when waking a CPU; the request lasts as long as the descriptor stays open.
hold_dma_latency() {
  local pid_file
  pid_file="$(dirname "$state_file")/cpu-dma-latency.pid"
  if [[ ! -w $dma_latency_dev ]]; then
    not_available "cpu_dma_latency" "$dma_latency_dev absent"
    return 0
  fi
  if [[ -n $(latency_holder_pid "$pid_file") ]]; then
    say "keep   cpu_dma_latency: holder $(cat "$pid_file") already running"
    return 0
  fi
  if $dry_run; then
    say "would  cpu_dma_latency: start a holder writing $max_cstate_latency us, pid in $pid_file"
    return 0
  fi
  rm -f "$pid_file"
  # A string that is exactly four bytes long would be read as a binary s32, so the value is
  # written as ten hexadecimal characters. The shell records its pid, then becomes `sleep`,
  # which inherits the open descriptor.
  # shellcheck disable=SC2016 # expanded by the inner shell
  setsid bash -c 'exec 3>"$1" && printf "0x%08x" "$2" >&3 && echo $$ >"$3" && exec sleep infinity' \
    holder "$dma_latency_dev" "$max_cstate_latency" "$pid_file" </dev/null >/dev/null 2>&1 &
  local tries
  for ((tries = 0; tries < 50; tries++)); do
    [[ -n $(latency_holder_pid "$pid_file") ]] && break
    sleep 0.1
  done
  local pid
  pid=$(latency_holder_pid "$pid_file")
  if [[ -z $pid ]]; then
    say "fail   cpu_dma_latency: the holder did not start"
    return 0
  fi
  record holder "$pid_file" "$pid"
  changed=$((changed + 1))
  say "set    cpu_dma_latency: holder pid $pid keeps $max_cstate_latency us (kernel now enforces $(current_dma_latency) us)"
}

reserve_hugepages() {
  local file=/proc/sys/vm/nr_hugepages old now
  if [[ ! -w $file ]]; then
    not_available "hugepages" "$file absent"
    return 0
  fi
  old=$(cat "$file")
  if ((old >= hugepages)); then
    say "keep   hugepages: $old reserved (asked $hugepages)"
    return 0
  fi
  set_file "$file" "$hugepages" "hugepages reserved"
  $dry_run && return 0
  now=$(cat "$file")
  ((now < hugepages)) && say "       only $now of $hugepages hugepages found free memory (fragmentation); reserve them at boot with hugepages=$hugepages"
  return 0
}

confine_workqueues() {
  if [[ ! -w $workqueue_mask ]]; then
    not_available "workqueue affinity" "$workqueue_mask absent"
    return 0
  fi
  confine_mask_file "$workqueue_mask" "unbound workqueue affinity"
}

apply() {
  if ! $dry_run; then
    if [[ -e $state_file ]]; then
      echo "error: $state_file exists: the host is already tuned; run --undo first" >&2
      exit 1
    fi
    local dir
    dir=$(dirname "$state_file")
    if [[ ! -d $dir ]]; then
      mkdir -p "$dir"
      printf 'dir\t%s\n' "$dir" >"$state_file"
    fi
    printf '# isolate-cpus state: cpus=%s started=%s\n' "$cpus_arg" "$(date -u +%FT%TZ)" >>"$state_file"
  fi
  say "isolating CPUs $(list_of_mask "$isolated_mask"); housekeeping CPUs $housekeeping_list$($dry_run && echo ' (dry run: nothing is changed)')"
  check_cmdline
  stop_irqbalance # first, or it would move the IRQs back
  confine_irqs
  confine_packet_steering
  confine_workqueues
  set_thp
  set_governor
  disable_deep_cstates
  hold_dma_latency
  reserve_hugepages
  if $dry_run; then
    say "dry run: $skipped knobs not available"
  else
    say "done: $changed changes recorded in $state_file, $skipped knobs not available; undo with $0 --undo"
  fi
}

# --- Undo ----------------------------------------------------------------------------------------

undo() {
  if [[ ! -f $state_file ]]; then
    echo "nothing to undo: $state_file does not exist"
    return 0
  fi
  local kind a b failed=() line
  while IFS= read -r line; do
    [[ -z $line || $line == \#* ]] && continue
    IFS=$'\t' read -r kind a b <<<"$line"
    case $kind in
      file)
        if { printf '%s\n' "$b" >"$a"; } 2>/dev/null; then
          say "restored $a = $b"
        else
          say "FAILED   $a = $b"
          failed+=("$line")
        fi
        ;;
      service)
        if { [[ -d /run/systemd/system ]] && systemctl start "$a"; } || service "$a" start; then
          say "restored service $a (started)"
        else
          failed+=("$line")
        fi
        ;;
      holder)
        if [[ $(latency_holder_pid "$a") == "$b" ]]; then
          kill "$b"
          local tries
          for ((tries = 0; tries < 50; tries++)); do
            [[ -d /proc/$b ]] || break
            sleep 0.1
          done
          rm -f "$a"
          say "restored cpu_dma_latency: holder $b stopped (kernel now allows $(current_dma_latency) us)"
        else
          say "restored cpu_dma_latency: holder $b had already exited"
          rm -f "$a"
        fi
        ;;
      grub)
        if cp -p "$b" "$a"; then
          rm -f "$b"
          say "restored $a from its saved copy"
          [[ $a == /etc/default/grub ]] && regenerate_grub
        else
          failed+=("$line")
        fi
        ;;
      dir) ;; # removed last, below
      *)
        say "FAILED   unknown state line: $line"
        failed+=("$line")
        ;;
    esac
  done < <(tac "$state_file")
  if ((${#failed[@]})); then
    printf '%s\n' "${failed[@]}" >"$state_file"
    say "undo incomplete: ${#failed[@]} entries could not be restored; they are left in $state_file"
    exit 1
  fi
  local created_dir
  created_dir=$(awk -F'\t' '$1 == "dir" { print $2 }' "$state_file")
  rm -f "$state_file"
  [[ -n $created_dir ]] && rmdir "$created_dir" 2>/dev/null
  say "undo complete"
}

# --- Command line ------------------------------------------------------------------------------

usage() {
  sed -n '5,8p' "$0" | sed 's/^# //' >&2
  exit 2
}

main() {
  local mode=apply
  cpus_arg=""
  thp_mode=never
  hugepages=256
  max_cstate_latency=0
  apply_cmdline=false
  grub_file=/etc/default/grub
  while (($#)); do
    case $1 in
      --cpus) cpus_arg=${2:-} && shift ;;
      --dry-run) dry_run=true ;;
      --undo) mode=undo ;;
      --thp) thp_mode=${2:-} && shift ;;
      --hugepages) hugepages=${2:-} && shift ;;
      --max-cstate-latency) max_cstate_latency=${2:-} && shift ;;
      --apply-cmdline) apply_cmdline=true ;;
      --grub-file) grub_file=${2:-} && shift ;;
      --state) state_file=${2:-} && shift ;;
      -h | --help) usage ;;
      *)
        echo "error: unknown option $1" >&2
        usage
        ;;
    esac
    shift
  done
  [[ $thp_mode == never || $thp_mode == madvise ]] || { echo "error: --thp takes never or madvise" >&2 && exit 2; }
  [[ $hugepages =~ ^[0-9]+$ ]] || { echo "error: --hugepages takes a count" >&2 && exit 2; }
  [[ $max_cstate_latency =~ ^[0-9]+$ ]] || { echo "error: --max-cstate-latency takes microseconds" >&2 && exit 2; }
  if ! $dry_run && ((EUID != 0)); then
    echo "error: run as root (or use --dry-run)" >&2
    exit 1
  fi
  if [[ $mode == undo ]]; then
    undo
    return
  fi
  [[ -n $cpus_arg ]] || usage
  select_cpus "$cpus_arg" || exit 2
  apply
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  main "$@"
fi
