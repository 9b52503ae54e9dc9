#include "shim.h"

uint16_t gapless_rte_eth_rx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **rx_pkts,
                                  uint16_t nb_pkts) {
    return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t gapless_rte_eth_tx_burst(uint16_t port_id, uint16_t queue_id, struct rte_mbuf **tx_pkts,
                                  uint16_t nb_pkts) {
    return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

struct rte_mbuf *gapless_rte_pktmbuf_alloc(struct rte_mempool *pool) {
    return rte_pktmbuf_alloc(pool);
}

void gapless_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

uint8_t *gapless_rte_pktmbuf_data(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, uint8_t *); }

uint16_t gapless_rte_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }

uint32_t gapless_rte_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }

uint16_t gapless_rte_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

struct rte_mbuf *gapless_rte_pktmbuf_next(const struct rte_mbuf *m) { return m->next; }

uint8_t *gapless_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len) {
    return (uint8_t *)rte_pktmbuf_append(m, len);
}

int gapless_rte_errno(void) { return rte_errno; }

uint64_t gapless_rte_rdtsc(void) { return rte_rdtsc(); }

int gapless_rte_eth_link_up(const struct rte_eth_link *link) {
    return link->link_status == RTE_ETH_LINK_UP;
}
