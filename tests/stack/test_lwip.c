/* SPDX-License-Identifier: MIT */
/*
 * Unit: lwIP as pinnet builds it. Proves the library compiled with pinnet's
 * lwipopts.h links, initialises, and runs TCP and ARP/ICMP through a netif
 * whose output is captured here: an ICMP echo request frame fed to input
 * must come back as an echo reply frame.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/etharp.h"
#include "lwip/pbuf.h"
#include "lwip/priv/state.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/stats.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "lwip/inet_chksum.h"
#include "lwip/prot/ethernet.h"
#include "lwip/prot/ip4.h"
#include "lwip/prot/icmp.h"
#include "netif/ethernet.h"

#include "cu_run.h"
#include "lwip_alone.h" /* allocator and output hooks */

u32_t sys_now(void);
u32_t sys_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (u32_t)(ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static struct lwip_state state_a, state_b; /* two stacks' lwIP */
static struct netif nif;
static u8_t out_frame[1600];
static u16_t out_len;
static int out_count;

static err_t capture_output(struct netif *n, struct pbuf *p)
{
	(void)n;
	out_len = pbuf_copy_partial(p, out_frame, sizeof(out_frame), 0);
	out_count++;
	return ERR_OK;
}

static err_t nif_init(struct netif *n)
{
	static const u8_t mac[6] = { 0x02, 0x70, 0x6e, 0, 0, 1 };

	n->linkoutput = capture_output;
	n->output = etharp_output;
	n->mtu = 1500;
	n->hwaddr_len = 6;
	memcpy(n->hwaddr, mac, 6);
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		   NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

static int suite_init(void)
{
	ip4_addr_t a, m, g;

	lwip_state_init(&state_a);
	lwip_state = &state_a;
	lwip_init();
	IP4_ADDR(&a, 10, 99, 0, 2);
	IP4_ADDR(&m, 255, 255, 255, 0);
	IP4_ADDR(&g, 10, 99, 0, 1);
	if (!netif_add(&nif, &a, &m, &g, NULL, nif_init, ethernet_input))
		return -1;
	netif_set_up(&nif);
	return 0;
}

static void test_tcp_listen(void)
{
	struct tcp_pcb *pcb = tcp_new();

	CU_ASSERT_PTR_NOT_NULL_FATAL(pcb);
	CU_ASSERT_EQUAL(tcp_bind(pcb, IP4_ADDR_ANY, 8080), ERR_OK);
	pcb = tcp_listen(pcb);
	CU_ASSERT_PTR_NOT_NULL_FATAL(pcb);
	CU_ASSERT_EQUAL(tcp_close(pcb), ERR_OK);
	/* window scaling is compiled in: the receive window exceeds 64 KiB */
	CU_ASSERT(TCP_WND > 0xffff);
}

static void test_icmp_echo_reply(void)
{
	u8_t f[14 + 20 + 8 + 16];
	struct eth_hdr *eth = (struct eth_hdr *)f;
	struct ip_hdr *ip = (struct ip_hdr *)(f + 14);
	struct icmp_echo_hdr *ic = (struct icmp_echo_hdr *)(f + 34);
	const u8_t peer[6] = { 0x02, 0, 0, 0, 0, 9 };
	ip4_addr_t src, dst;
	struct pbuf *p;

	/* a static ARP entry so the reply needs no ARP round trip */
	IP4_ADDR(&src, 10, 99, 0, 9);
	IP4_ADDR(&dst, 10, 99, 0, 2);
	CU_ASSERT_EQUAL(etharp_add_static_entry(&src, (struct eth_addr *)peer),
			ERR_OK);

	memset(f, 0, sizeof(f));
	memcpy(&eth->dest, nif.hwaddr, 6);
	memcpy(&eth->src, peer, 6);
	eth->type = PP_HTONS(ETHTYPE_IP);
	IPH_VHL_SET(ip, 4, 5);
	IPH_LEN_SET(ip, lwip_htons(20 + 8 + 16));
	IPH_TTL_SET(ip, 64);
	IPH_PROTO_SET(ip, IP_PROTO_ICMP);
	ip4_addr_copy(ip->src, src);
	ip4_addr_copy(ip->dest, dst);
	IPH_CHKSUM_SET(ip, inet_chksum(ip, 20));
	ic->type = ICMP_ECHO;
	ic->id = PP_HTONS(0x1234);
	ic->seqno = PP_HTONS(7);
	memset(f + 42, 0xab, 16);
	ic->chksum = inet_chksum(ic, 8 + 16);

	out_count = 0;
	p = pbuf_alloc(PBUF_RAW, sizeof(f), PBUF_POOL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pbuf_take(p, f, sizeof(f));
	CU_ASSERT_EQUAL(nif.input(p, &nif), ERR_OK);

	CU_ASSERT_EQUAL(out_count, 1);
	CU_ASSERT_EQUAL(out_len, sizeof(f));
	CU_ASSERT_EQUAL(out_frame[34], ICMP_ER); /* echo reply */
	CU_ASSERT_EQUAL(memcmp(out_frame, peer, 6), 0);
	CU_ASSERT_EQUAL(memcmp(out_frame + 42, f + 42, 16), 0);
	CU_ASSERT_EQUAL(lwip_stats.icmp.recv, 1);
	CU_ASSERT_EQUAL(lwip_stats.icmp.xmit, 1);
}

static void test_bad_checksum_dropped(void)
{
	u8_t f[14 + 20 + 8];
	struct pbuf *p;
	u16_t before = lwip_stats.ip.chkerr;

	memset(f, 0, sizeof(f));
	memcpy(f, nif.hwaddr, 6);
	f[12] = 0x08;
	f[14] = 0x45;
	f[17] = 28;
	f[22] = 64;
	f[23] = IP_PROTO_ICMP;
	f[24] = 0xde; /* wrong header checksum */
	f[30] = 10, f[31] = 99, f[32] = 0, f[33] = 2;
	out_count = 0;
	p = pbuf_alloc(PBUF_RAW, sizeof(f), PBUF_POOL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pbuf_take(p, f, sizeof(f));
	nif.input(p, &nif);
	CU_ASSERT_EQUAL(out_count, 0);
	CU_ASSERT_EQUAL(lwip_stats.ip.chkerr, before + 1);
}

/*
 * Patch 0002: two lwIP states in one process are two stacks. A listener
 * bound in one does not exist in the other (no EADDRINUSE, no pcb), each
 * has its own timeouts and counters, and switching back finds the first
 * as it was.
 */
static void test_two_states(void)
{
	struct tcp_pcb *a, *b;
	u32_t icmp_a = lwip_stats.icmp.recv;

	a = tcp_listen(tcp_new());
	CU_ASSERT_PTR_NOT_NULL_FATAL(a);

	lwip_state_init(&state_b);
	lwip_state = &state_b;
	lwip_init();
	CU_ASSERT_PTR_NULL(tcp_listen_pcbs.listen_pcbs);
	CU_ASSERT_PTR_NULL(netif_list);
	CU_ASSERT_EQUAL(lwip_stats.icmp.recv, 0);
	b = tcp_new();
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_EQUAL(tcp_bind(b, IP4_ADDR_ANY, 8080), ERR_OK);
	CU_ASSERT_EQUAL(tcp_close(b), ERR_OK);
	lwip_state_release(); /* its timeouts */
	CU_ASSERT_PTR_NULL(state_b.next_timeout);

	lwip_state = &state_a;
	CU_ASSERT_PTR_NOT_NULL(tcp_listen_pcbs.listen_pcbs);
	CU_ASSERT_PTR_EQUAL(netif_list, &nif);
	CU_ASSERT_EQUAL(lwip_stats.icmp.recv, icmp_a);
	CU_ASSERT_PTR_NOT_NULL(state_a.next_timeout);
	CU_ASSERT_EQUAL(tcp_close(a), ERR_OK);
}

/*
 * Patch 0001: a SYN whose timestamp value has its top bit set. lwIP used
 * to assemble it as u8 << 24 in an int (undefined behaviour: the sanitizer
 * build stopped here); the SYN-ACK must echo the value exactly.
 */
static void test_timestamp_high_bit(void)
{
	const u8_t peer[6] = { 0x02, 0, 0, 0, 0, 9 };
	const u8_t tsval[4] = { 0xfe, 0xdc, 0xba, 0x98 };
	u8_t f[14 + 20 + 20 + 12];
	struct ip_hdr *ip = (struct ip_hdr *)(f + 14);
	struct tcp_hdr *th = (struct tcp_hdr *)(f + 34);
	u8_t *opt = f + 54;
	struct tcp_pcb *l = tcp_new();
	ip4_addr_t src, dst;
	struct pbuf *p;
	int found = 0;

	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	CU_ASSERT_EQUAL(tcp_bind(l, IP4_ADDR_ANY, 7777), ERR_OK);
	l = tcp_listen(l);
	CU_ASSERT_PTR_NOT_NULL_FATAL(l);
	IP4_ADDR(&src, 10, 99, 0, 9);
	IP4_ADDR(&dst, 10, 99, 0, 2);
	etharp_add_static_entry(&src, (struct eth_addr *)peer);

	memset(f, 0, sizeof(f));
	memcpy(f, nif.hwaddr, 6);
	memcpy(f + 6, peer, 6);
	f[12] = 0x08;
	IPH_VHL_SET(ip, 4, 5);
	IPH_LEN_SET(ip, lwip_htons(20 + 20 + 12));
	IPH_TTL_SET(ip, 64);
	IPH_PROTO_SET(ip, IP_PROTO_TCP);
	ip4_addr_copy(ip->src, src);
	ip4_addr_copy(ip->dest, dst);
	IPH_CHKSUM_SET(ip, inet_chksum(ip, 20));
	th->src = PP_HTONS(40000);
	th->dest = PP_HTONS(7777);
	th->seqno = PP_HTONL(1000);
	TCPH_HDRLEN_FLAGS_SET(th, 8, TCP_SYN);
	th->wnd = PP_HTONS(65535);
	opt[0] = 1, opt[1] = 1; /* NOP NOP, then timestamps */
	opt[2] = 8, opt[3] = 10;
	memcpy(opt + 4, tsval, 4);
	p = pbuf_alloc(PBUF_RAW, 32, PBUF_RAM); /* the segment, to sum it */
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pbuf_take(p, th, 32);
	th->chksum = ip_chksum_pseudo(p, IP_PROTO_TCP, 32, &src, &dst);
	pbuf_free(p);
	out_count = 0;
	p = pbuf_alloc(PBUF_RAW, sizeof(f), PBUF_POOL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	pbuf_take(p, f, sizeof(f));
	CU_ASSERT_EQUAL(nif.input(p, &nif), ERR_OK);
	CU_ASSERT_EQUAL_FATAL(out_count, 1);
	/* the SYN-ACK's timestamp option: TSecr (its second value) is ours */
	for (int i = 54; i + 10 <= out_len; i++)
		if (out_frame[i] == 8 && out_frame[i + 1] == 10 &&
		    !memcmp(out_frame + i + 6, tsval, 4))
			found = 1;
	CU_ASSERT(found);
	while (tcp_active_pcbs)
		tcp_abort(tcp_active_pcbs);
	tcp_close(l);
}

static const struct cu_test tests[] = {
	CU_TEST_ENTRY(test_tcp_listen),
	CU_TEST_ENTRY(test_icmp_echo_reply),
	CU_TEST_ENTRY(test_bad_checksum_dropped),
	CU_TEST_ENTRY(test_two_states),
	CU_TEST_ENTRY(test_timestamp_high_bit),
};

int main(void)
{
	return CU_RUN("lwip", tests, suite_init, NULL, NULL, NULL);
}
