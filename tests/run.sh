#!/usr/bin/env bash
# Every test, on a fresh machine: installs the system packages the tests
# need (Debian's), then runs the whole suite. The README's test command and
# what .ci/run calls after fmt and clippy. Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

# curl: requests the end-to-end tests must not have retried by a client.
# strace: the storage tests count and order fdatasync calls.
# python3-venv, golang-go: the compatibility battery (tests/e2e/third_party.rs)
# runs Python programs in a venv and builds a Go module of its own.
need=()
command -v curl >/dev/null || need+=(curl)
command -v strace >/dev/null || need+=(strace)
command -v flock >/dev/null || need+=(util-linux)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3 python3-venv)
command -v go >/dev/null || need+=(golang-go)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "tests/run.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

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
