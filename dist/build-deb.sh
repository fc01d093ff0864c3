#!/bin/sh
# Builds the Debian package target/debian/sixgate_VERSION-1_ARCH.deb with cargo-deb
# (`cargo install cargo-deb`): a release build, then the manual pages and the shell
# completions the binary writes, into target/release/deb-assets/ where the package's asset
# list (`[package.metadata.deb]` in crates/sixgate-cli/Cargo.toml) takes them.
#
#   dist/build-deb.sh            # then: sudo apt install ./target/debian/sixgate_*.deb
set -eu
cd "$(dirname "$0")/.."
cargo build --release -p sixgate-cli
out=target/release/deb-assets
rm -rf "$out"
mkdir -p "$out/man"
bin=target/release/sixgate
"$bin" man "$out/man"
"$bin" completions bash > "$out/sixgate.bash"
"$bin" completions zsh > "$out/_sixgate"
"$bin" completions fish > "$out/sixgate.fish"
cargo deb -p sixgate-cli --no-build "$@"
