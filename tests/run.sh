#!/usr/bin/env bash
# Every test, on a fresh machine: installs the system packages the tests
# need (Debian's), then runs the whole suite. The README's test command and
# what .ci/run calls after fmt and clippy. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

tests/install-deps.sh

# The end-to-end tests drive kubectl 1.33 (pinned: $TRELLIS_KUBECTL, or
# kubectl.1.33 beside the kubectl on PATH, as the Google Cloud CLI's kubectl
# package installs it), and tests/e2e/openapi.rs runs one flow with every
# kubectl from 1.27 to 1.33 (kubectl.1.NN beside kubectl). They are not in
# Debian's archive, so they cannot be installed here; say so before a long
# build rather than after it.
kubectl_dir=$(dirname "$(readlink -f "$(command -v kubectl || echo /nonexistent)")")
for minor in 27 28 29 30 31 32 33; do
    [ "$minor" = 33 ] && [ -n "${TRELLIS_KUBECTL:-}" ] && continue
    if [ ! -x "$kubectl_dir/kubectl.1.$minor" ]; then
        echo "tests/run.sh: kubectl 1.$minor not found beside kubectl (install the Google" >&2
        echo "  Cloud CLI's kubectl package, which puts kubectl.1.27 ... kubectl.1.33 there)" >&2
        exit 1
    fi
done

# The battery's clients come from their registries (PyPI, the Go module
# proxy), pinned: tests/python/requirements.txt and tests/go/go.sum. The
# venv is (re)built only when the pins change; Go's caches keep rebuilds
# of tests/go cheap. A Go from 1.21 on older than tests/go/go.mod's `go`
# line fetches that toolchain itself (GOTOOLCHAIN=auto); an older Go (e.g.
# Debian 12's 1.19) must be replaced by hand.
tests/python/venv.sh
(cd tests/go && go mod download)

exec cargo test --workspace --release "$@"
