/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the frame input path. lwIP built with pinnet's lwipopts.h, an
 * Ethernet netif like the stack's (address 10.99.0.2, a listener on port
 * 80 and one on 7), fed the input as a sequence of frames (2-byte length,
 * then the frame). Frames may claim any lengths, checksums, options and
 * flags; the netif's replies are discarded. lwIP must neither crash nor
 * trip a sanitizer; its timers run between frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lwip/etharp.h"
#include "lwip/init.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/state.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#define LWIP_ALONE_LOSS_NOTE /* it links stack/tcp_ext.c */
#include "lwip_alone.h" /* allocator and output hooks */
#include "tcp_ext.h"

static struct netif nif;
static struct lwip_state state; /* lwIP's state: one stack */
static uint32_t fake_ms;

uint32_t sys_now(void);
uint32_t sys_now(void)
{
	return fake_ms;
}

static err_t drop_output(struct netif *n, struct pbuf *p)
{
	(void)n;
	(void)p;
	return ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p) {
		tcp_close(pcb);
		return ERR_OK;
	}
	tcp_recved(pcb, p->tot_len);
	/* echo a little back so the send path runs too */
	tcp_write(pcb, p->payload, p->len > 64 ? 64 : p->len,
		  TCP_WRITE_FLAG_COPY);
	pbuf_free(p);
	return ERR_OK;
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_recv(pcb, on_recv);
	return ERR_OK;
}

static err_t nif_init(struct netif *n)
{
	static const uint8_t mac[6] = { 0x02, 0x70, 0x6e, 0, 0, 1 };

	n->linkoutput = drop_output;
	n->output = etharp_output;
	n->mtu = 1500;
	n->hwaddr_len = 6;
	memcpy(n->hwaddr, mac, 6);
	n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP |
		   NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
	return ERR_OK;
}

static void setup(void)
{
	ip4_addr_t a, m, g;
	uint16_t ports[2] = { 80, 7 };

	lwip_state_init(&state);
	lwip_state = &state;
	lwip_init();
	IP4_ADDR(&a, 10, 99, 0, 2);
	IP4_ADDR(&m, 255, 255, 255, 0);
	IP4_ADDR(&g, 10, 99, 0, 1);
	netif_add(&nif, &a, &m, &g, NULL, nif_init, ethernet_input);
	netif_set_default(&nif);
	netif_set_up(&nif);
	for (int i = 0; i < 2; i++) {
		struct tcp_pcb *l = tcp_new();

		tcp_bind(l, IP4_ADDR_ANY, ports[i]);
		l = tcp_listen(l);
		tcp_accept(l, on_accept);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;

	if (!ready) {
		setup();
		ready = 1;
	}
	while (size >= 2) {
		size_t len = (size_t)data[0] << 8 | data[1];
		struct pbuf *p;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
		if (p) {
			struct dsack_mark dm;
			/* as stack/io.c: pinnet's TCP additions around input */
			bool marked = len > 14 && data[12] == 8 && !data[13] &&
				      tcp_dsack_mark(data + 14, len - 14, &dm);

			pbuf_take(p, data, (u16_t)len);
			if (nif.input(p, &nif) != ERR_OK)
				pbuf_free(p);
			if (marked)
				tcp_dsack_unmark(&dm);
			tcp_loss_recovery();
		}
		data += len;
		size -= len;
		fake_ms += 100; /* timers: retransmissions, ARP ages */
		sys_check_timeouts();
	}
	return 0;
}
