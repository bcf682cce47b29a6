# Sourced by the end-to-end scripts (e2e-big.sh, pml-e2e.sh): run commands, keep their times.
#
# run LABEL CMD...      append "wall_seconds max_rss_kib cpu_seconds" to $TIMES.LABEL
# run_two LABEL CMD...  the same for two copies of CMD started at once (wall until both end,
#                       the larger RSS, the CPU of both): the machine's own ceiling for two
#                       threads at that moment, two 1-thread runs sharing nothing
# median LABEL [COL]    median of a column (1 = wall s, 2 = KiB, 3 = CPU s)
# ratio A B             A / B, as "1.23x"
# ceiling ONE TWO       2 x median ONE / median TWO, where TWO is run_two of ONE's command
#
# Timed by Python around the children (wall clock and each child's own rusage, microseconds):
# `/usr/bin/time` gives hundredths of a second, too coarse for runs of 0.02-0.1 s. The times
# live in a directory of their own, removed when the sourcing script exits.
times_dir=$(mktemp -d)
trap 'rm -rf "$times_dir"' EXIT
TIMES=$times_dir/times

timed() { # COPIES LABEL CMD...
  local copies=$1 label=$2; shift 2
  python3 - "$copies" "$@" >> "$TIMES.$label" <<'PY'
import os, subprocess, sys, time
copies, cmd = int(sys.argv[1]), sys.argv[2:]
start = time.perf_counter()
children = [subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(copies)]
rss, cpu = 0, 0.0
for child in children:
    _, _, r = os.wait4(child.pid, 0)  # this child's own usage, not the interpreter's helpers'
    rss, cpu = max(rss, r.ru_maxrss), cpu + r.ru_utime + r.ru_stime
wall = time.perf_counter() - start
print(f"{wall:.4f} {rss} {cpu:.4f}")
PY
}
run() { timed 1 "$@"; }
run_two() { timed 2 "$@"; }
median() {
  sort -n -k"${2:-1}" "$TIMES.$1" | awk -v c="${2:-1}" '{v[NR]=$c} END {print v[int((NR+1)/2)]}'
}
ratio() { python3 -c "import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print(f'{a / b:.2f}x' if b > 0 else 'n/a')" "$1" "$2"; }
ceiling() { ratio "$(python3 -c "import sys; print(2 * float(sys.argv[1]))" "$(median "$1")")" "$(median "$2")"; }
