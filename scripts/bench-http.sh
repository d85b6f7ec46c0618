#!/usr/bin/env bash
# HTTP benchmark of `handoff serve`, driven by wrk (scripts/install-test-tools.sh installs it).
#
#   scripts/bench-http.sh [--duration SECONDS] [--rounds N] [--binary PATH] [--json]
#
# Defaults: 10 s per measurement, 3 rounds, .build/release/handoff. It uses a fresh private PostgreSQL cluster in
# a temporary HANDOFF_HOME (deleted at the end) unless DATABASE_URL is set, seeds onboardings with `handoff
# apply`, makes a customer_admin token, starts `handoff serve` on a free loopback port and measures, interleaved
# round by round:
#   - GET /healthz (the baseline) and GET /tasks?role=customer_admin over 10,000 open tasks: wrk -t2 -c16,
#     requests/s, p50 and p99 latency, non-2xx answers (all GET rounds run before any claim round, so the list
#     stays the same 10,000 tasks);
#   - claim + complete over HTTP (wrk -t16 -c16, each connection claiming then completing tasks of its own
#     onboardings, scripts/bench-http-claim.lua) against the same work in-process (`handoff bench claim
#     --clients 16`), in completed tasks/s.
# It prints per-round figures, medians and two targets: GET /tasks p99 < 10 ms, and HTTP claim rate / in-process
# rate >= 0.8. With --json it prints one JSON document instead. Progress goes to stderr. It exits non-zero only
# when something failed to run, not when a target is missed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
duration=10
rounds=3
binary="$root/.build/release/handoff"
json=0

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}
die() {
    echo "error: $*" >&2
    exit 1
}
log() {
    echo "bench-http: $*" >&2
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) [ $# -ge 2 ] || die "--duration needs a value"; duration="$2"; shift 2 ;;
        --duration=*) duration="${1#*=}"; shift ;;
        --rounds) [ $# -ge 2 ] || die "--rounds needs a value"; rounds="$2"; shift 2 ;;
        --rounds=*) rounds="${1#*=}"; shift ;;
        --binary) [ $# -ge 2 ] || die "--binary needs a value"; binary="$2"; shift 2 ;;
        --binary=*) binary="${1#*=}"; shift ;;
        --json) json=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument '$1'" ;;
    esac
done

[[ "$duration" =~ ^[1-9][0-9]*$ ]] || die "--duration takes whole seconds (1 or more), not '$duration'"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "--rounds takes a count (1 or more), not '$rounds'"
case "$binary" in /*) ;; *) binary="$PWD/$binary" ;; esac
[ -x "$binary" ] || die "no executable $binary (build it: swift build -c release --product handoff)"
command -v wrk >/dev/null 2>&1 || die "wrk is missing: run scripts/install-test-tools.sh"
command -v curl >/dev/null 2>&1 || die "curl is missing"
command -v python3 >/dev/null 2>&1 || die "python3 is missing"

export HANDOFF_WORKFLOWS="$root/workflows"
export HANDOFF_MIGRATIONS="$root/db/migrations"

work="$(mktemp -d)"
# PostgreSQL runs as the postgres account when this runs as root: it must be able to enter the folder.
chmod 755 "$work"
results="$work/results"
mkdir -p "$results"

private=0
prefix=""
token_name="bench"
if [ -z "${DATABASE_URL:-}" ]; then
    private=1
    export HANDOFF_HOME="$work"
else
    # Someone's own database: names of this run's own, so that runs don't collide, and the token is revoked.
    prefix="r$(date +%s)-$$-"
    token_name="${prefix}bench"
fi

server_pid=""
token_made=0
cleanup() {
    local status=$?
    set +e
    trap - EXIT INT TERM
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill -TERM "$server_pid" 2>/dev/null
        for _ in $(seq 1 100); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$server_pid" 2>/dev/null; then
            log "the server did not stop within 10 s of SIGTERM; killing it"
            kill -KILL "$server_pid" 2>/dev/null
        fi
        wait "$server_pid" 2>/dev/null
    fi
    if [ "$private" = 1 ]; then
        "$binary" dev stop >/dev/null 2>&1 || log "warning: 'handoff dev stop' failed for $work"
    elif [ "$token_made" = 1 ]; then
        "$binary" tokens revoke "$token_name" >/dev/null 2>&1 || log "warning: could not revoke token $token_name"
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Starts onboardings <name>FROM..<name>TO of mail-send (standard path) through `handoff apply`; each opens task
# <name>N-t1 for customer_admin.
seed() {
    local name="$1" from="$2" to="$3" started=$SECONDS
    [ "$to" -ge "$from" ] || return 0
    log "seeding onboardings ${name}${from}..${name}${to} ..."
    if ! python3 - "$name" "$from" "$to" <<'EOF' | "$binary" apply --concurrency 8 2>"$work/apply.err" \
        | awk '/"ok":false/ && n < 5 { print; n++ }' >"$work/apply.failures"; then
import json, sys
name, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.stdout
for n in range(first, last + 1):
    out.write(json.dumps({"command": "start", "workflow": "mail-send", "id": f"{name}{n}",
                          "inputs": {"company": "Contoso", "path": "standard"}}, separators=(",", ":")) + "\n")
EOF
        cat "$work/apply.failures" "$work/apply.err" >&2
        die "seeding ${name}${from}..${name}${to} with 'handoff apply' failed"
    fi
    log "seeded $((to - from + 1)) onboardings in $((SECONDS - started)) s"
}

# Runs a wrk command (the arguments after the first two), prints the JSON line its script's done() wrote.
run_wrk() {
    local label="$1" round="$2" out
    shift 2
    out="$work/wrk-$label-$round.txt"
    if ! "$@" >"$out" 2>&1; then
        cat "$out" >&2
        die "wrk failed ($label, round $round)"
    fi
    local line
    line="$(grep '^{' "$out" | tail -n 1 || true)"
    [ -n "$line" ] || { cat "$out" >&2; die "wrk printed no result line ($label, round $round)"; }
    echo "$line"
}

# A field of a JSON line.
field() {
    python3 -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}

list_count=10000
per_round=$((duration * 1500))
claim_total=$((rounds * per_round))
[ "$claim_total" -ge 10000 ] || claim_total=10000

# 1. The 10,000 open tasks GET /tasks lists, and a token.
seed "${prefix}list-" 1 "$list_count"
token="$("$binary" tokens create --name "$token_name" --role customer_admin)" || die "'handoff tokens create' failed"
token="$(printf '%s' "$token" | tr -d '[:space:]')"
[ -n "$token" ] || die "'handoff tokens create' printed no token"
token_made=1

# 2. The server, on a free loopback port.
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://127.0.0.1:$port"
log "starting handoff serve on $base ..."
HANDOFF_HOST=127.0.0.1 HANDOFF_PORT="$port" "$binary" serve >"$work/serve.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 60))
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$base/healthz" || true)" = 200 ]; do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        tail -n 40 "$work/serve.log" >&2
        server_pid=""
        die "handoff serve exited before GET /healthz answered 200"
    fi
    if [ $SECONDS -ge $deadline ]; then
        tail -n 40 "$work/serve.log" >&2
        die "GET /healthz did not answer 200 within 60 s"
    fi
    sleep 0.2
done
status="$(curl -s -o "$work/tasks.json" -w '%{http_code}' -H "Authorization: Bearer $token" \
    "$base/tasks?role=customer_admin" || true)"
[ "$status" = 200 ] || { head -c 2000 "$work/tasks.json" >&2; echo >&2; die "GET /tasks?role=customer_admin answered $status, not 200"; }

# 3. GET rounds, interleaved: the baseline, then the task list.
for round in $(seq 1 "$rounds"); do
    log "round $round/$rounds: GET /healthz ..."
    run_wrk healthz "$round" env BENCH_TOKEN= \
        wrk -t2 -c16 -d"${duration}s" --latency -s "$root/scripts/bench-http-get.lua" "$base/healthz" \
        >>"$results/healthz.jsonl"
    log "round $round/$rounds: GET /tasks?role=customer_admin ..."
    run_wrk tasks "$round" env BENCH_TOKEN="$token" \
        wrk -t2 -c16 -d"${duration}s" --latency -s "$root/scripts/bench-http-get.lua" "$base/tasks?role=customer_admin" \
        >>"$results/tasks.jsonl"
done

# 4. Claim rounds, interleaved: over HTTP, then in-process. Each HTTP round starts past every onboarding an
# earlier round reached, and seeding is topped up when a round might run past what is seeded.
seed "${prefix}bench-" 1 "$claim_total"
seeded=$claim_total
offset=0
want=$per_round
for round in $(seq 1 "$rounds"); do
    if [ $((offset + want)) -gt "$seeded" ]; then
        seed "${prefix}bench-" $((seeded + 1)) $((offset + want))
        seeded=$((offset + want))
    fi
    log "round $round/$rounds: claim + complete over HTTP (onboardings after ${prefix}bench-$offset) ..."
    line="$(run_wrk claim "$round" \
        env BENCH_TOKEN="$token" BENCH_OFFSET="$offset" BENCH_STRIDE=16 BENCH_PREFIX="${prefix}bench-" \
        wrk -t16 -c16 -d"${duration}s" --latency -s "$root/scripts/bench-http-claim.lua" "$base")"
    max_index="$(field "$line" max_index)"
    completed="$(field "$line" completed)"
    exhausted=false
    if [ "$max_index" -gt "$seeded" ]; then
        exhausted=true
        log "warning: round $round ran past the $seeded seeded onboardings (its rate is understated)"
    fi
    python3 -c 'import json, sys; d = json.loads(sys.argv[1]); d["offset"] = int(sys.argv[2]); d["exhausted"] = sys.argv[3] == "true"; print(json.dumps(d))' \
        "$line" "$offset" "$exhausted" >>"$results/claim.jsonl"
    # Onboardings past what was seeded were never started, so nothing of them is used up.
    offset=$((max_index < seeded ? max_index : seeded))
    want=$(( (completed * 3 / 2 + 16) > per_round ? (completed * 3 / 2 + 16) : per_round ))

    log "round $round/$rounds: handoff bench claim --clients 16 (in-process) ..."
    if ! "$binary" bench claim --clients 16 --duration "$duration" --rounds 1 --json \
        >"$work/inprocess-$round.json" 2>"$work/inprocess-$round.err"; then
        cat "$work/inprocess-$round.err" >&2
        die "'handoff bench claim' failed (round $round)"
    fi
    python3 - "$work/inprocess-$round.json" >>"$results/inprocess.jsonl" <<'EOF' || die "'handoff bench claim' printed no claim result at 16 clients"
import json, sys
report = json.load(open(sys.argv[1]))
for scenario in report["scenarios"]:
    if scenario["name"] == "claim" and scenario["clients"] == 16:
        print(json.dumps({"tasks_per_s": scenario["engine"]["median"],
                          "baseline_tasks_per_s": scenario["baseline"]["median"],
                          "peak_rss_bytes": scenario.get("peakRSSBytes")}))
        break
else:
    sys.exit(1)
EOF
done

# 5. The report.
python3 - "$results" "$json" "$duration" "$rounds" "$binary" "$list_count" "$seeded" <<'EOF'
import json, os, statistics, sys

folder, as_json, duration, rounds, binary, list_count, seeded = sys.argv[1:]
def load(name):
    with open(os.path.join(folder, name + ".jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]

healthz, tasks, claim, inprocess = load("healthz"), load("tasks"), load("claim"), load("inprocess")
ratios = [round(c["tasks_per_s"] / i["tasks_per_s"], 3) if i["tasks_per_s"] else 0.0 for c, i in zip(claim, inprocess)]

def median(values):
    if not values:
        return None
    value = statistics.median(values)
    return int(value) if all(isinstance(v, int) for v in values) and value == int(value) else round(value, 3)

def scenario(name, unit, per_round, keys):
    return {"name": name, "unit": unit, "rounds": per_round,
            "median": {key: median([r[key] for r in per_round]) for key in keys}}

scenarios = [
    scenario("GET /healthz", "requests/s", healthz, ["requests_per_s", "p50_ms", "p99_ms", "non2xx"]),
    scenario("GET /tasks?role=customer_admin", "requests/s", tasks, ["requests_per_s", "p50_ms", "p99_ms", "non2xx"]),
    scenario("HTTP claim+complete", "tasks/s", claim, ["tasks_per_s", "p50_ms", "p99_ms", "errors"]),
    scenario("bench claim (in-process)", "tasks/s", inprocess, ["tasks_per_s"]),
]
tasks_p99 = median([r["p99_ms"] for r in tasks])
ratio = median(ratios)
targets = [
    {"name": "GET /tasks p99 < 10 ms", "value": tasks_p99, "rounds": [r["p99_ms"] for r in tasks],
     "pass": tasks_p99 < 10},
    {"name": "HTTP claim+complete / in-process bench claim >= 0.8", "value": ratio, "rounds": ratios,
     "pass": ratio >= 0.8},
]
document = {
    "settings": {"duration": int(duration), "rounds": int(rounds), "binary": binary, "cores": os.cpu_count(),
                 "listedTasks": int(list_count), "claimOnboardingsSeeded": int(seeded),
                 "database": "DATABASE_URL" if os.environ.get("DATABASE_URL") else "private cluster"},
    "scenarios": scenarios,
    "ratios": ratios,
    "targets": targets,
}
if as_json == "1":
    print(json.dumps(document, indent=2))
    sys.exit(0)

def cell(value, key):
    if value is None:
        return "-"
    if key in ("non2xx", "errors"):
        return f"{value:,.0f}"
    if key.endswith("_ms"):
        return f"{value:.2f}"
    return f"{value:,.1f}"

labels = {"requests_per_s": "requests/s", "tasks_per_s": "tasks/s", "p50_ms": "p50 ms", "p99_ms": "p99 ms",
          "non2xx": "non-2xx", "errors": "non-2xx"}
n = int(rounds)
header = ["scenario", "measure"] + [f"round {i + 1}" for i in range(n)] + ["median"]
rows = []
for s in scenarios:
    for index, key in enumerate(s["median"]):
        rows.append([s["name"] if index == 0 else "", labels[key]]
                    + [cell(r[key], key) for r in s["rounds"]] + [cell(s["median"][key], key)])
rows.append(["HTTP / in-process", "ratio"] + [f"{r:.2f}" for r in ratios] + [f"{ratio:.2f}"])
widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
def show(row):
    print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
print(f"handoff serve, {n} round(s) of {duration} s, {os.cpu_count()} cores, {document['settings']['database']}, "
      f"{binary}")
print()
show(header)
for row in rows:
    show(row)
if any(r.get("exhausted") for r in claim):
    print("\nwarning: an HTTP claim round ran out of seeded onboardings; its rate is understated")
print()
print("targets")
print(f"  GET /tasks p99 < 10 ms: median {tasks_p99:.2f} ms "
      f"(rounds {' '.join(f'{v:.2f}' for v in targets[0]['rounds'])})  {'PASS' if targets[0]['pass'] else 'FAIL'}")
print(f"  HTTP claim+complete / in-process >= 0.8: median {ratio:.2f} "
      f"(rounds {' '.join(f'{v:.2f}' for v in ratios)})  {'PASS' if targets[1]['pass'] else 'FAIL'}")
EOF
