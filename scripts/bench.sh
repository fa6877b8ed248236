#!/usr/bin/env bash
# Canopy against nats-server 2.15.1, side by side, in one run.
#
#   [CANOPY_RUNTIME=tokio|smol] bash scripts/bench.sh [--rounds N] [--quick] [--only ROW]
#
# Builds the release `canopy` and `canopy-bench`, starts both servers on
# free loopback ports with default settings, and runs `canopy-bench
# compare`, which alternates the servers row by row and prints medians and
# canopy/nats-server ratios as a Markdown table. Then the same for two-node
# clusters of each (the cross-node row: publisher on one node, subscriber
# on the other), and for a leaf with its hub (the leaf rows: publisher or
# requester on the leaf), and for two gateway-joined clusters (the gateway
# rows), and for one server of each requiring TLS on its client port
# (`tls { cert_file, key_file }`, a throwaway CA and certificate for
# 127.0.0.1 made here with openssl: the TLS rows, `--only tls`), and for
# a leaf with its hub whose link is configured with `compression: s2_fast`
# on both sides (the S2 rows, `--only s2`; S2_MODE=s2_best etc. picks
# another mode; each side's /leafz must report the mode before anything
# is measured). Last, the bytes a leaf link carries per message (`canopy-bench
# wire`, also `--only s2`): a leaf and hub of each implementation per mode
# (off, s2_auto, s2_fast, s2_best), the leaf dialing the hub through a
# byte-counting relay that canopy-bench runs.
# CANOPY_RUNTIME picks the runtime canopy runs on (tokio by default, as
# for the binary); CARGO_TARGET_DIR where the binaries are built (target/
# by default, as for cargo). Never part of the tests.
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=${CANOPY_RUNTIME:-tokio}
case "$runtime" in
    tokio) name=canopy ;;
    smol) name=canopy-smol ;;
    *) echo "bench: CANOPY_RUNTIME must be tokio or smol, not $runtime" >&2; exit 1 ;;
esac
export CANOPY_RUNTIME=$runtime

nats_server=$(bash scripts/provision.sh | sed -n 's/^provision: nats-server: \(.*\) (.*/\1/p')
cargo build --release -q -p canopy-tokio -p canopy-bench
bin=${CARGO_TARGET_DIR:-target}/release
canopy=$bin/canopy
bench=$bin/canopy-bench

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}
logs=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$logs"' EXIT

canopy_port=$(free_port)
nats_port=$(free_port)
"$canopy" -a 127.0.0.1 -p "$canopy_port" >"$logs/canopy.log" 2>&1 &
pids+=($!)
"$nats_server" -a 127.0.0.1 -p "$nats_port" >"$logs/nats-server.log" 2>&1 &
pids+=($!)

# A two-node cluster of BIN (node b routes to node a); sets $pair to
# "127.0.0.1:A+127.0.0.1:B".
cluster() {
    local name=$1 bin=$2 a b ra rb
    a=$(free_port); b=$(free_port); ra=$(free_port); rb=$(free_port)
    "$bin" -a 127.0.0.1 -p "$a" --cluster "nats://127.0.0.1:$ra" --cluster_name bench \
        >"$logs/$name-a.log" 2>&1 &
    pids+=($!)
    "$bin" -a 127.0.0.1 -p "$b" --cluster "nats://127.0.0.1:$rb" --cluster_name bench \
        --routes "nats-route://127.0.0.1:$ra" >"$logs/$name-b.log" 2>&1 &
    pids+=($!)
    pair="127.0.0.1:$a+127.0.0.1:$b"
    ports+=("$a" "$b")
}
# A hub and a leaf of BIN (the leaf's remote dials the hub's leaf port);
# sets $pair to "127.0.0.1:LEAF+127.0.0.1:HUB".
# LEAF_COMPRESSION=off switches both sides' leaf compression off (the
# default of both implementations is s2_auto, which on loopback picks
# s2_uncompressed: S2 framing without compression).
leafpair() {
    local name=$1 bin=$2 h l lp comp=""
    h=$(free_port); l=$(free_port); lp=$(free_port)
    if [ "${LEAF_COMPRESSION:-}" = off ]; then comp=", compression: off"; fi
    printf 'leafnodes { host: 127.0.0.1, port: %s%s }\n' "$lp" "$comp" >"$logs/$name-hub.conf"
    printf 'leafnodes { remotes = [ { url: "nats://127.0.0.1:%s"%s } ] }\n' "$lp" "$comp" >"$logs/$name-leaf.conf"
    "$bin" -a 127.0.0.1 -p "$h" -c "$logs/$name-hub.conf" >"$logs/$name-hub.log" 2>&1 &
    pids+=($!)
    "$bin" -a 127.0.0.1 -p "$l" -c "$logs/$name-leaf.conf" >"$logs/$name-leaf.log" 2>&1 &
    pids+=($!)
    pair="127.0.0.1:$l+127.0.0.1:$h"
    ports+=("$h" "$l")
}
# A hub and a leaf of BIN with MODE as the compression of the hub's
# leafnodes block and of the remote, and monitoring ports; the remote
# dials RELAY_PORT instead of the hub when given (canopy-bench wire relays
# it to the hub's leaf port). Sets $pair to "127.0.0.1:LEAF+127.0.0.1:HUB",
# $mon to "127.0.0.1:LEAF_MON+127.0.0.1:HUB_MON" and $hub_leaf to the
# hub's leaf port.
s2pair() {
    local name=$1 bin=$2 mode=$3 relay=${4:-} h l lp mh ml
    h=$(free_port); l=$(free_port); lp=$(free_port); mh=$(free_port); ml=$(free_port)
    printf 'leafnodes { host: 127.0.0.1, port: %s, compression: %s }\n' "$lp" "$mode" \
        >"$logs/$name-hub.conf"
    printf 'leafnodes { remotes = [ { url: "nats://127.0.0.1:%s", compression: %s } ] }\n' \
        "${relay:-$lp}" "$mode" >"$logs/$name-leaf.conf"
    "$bin" -a 127.0.0.1 -p "$h" -m "$mh" -c "$logs/$name-hub.conf" >"$logs/$name-hub.log" 2>&1 &
    pids+=($!)
    "$bin" -a 127.0.0.1 -p "$l" -m "$ml" -c "$logs/$name-leaf.conf" >"$logs/$name-leaf.log" 2>&1 &
    pids+=($!)
    pair="127.0.0.1:$l+127.0.0.1:$h"
    mon="127.0.0.1:$ml+127.0.0.1:$mh"
    hub_leaf=$lp
    ports+=("$h" "$l" "$mh" "$ml")
}
# Two one-server clusters of BIN joined by gateways (each lists both);
# sets $pair to "127.0.0.1:A+127.0.0.1:B".
gwpair() {
    local name=$1 bin=$2 a b ga gb list
    a=$(free_port); b=$(free_port); ga=$(free_port); gb=$(free_port)
    list="gateways: [ {name: A, url: \"nats://127.0.0.1:$ga\"}, {name: B, url: \"nats://127.0.0.1:$gb\"} ]"
    printf 'gateway { name: A, host: 127.0.0.1, port: %s, %s }\n' "$ga" "$list" >"$logs/$name-gwa.conf"
    printf 'gateway { name: B, host: 127.0.0.1, port: %s, %s }\n' "$gb" "$list" >"$logs/$name-gwb.conf"
    "$bin" -a 127.0.0.1 -p "$a" -c "$logs/$name-gwa.conf" >"$logs/$name-gwa.log" 2>&1 &
    pids+=($!)
    "$bin" -a 127.0.0.1 -p "$b" -c "$logs/$name-gwb.conf" >"$logs/$name-gwb.log" 2>&1 &
    pids+=($!)
    pair="127.0.0.1:$a+127.0.0.1:$b"
    ports+=("$a" "$b")
}
# A throwaway CA and a server certificate for 127.0.0.1 and localhost
# (P-256, a day), and one server of BIN requiring TLS on its client port;
# sets $tls_addr.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -subj "/CN=canopy bench CA" -keyout "$logs/ca.key" -out "$logs/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -subj "/CN=localhost" -keyout "$logs/server.key" -out "$logs/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n' \
    >"$logs/server.ext"
openssl x509 -req -in "$logs/server.csr" -CA "$logs/ca.pem" -CAkey "$logs/ca.key" \
    -CAcreateserial -days 1 -extfile "$logs/server.ext" -out "$logs/server.pem" 2>/dev/null
printf 'tls { cert_file: "%s", key_file: "%s" }\n' "$logs/server.pem" "$logs/server.key" >"$logs/tls.conf"
tlsserver() {
    local name=$1 bin=$2 p
    p=$(free_port)
    "$bin" -a 127.0.0.1 -p "$p" -c "$logs/tls.conf" >"$logs/$name-tls.log" 2>&1 &
    pids+=($!)
    tls_addr="127.0.0.1:$p"
    ports+=("$p")
}
ports=("$canopy_port" "$nats_port")
cluster canopy "$canopy"
canopy_pair=$pair
cluster nats "$nats_server"
nats_pair=$pair
leafpair canopy "$canopy"
canopy_leaf=$pair
leafpair nats "$nats_server"
nats_leaf=$pair
gwpair canopy "$canopy"
canopy_gw=$pair
gwpair nats "$nats_server"
nats_gw=$pair
tlsserver canopy "$canopy"
canopy_tls=$tls_addr
tlsserver nats "$nats_server"
nats_tls=$tls_addr
s2_mode=${S2_MODE:-s2_fast}
s2pair canopy-s2 "$canopy" "$s2_mode"
canopy_s2=$pair canopy_s2_mon=$mon
s2pair nats-s2 "$nats_server" "$s2_mode"
nats_s2=$pair nats_s2_mon=$mon

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
wait_ports() {
    for p in "${ports[@]}"; do
        wait_port "$p"
    done
}
wait_ports

echo "machine: $(nproc) cores, $(uname -srm), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "reference: $("$nats_server" -v 2>&1); canopy: $("$canopy" -v 2>&1), runtime $runtime"
echo
"$bench" compare \
    --server "$name=127.0.0.1:$canopy_port" \
    --server "nats-server=127.0.0.1:$nats_port" "$@"
echo
echo "Two-node clusters:"
echo
"$bench" compare \
    --server "$name=$canopy_pair" \
    --server "nats-server=$nats_pair" "$@"
echo
echo "A leaf and its hub (publisher or requester on the leaf):"
echo
"$bench" compare --leaf \
    --server "$name=$canopy_leaf" \
    --server "nats-server=$nats_leaf" "$@"
echo
echo "Two clusters joined by gateways (publisher or requester in A):"
echo
"$bench" compare --gateway \
    --server "$name=$canopy_gw" \
    --server "nats-server=$nats_gw" "$@"
echo
echo "Over TLS (client port with tls { cert_file, key_file }; the negotiated version and suite on stderr):"
echo
"$bench" compare --tls-ca "$logs/ca.pem" \
    --server "$name=$canopy_tls" \
    --server "nats-server=$nats_tls" "$@"
echo
echo "A leaf and its hub with compression: $s2_mode on both sides (publisher or requester on the leaf; each /leafz checked on stderr):"
echo
"$bench" compare --s2 "$s2_mode" \
    --server "$name=$canopy_s2" --monitor "$name=$canopy_s2_mon" \
    --server "nats-server=$nats_s2" --monitor "nats-server=$nats_s2_mon" "$@"

# The wire bytes: a leaf and hub of each implementation per mode, the
# leaf's remote dialing a relay port that canopy-bench wire listens on.
ports=()
links=()
for mode in off s2_auto s2_fast s2_best; do
    for impl in "$name" nats-server; do
        if [ "$impl" = nats-server ]; then b=$nats_server; else b=$canopy; fi
        relay=$(free_port)
        s2pair "wire-$impl-$mode" "$b" "$mode" "$relay"
        links+=(--link "$impl,$mode,${pair/+/,},127.0.0.1:$relay,127.0.0.1:$hub_leaf,$mon")
    done
done
wait_ports
echo
echo "Bytes on the leaf link per message (counted by a relay between leaf and hub; both sides configured with the mode; /leafz checked on stderr):"
echo
"$bench" wire "${links[@]}" "$@"
