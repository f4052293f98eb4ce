#!/bin/sh
# Runs fuzz targets one after another (never two fuzzers at once: shared machines), each
# for SECONDS of libFuzzer time, with new inputs going to a scratch corpus (fuzz/work/T)
# and the committed seeds (fuzz/corpus/T) read only. Appends one line per run to
# fuzz/logs/summary.txt: target, exit status (0 = clean, else a finding is in
# fuzz/artifacts/T/), wall seconds, executions, and the exact command.
#
# Usage: fuzz/run.sh SECONDS TARGET...      (fuzz/install.sh first)
set -u
cd "$(dirname "$0")"
secs=$1
shift
mkdir -p logs work
for t in "$@"; do
    mkdir -p "work/$t"
    cmd="cargo +nightly fuzz run $t work/$t corpus/$t -- -max_total_time=$secs -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=30 -max_len=262144 -print_final_stats=1"
    start=$(date +%s)
    $cmd >"logs/$t.log" 2>&1
    rc=$?
    end=$(date +%s)
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "logs/$t.log" | awk '{s+=$2} END {print s+0}')
    echo "$t rc=$rc wall=$((end - start))s execs=$execs cmd: $cmd" | tee -a logs/summary.txt
done
