#!/usr/bin/env bash
# The system packages (Debian's) that building and running the tests need,
# installed when missing. tests/run.sh runs it; so does .ci/run before
# clippy, which already builds the tests' dependencies.
set -euo pipefail

# curl: requests the end-to-end tests must not have retried by a client.
# strace: the storage tests count and order fdatasync calls; the etcd
#   baseline bench counts both servers' sync calls.
# etcd-server: etcd 3.4, the baseline cmd/benches/etcd_baseline.rs
#   measures Trellis beside (its smoke run is part of the suite).
# protobuf-compiler: protoc, which the etcd-client crate's build runs on
#   etcd's .proto files.
# python3-venv, golang-go: the compatibility battery (tests/e2e/third_party.rs)
#   runs Python programs in a venv and builds a Go module of its own;
#   util-linux gives flock, which serialises the venv's preparation.
need=()
command -v curl >/dev/null || need+=(curl)
command -v strace >/dev/null || need+=(strace)
command -v flock >/dev/null || need+=(util-linux)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3 python3-venv)
command -v go >/dev/null || need+=(golang-go)
command -v etcd >/dev/null || need+=(etcd-server)
command -v protoc >/dev/null || need+=(protobuf-compiler)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    echo "tests/install-deps.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
