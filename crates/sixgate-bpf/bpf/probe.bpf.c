// SPDX-License-Identifier: MIT OR Apache-2.0
// The smallest TC program: lets every packet through. Loading it tells whether this kernel
// takes TC-BPF programs at all (sixgate_bpf::probe), and its test run whether
// BPF_PROG_TEST_RUN works for them.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("classifier")
int sixgate_probe(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
