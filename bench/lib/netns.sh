# The translator topology of the NAT64 harnesses (bench/nat64-race.sh, bench/nat64-flood.sh)
# and of the netns tests (`Netns::nat64` in crates/sixgate-cli/tests/common):
#
#   h6 (2001:db8:6::2 on v6a) -- v6b 2001:db8:6::1 [rt] 198.51.100.1 v4b -- (v4a 198.51.100.2) h4
#
# h6 routes pool6 2001:db8:64::/96 to the router, h4 routes 203.0.113.0/24 (the EAM range)
# and 192.0.2.0/24 (the translator's and pool4 addresses) to it; the router forwards. The
# translator, its TUN device and the routes into it are the caller's.
#
# Source it after setting H6, RT and H4 (the namespace names); then:
#   nat64_topo          (re)creates the three namespaces and their links
#   netns_cleanup       deletes them
#   wait_link NS DEV    waits up to 5 s for device DEV in namespace NS

nat64_topo() {
    netns_cleanup
    for n in "$H6" "$RT" "$H4"; do ip netns add "$n"; ip -n "$n" link set lo up; done
    ip link add v6a netns "$H6" type veth peer name v6b netns "$RT"
    ip link add v4a netns "$H4" type veth peer name v4b netns "$RT"
    ip -n "$H6" -6 addr add 2001:db8:6::2/64 dev v6a nodad; ip -n "$H6" link set v6a up
    ip -n "$H6" -6 route add 2001:db8:64::/96 via 2001:db8:6::1
    ip -n "$RT" -6 addr add 2001:db8:6::1/64 dev v6b nodad; ip -n "$RT" link set v6b up
    ip -n "$RT" addr add 198.51.100.1/24 dev v4b; ip -n "$RT" link set v4b up
    ip netns exec "$RT" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
    ip -n "$H4" addr add 198.51.100.2/24 dev v4a; ip -n "$H4" link set v4a up
    ip -n "$H4" route add 203.0.113.0/24 via 198.51.100.1
    ip -n "$H4" route add 192.0.2.0/24 via 198.51.100.1
}

netns_cleanup() {
    for n in "$H6" "$RT" "$H4"; do ip netns del "$n" 2>/dev/null || true; done
}

wait_link() { # NS DEV
    for _ in $(seq 100); do ip -n "$1" link show "$2" >/dev/null 2>&1 && return 0; sleep 0.05; done
    return 1
}
