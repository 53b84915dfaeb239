#!/usr/bin/env bash
# Every test, on a fresh machine: installs the system packages the tests
# need (Debian's), then runs the whole suite. The README's test command and
# what .ci/run calls after fmt and clippy. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh

# The end-to-end tests drive kubectl 1.33 (pinned: $TRELLIS_KUBECTL, or
# kubectl.1.33 beside the kubectl on PATH, as the Google Cloud CLI's kubectl
# package installs it). It is not in Debian's archive, so it cannot be
# installed here; say so before a long build rather than after it.
if [ -z "${TRELLIS_KUBECTL:-}" ]; then
    kubectl_dir=$(dirname "$(readlink -f "$(command -v kubectl || echo /nonexistent)")")
    if [ ! -x "$kubectl_dir/kubectl.1.33" ]; then
        echo "tests/run.sh: kubectl 1.33 not found (set TRELLIS_KUBECTL, or install the" >&2
        echo "  Google Cloud CLI's kubectl package, which puts kubectl.1.33 beside kubectl)" >&2
        exit 1
    fi
fi

# The battery's clients come from their registries (PyPI, the Go module
# proxy), pinned: tests/python/requirements.txt and tests/go/go.sum. The
# venv is (re)built only when the pins change; Go's caches keep rebuilds
# of tests/go cheap. A Go from 1.21 on older than tests/go/go.mod's `go`
# line fetches that toolchain itself (GOTOOLCHAIN=auto); an older Go (e.g.
# Debian 12's 1.19) must be replaced by hand.
tests/python/venv.sh
(cd tests/go && go mod download)

exec cargo test --workspace --release "$@"
