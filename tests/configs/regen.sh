#!/usr/bin/env bash
# Regenerates tests/configs/EXPECTED.tsv from the reference nats-server 2.15.1.
#
# For every tests/configs/*.conf (C-locale order) it runs, from the workspace
# root, `nats-server -t -c tests/configs/NAME.conf` RUNS times (default 40;
# RUNS_INVALID times, default 150, when the file is rejected: one of two
# errors comes out first only about one run in ten) and writes one row per
# distinct stderr seen:
#   file    NAME.conf
#   exit    the exit code (must be the same in every run)
#   order   `fixed` when every run printed the same stderr, `random` when runs
#           differed (nats-server walks Go maps, whose order is random, so a
#           file with several errors can print them in any order, or report a
#           different one of two duplicates); a random file has one row per
#           variant seen, rows sorted
#   stderr  stderr with the 64 hex digits after `sha256:` replaced by
#           `<digest>`, escaped as \\ \t \n \r and \0 (NUL)
# Columns are separated by one tab; the first line is the header.
#
# Both servers run with the same fixed environment additions (the test in
# tests/tests/config_corpus.rs sets exactly these too):
#   CANOPY_CORPUS_SIZE=5k
#   CANOPY_CORPUS_CYCLE_A='$CANOPY_CORPUS_CYCLE_B'
#   CANOPY_CORPUS_CYCLE_B='$CANOPY_CORPUS_CYCLE_A'
#   CANOPY_CORPUS_UNDEFINED_VARIABLE_7F3A removed
#
# Usage: bash tests/configs/regen.sh   (NATS_SERVER_BIN, RUNS, RUNS_INVALID
# optional)
set -euo pipefail
export LC_ALL=C

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# The same search as tests/src/lib.rs: NATS_SERVER_BIN, else PATH (pyenv shims
# last: they are slow wrappers), else the Python scripts folder.
find_bin() {
  if [[ -n "${NATS_SERVER_BIN:-}" ]]; then echo "$NATS_SERVER_BIN"; return; fi
  local dir shims=() IFS=:
  for dir in $PATH; do
    [[ -x "$dir/nats-server" ]] || continue
    if [[ "$dir" == */shims || "$dir" == */shims/* ]]; then
      shims+=("$dir/nats-server")
    else
      echo "$dir/nats-server"; return
    fi
  done
  dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)"
  if [[ -n "$dir" && -x "$dir/nats-server" ]]; then echo "$dir/nats-server"; return; fi
  if (( ${#shims[@]} )); then echo "${shims[0]}"; fi
}
bin="$(find_bin)"
if [[ -z "$bin" || ! -x "$bin" ]]; then
  echo "regen.sh: nats-server not found; set NATS_SERVER_BIN" >&2
  exit 2
fi
version="$("$bin" -v 2>&1 || true)"
if [[ "$version" != *"v2.15.1"* ]]; then
  echo "regen.sh: $bin reports '$version', expected v2.15.1" >&2
  exit 2
fi
runs="${RUNS:-40}"
if (( runs < 3 )); then runs=3; fi
runs_invalid="${RUNS_INVALID:-150}"
if (( runs_invalid < runs )); then runs_invalid=$runs; fi

export CANOPY_CORPUS_SIZE=5k
export CANOPY_CORPUS_CYCLE_A='$CANOPY_CORPUS_CYCLE_B'
export CANOPY_CORPUS_CYCLE_B='$CANOPY_CORPUS_CYCLE_A'
unset CANOPY_CORPUS_UNDEFINED_VARIABLE_7F3A

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One folder per file: run.N.err (masked stderr) and run.N.code.
for path in tests/configs/*.conf; do
  name="${path##*/}"
  mkdir "$work/$name"
  n=$runs
  for ((i = 0; i < n; i++)); do
    set +e
    "$bin" -t -c "$path" >/dev/null 2>"$work/$name/raw"
    code=$?
    set -e
    echo "$code" > "$work/$name/run.$i.code"
    if (( i == 0 && code != 0 )); then n=$runs_invalid; fi
    sed -E 's/sha256:[0-9a-f]{64}/sha256:<digest>/g' "$work/$name/raw" > "$work/$name/run.$i.err"
  done
  rm "$work/$name/raw"
done

# Collate: exit codes must agree; distinct stderr texts become rows.
python3 - "$work" tests/configs/EXPECTED.tsv <<'PY'
import os, sys
work, out = sys.argv[1], sys.argv[2]

def esc(b):
    s = b.decode("utf-8", "surrogateescape")
    return (s.replace("\\", "\\\\").replace("\t", "\\t").replace("\r", "\\r")
             .replace("\n", "\\n").replace("\0", "\\0"))

rows, total, valid, random_files = [], 0, 0, []
for name in sorted(os.listdir(work)):
    d = os.path.join(work, name)
    runs = sum(1 for f in os.listdir(d) if f.endswith(".code"))
    codes = {open(os.path.join(d, f"run.{i}.code")).read().strip() for i in range(runs)}
    if len(codes) != 1:
        sys.exit(f"regen.sh: {name}: exit code changed between runs: {sorted(codes)}")
    code = codes.pop()
    texts = sorted({open(os.path.join(d, f"run.{i}.err"), "rb").read() for i in range(runs)})
    order = "fixed" if len(texts) == 1 else "random"
    if order == "random":
        random_files.append(f"{name} ({len(texts)} variants)")
    total += 1
    valid += code == "0"
    for t in texts:
        rows.append(f"{name}\t{code}\t{order}\t{esc(t)}\n")
with open(out, "w", encoding="utf-8", errors="surrogateescape", newline="\n") as f:
    f.write("file\texit\torder\tstderr\n")
    f.writelines(rows)
print(f"regen.sh: wrote {out}: {total} files, {valid} valid, {total - valid} invalid")
if random_files:
    print("regen.sh: random output: " + ", ".join(random_files))
PY
