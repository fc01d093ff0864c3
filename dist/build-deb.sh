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
gzip -9n "$out"/man/*.1   # Debian policy 12.1: manual pages compressed
"$bin" completions bash > "$out/sixgate.bash"
"$bin" completions zsh > "$out/_sixgate"
"$bin" completions fish > "$out/sixgate.fish"
deb=$(cargo deb -p sixgate-cli --no-build "$@" | tail -n 1)
# The package unpacked into a scratch root: the binary runs and reads its example configs.
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
dpkg-deb -x "$deb" "$root"
"$root/usr/bin/sixgate" --version
# As root, the example gateway configuration also passes its own `--check`.
if [ "$(id -u)" = 0 ]; then
    "$root/usr/bin/sixgate" nat64 run --config "$root/etc/sixgate/nat64.toml" --check
fi
echo "$deb"
