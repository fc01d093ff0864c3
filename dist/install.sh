#!/bin/sh
# Installs sixgate: the binary (and sixgate-bgp-health), the systemd units, the manual pages, the shell completions
# and example configurations (never over existing ones).
#
#   cargo build --release -p sixgate-cli
#   sudo dist/install.sh                       # PREFIX=/usr, configs in /etc/sixgate/
#   DESTDIR=/tmp/stage PREFIX=/usr/local dist/install.sh
#
# SIXGATE_BIN names the binary to install [default: target/release/sixgate].
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PREFIX=${PREFIX:-/usr}
DESTDIR=${DESTDIR:-}
BIN=${SIXGATE_BIN:-$here/../target/release/sixgate}
root=$DESTDIR$PREFIX

install -D -m 0755 "$BIN" "$root/bin/sixgate"
# The health-driven BGP withdrawal loop (docs/scaling-out.md).
install -m 0755 "$here/sixgate-bgp-health" "$root/bin/sixgate-bgp-health"
sixgate=$root/bin/sixgate

# Units name /usr/bin/sixgate; point them at the installed binary's final place.
mkdir -p "$root/lib/systemd/system"
for u in "$here"/systemd/*.service; do
    sed "s#/usr/bin/sixgate#$PREFIX/bin/sixgate#g" "$u" > "$root/lib/systemd/system/$(basename "$u")"
    chmod 0644 "$root/lib/systemd/system/$(basename "$u")"
done

mkdir -p "$root/share/man/man1"
"$sixgate" man "$root/share/man/man1"

install -d "$root/share/bash-completion/completions" "$root/share/zsh/vendor-completions" \
    "$root/share/fish/vendor_completions.d"
"$sixgate" completions bash > "$root/share/bash-completion/completions/sixgate"
"$sixgate" completions zsh > "$root/share/zsh/vendor-completions/_sixgate"
"$sixgate" completions fish > "$root/share/fish/vendor_completions.d/sixgate.fish"

# Configurations are read by the services' own (dynamic) users: world-readable, no secrets.
install -d -m 0755 "$DESTDIR/etc/sixgate"
for c in "$here"/sixgate/*; do
    dest=$DESTDIR/etc/sixgate/$(basename "$c")
    [ -e "$dest" ] || install -m 0644 "$c" "$dest"
done
echo "installed sixgate $("$sixgate" --version | cut -d' ' -f2) under ${DESTDIR:-/}"
