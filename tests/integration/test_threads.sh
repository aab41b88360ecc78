#!/usr/bin/env bash
# Integration: 32 stacks in 32 threads of one process, and stacks handed
# between threads (test_threads), on the two ends of a veth pair inside one
# namespace this test makes.
# Usage: test_threads.sh BUILD_DIR
. "$(dirname "$0")/lib.sh"
build=$1

ip netns add "$NS_A"
ip link add "$IF_A" netns "$NS_A" type veth peer name "$IF_B" netns "$NS_A"
in_a sysctl -qw net.ipv6.conf.all.disable_ipv6=1
in_a ip link set lo up
in_a ip link set "$IF_A" up
in_a ip link set "$IF_B" up
in_a timeout 120 "$build/tests/test_threads" "$IF_A" "$IF_B"
