# HAProxy, the load balancer of the fleet test (e2e/fleet_test.go): Debian
# bookworm's haproxy 2.6. It is a tool more than a service: each fleet test
# starts its own haproxy in front of the gateway replicas it starts, so
# there is nothing to run here; up installs it and env says where it is.

haproxy_install() {
    # Debian's policy-rc.d keeps the package from starting a system-wide
    # haproxy; the fleet test runs its own, on loopback ports it chooses.
    apt_install haproxy
}

haproxy_start() { :; }

haproxy_healthy() {
    haproxy -v >/dev/null 2>&1
}

haproxy_stop() { :; }

haproxy_env() {
    echo "export HAPROXY_BIN='$(command -v haproxy)'"
}
