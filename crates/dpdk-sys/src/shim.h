/* Out-of-line wrappers for DPDK's static inline fast-path functions, which have no symbol to link
 * against. Each is a direct call; the names carry a gapless_ prefix so they never collide with
 * DPDK's own. */
#ifndef GAPLESS_DPDK_SHIM_H
#define GAPLESS_DPDK_SHIM_H

#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

uint16_t gapless_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                                  uint16_t nb_pkts);
uint16_t gapless_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                                  uint16_t nb_pkts);
struct rte_mbuf *gapless_rte_pktmbuf_alloc(struct rte_mempool *pool);
void gapless_rte_pktmbuf_free(struct rte_mbuf *m);
/* The first segment's data and its length. */
uint8_t *gapless_rte_pktmbuf_data(struct rte_mbuf *m);
uint16_t gapless_rte_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t gapless_rte_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t gapless_rte_pktmbuf_nb_segs(const struct rte_mbuf *m);
struct rte_mbuf *gapless_rte_pktmbuf_next(const struct rte_mbuf *m);
/* Appends len bytes to the packet; NULL if the last segment has no room. */
uint8_t *gapless_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
int gapless_rte_errno(void);
uint64_t gapless_rte_rdtsc(void);
/* 1 if the link is up, 0 if down (rte_eth_link's bit field, read in C). */
int gapless_rte_eth_link_up(const struct rte_eth_link *link);

#endif
