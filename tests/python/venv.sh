#!/usr/bin/env bash
# Creates or refreshes the Python virtualenv of the compatibility battery
# (target/py-venv) from tests/python/requirements.txt. Does nothing when the
# venv already holds exactly those pins for this python3, so repeated runs
# cost a checksum. Called by tests/run.sh and, once per test process, by the
# harness (tests/common/third_party.rs); concurrent calls wait on a lock.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=target/py-venv
req=tests/python/requirements.txt
mkdir -p target
exec 9>target/py-venv.lock
flock 9
want="$(python3 --version 2>&1) $(sha256sum "$req" | cut -d' ' -f1)"
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.installed" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "tests/python/venv.sh: installing $req into $venv" >&2
python3 -m venv --clear "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$req" >&2
echo "$want" > "$venv/.installed"
