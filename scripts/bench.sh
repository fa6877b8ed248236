#!/usr/bin/env bash
# Canopy against nats-server 2.15.1, side by side, in one run.
#
#   bash scripts/bench.sh [--rounds N] [--quick]
#
# Builds the release `canopy` and `canopy-bench`, starts both servers on
# free loopback ports with default settings, and runs `canopy-bench
# compare`, which alternates the servers row by row and prints medians and
# canopy/nats-server ratios as a Markdown table. Never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

nats_server=$(bash scripts/provision.sh | sed -n 's/^provision: nats-server: \(.*\) (.*/\1/p')
cargo build --release -q -p canopy-tokio -p canopy-bench

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
canopy_port=$(free_port)
nats_port=$(free_port)
logs=$(mktemp -d)
target/release/canopy -a 127.0.0.1 -p "$canopy_port" >"$logs/canopy.log" 2>&1 &
canopy_pid=$!
"$nats_server" -a 127.0.0.1 -p "$nats_port" >"$logs/nats-server.log" 2>&1 &
nats_pid=$!
trap 'kill $canopy_pid $nats_pid 2>/dev/null || true; rm -rf "$logs"' EXIT

wait_port() {
    for _ in $(seq 100); do
        if python3 -c "import socket;socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "bench: nothing listening on port $1" >&2
    exit 1
}
wait_port "$canopy_port"
wait_port "$nats_port"

echo "machine: $(nproc) cores, $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "reference: $("$nats_server" -v 2>&1); canopy: $(target/release/canopy -v 2>&1)"
echo
target/release/canopy-bench compare \
    --server "canopy=127.0.0.1:$canopy_port" \
    --server "nats-server=127.0.0.1:$nats_port" "$@"
