// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* A program every verifier refuses: it reads the packet without checking its
 * length ("invalid access to packet", EACCES). Tests load it to see how the
 * tool reports a real refusal on the kernel they run on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int refused_xdp(struct xdp_md *ctx)
{
	unsigned char *data = (void *)(long)ctx->data;

	return data[0] & 1 ? XDP_PASS : XDP_DROP;
}
