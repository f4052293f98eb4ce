#!/bin/sh
# Installs cargo-fuzz from crates.io and checks that the nightly toolchain needed by
# `cargo +nightly fuzz` (libFuzzer + -Zsanitizer=address) is present.
#
# Usage: fuzz/install.sh            # install cargo-fuzz, build every target
#        fuzz/install.sh --no-build # install only
set -eu
cd "$(dirname "$0")"

if ! rustup toolchain list | grep -q '^nightly'; then
    echo "fuzz/install.sh: the nightly toolchain is required: rustup toolchain install nightly" >&2
    exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi
cargo fuzz --version

if [ "${1:-}" != "--no-build" ]; then
    # One rustc at a time: the build machines are shared.
    CARGO_BUILD_JOBS=1 cargo +nightly fuzz build
fi
