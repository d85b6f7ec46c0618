#!/usr/bin/env bash
# Coverage-guided fuzzing of the workflow loader (with a run of what loads), the expression and template parser,
# the JSON that callers send and the output patterns, with libFuzzer, for a bounded time each.
#
#   scripts/fuzz.sh [SECONDS]       # default 30 per target (HANDOFF_FUZZ_SECONDS)
#
# A crash, a trap, an input that takes over 10 s (a hang) or over 2 GB is a failure: the input is saved under
# .build/fuzz/artifacts/ and `.build/fuzz/debug/handoff-fuzz FILE` (with HANDOFF_FUZZ=<target>) replays it.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-${HANDOFF_FUZZ_SECONDS:-30}}"
swift="${SWIFT:-swift}"

"$swift" build --product handoff-fuzz --build-path .build/fuzz -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
fuzzer=.build/fuzz/debug/handoff-fuzz
mkdir -p .build/fuzz/artifacts
for target in workflow expression json pattern; do
    corpus=".build/fuzz/corpus/$target"
    mkdir -p "$corpus"
    echo "fuzzing $target for ${seconds}s"
    if ! HANDOFF_FUZZ="$target" "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix=".build/fuzz/artifacts/$target-" \
        "$corpus" "Tests/Fuzz/seeds/$target" > ".build/fuzz/$target.log" 2>&1; then
        tail -40 ".build/fuzz/$target.log"
        echo "fuzz: the $target target failed; the input is in .build/fuzz/artifacts/" >&2
        exit 1
    fi
    grep -E "^stat::number_of_executed_units|^Done" ".build/fuzz/$target.log" | tail -1
done
