/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Ports: any PMD, named by a PCI address or a vdev string. Each port gets an mbuf
 * pool of its own on the socket of the lcore that polls it (so it is sized for that
 * port: net_pcap's infinite_rx needs the whole file in mbufs), with a per-lcore cache.
 * The RX hardware timestamp offload is enabled where the PMD offers it and the NIC
 * clock is converted to the TSC by a calibration at open; otherwise the RX lcore
 * stamps with rdtsc.
 */
/* rte_eth_read_clock is experimental in 22.11 */
#define ALLOW_EXPERIMENTAL_API 1
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <rte_bus.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_cycles.h>

#include "io_internal.h"

io_port_state_t io_ports[RTE_MAX_ETHPORTS];

#define POOL_CACHE 256

/* A vdev string starts with its driver's prefix ("net_pcap0,..."). */
static bool is_vdev(const char *dev)
{
    return strncmp(dev, "net_", 4) == 0 || strncmp(dev, "eth_", 4) == 0 ||
           strncmp(dev, "crypto_", 7) == 0;
}

/* Probe @dev (if not already probed, e.g. by --vdev or the PCI scan) and find its port. */
static int find_or_probe(const char *dev, char *name, size_t namelen, char *err, size_t errlen)
{
    size_t n = strcspn(dev, ",");
    if (n == 0 || n >= namelen)
        return io_err(err, errlen, EINVAL, "bad device '%s'", dev);
    memcpy(name, dev, n);
    name[n] = '\0';
    uint16_t port;
    if (rte_eth_dev_get_port_by_name(name, &port) == 0)
        return port;
    int rc = rte_dev_probe(dev);
    if (rc < 0)
        return io_err(err, errlen, -rc, "cannot probe device '%s': %s", dev, rte_strerror(-rc));
    if (rte_eth_dev_get_port_by_name(name, &port) != 0)
        return io_err(err, errlen, ENODEV, "device '%s' is not an ethdev", dev);
    return port;
}

/* Ticks of the NIC clock against the TSC over ~10 ms, as a 32.32 multiplier. */
static bool hw_clock_calibrate(uint16_t port, io_port_state_t *ps)
{
    uint64_t n0, n1;
    if (rte_eth_read_clock(port, &n0) != 0)
        return false;
    uint64_t t0 = rte_rdtsc();
    struct timespec d = {.tv_nsec = 10 * 1000 * 1000};
    nanosleep(&d, NULL);
    if (rte_eth_read_clock(port, &n1) != 0 || n1 <= n0)
        return false;
    uint64_t t1 = rte_rdtsc();
    ps->nic0 = n1;
    ps->tsc0 = t1;
    ps->mul32 = (uint64_t)(((unsigned __int128)(t1 - t0) << 32) / (n1 - n0));
    return true;
}

static int hw_ts_setup(uint16_t port, io_port_state_t *ps)
{
    if (rte_mbuf_dyn_rx_timestamp_register(&ps->ts_off, &ps->ts_flag) != 0)
        return -1;
    ps->hw_ts = hw_clock_calibrate(port, ps);
    return 0;
}

/* Configure, set up queues and start. */
static int port_setup(uint16_t port, const io_port_conf_t *c, io_port_state_t *ps, char *err,
                      size_t errlen)
{
    struct rte_eth_dev_info info;
    int rc = rte_eth_dev_info_get(port, &info);
    if (rc != 0)
        return io_err(err, errlen, -rc, "%s: cannot get device info", c->name);
    uint16_t nrx = (uint16_t)(c->rx_queues ? c->rx_queues : 1), ntx = (uint16_t)c->tx_queues;
    /* net_tap's queues are the tap's fds, each both RX and TX: it refuses fewer TX
       queues than RX queues. The extra TX queues are set up and never used. */
    if (ntx < nrx && info.driver_name && strcmp(info.driver_name, "net_tap") == 0)
        ntx = nrx;
    if (nrx > info.max_rx_queues || ntx > info.max_tx_queues)
        return io_err(err, errlen, EINVAL, "%s: %u RX / %u TX queues asked, device has %u / %u",
                      c->name, nrx, ntx, info.max_rx_queues, info.max_tx_queues);
    struct rte_eth_conf conf = {0};
    bool want_ts = !c->no_hw_timestamp && (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP);
    if (want_ts)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
    if (info.rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM)
        conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
    if (c->steering == IO_STEER_RSS) {
        uint64_t hf = io_rss_hf(c, info.flow_type_rss_offloads);
        if (hf == 0)
            return io_err(err, errlen, ENOTSUP,
                          "%s: steering rss: %s offers none of the IPv4/UDP RSS hash types "
                          "(flow_type_rss_offloads 0x%" PRIx64 ")",
                          c->name, info.driver_name, info.flow_type_rss_offloads);
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = hf;
    }
    rc = rte_eth_dev_configure(port, nrx, ntx, &conf);
    if (rc != 0)
        return io_err(err, errlen, -rc, "%s: configure failed: %s", c->name, rte_strerror(-rc));
    uint16_t nb_rxd = (uint16_t)(c->rx_desc ? c->rx_desc : 1024);
    uint16_t nb_txd = (uint16_t)(c->tx_desc ? c->tx_desc : 1024);
    rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd);
    int sock = c->rx_socket >= 0 ? c->rx_socket : rte_eth_dev_socket_id(port);
    if (sock < 0)
        sock = (int)rte_socket_id();
    unsigned n = c->pool_mbufs ? c->pool_mbufs : 8191u + (unsigned)nrx * nb_rxd + POOL_CACHE * 2;
    /* A frame larger than an mbuf's room arrives as a chain, and a feed handler parses
       the first segment only: jumbo frames (a 9000-byte MTU feed) need mbufs that hold
       a whole frame. */
    unsigned room = RTE_MBUF_DEFAULT_DATAROOM;
    if (c->frame_max > room)
        room = (c->frame_max + 63u) & ~63u;
    char pname[RTE_MEMPOOL_NAMESIZE];
    snprintf(pname, sizeof(pname), "mdmux_p%u", port);
    ps->pool = rte_pktmbuf_pool_create(pname, n, POOL_CACHE, 0,
                                       (uint16_t)(room + RTE_PKTMBUF_HEADROOM), sock);
    if (ps->pool == NULL)
        return io_err(err, errlen, rte_errno,
                      "%s: cannot create a pool of %u mbufs on socket %d: %s", c->name, n, sock,
                      rte_strerror(rte_errno));
    for (uint16_t q = 0; q < nrx; q++) {
        rc = rte_eth_rx_queue_setup(port, q, nb_rxd, (unsigned)sock, NULL, ps->pool);
        if (rc != 0)
            return io_err(err, errlen, -rc, "%s: RX queue %u setup failed: %s", c->name, q,
                          rte_strerror(-rc));
    }
    for (uint16_t q = 0; q < ntx; q++) {
        rc = rte_eth_tx_queue_setup(port, q, nb_txd, (unsigned)sock, NULL);
        if (rc != 0)
            return io_err(err, errlen, -rc, "%s: TX queue %u setup failed: %s", c->name, q,
                          rte_strerror(-rc));
    }
    rc = rte_eth_dev_start(port);
    if (rc != 0)
        return io_err(err, errlen, -rc, "%s: start failed: %s", c->name, rte_strerror(-rc));
    rte_eth_promiscuous_enable(port); /* -ENOTSUP on some vdevs: harmless */
    rte_eth_allmulticast_enable(port);
    if (c->steering == IO_STEER_FLOW) {
        rc = io_flow_install(port, c, info.driver_name, err, errlen);
        if (rc < 0)
            return rc;
    }
    if (want_ts)
        hw_ts_setup(port, ps);
    return 0;
}

/* Say so when the port sits on another socket than the lcore that polls it. */
static void numa_warn(uint16_t port, const io_port_conf_t *c)
{
    int ps = rte_eth_dev_socket_id(port);
    if (ps >= 0 && c->rx_socket >= 0 && ps != c->rx_socket)
        fprintf(stderr,
                "mdmux: warning: port %s (%s) is on NUMA socket %d but its RX lcore is on "
                "socket %d: every packet crosses the interconnect\n",
                c->name ? c->name : "?", c->device, ps, c->rx_socket);
}

int io_port_open(const io_port_conf_t *c, char *err, size_t errlen)
{
    if (c == NULL || c->device == NULL || c->device[0] == '\0')
        return io_err(err, errlen, EINVAL, "port: no device");
    char name[64];
    int port = find_or_probe(c->device, name, sizeof(name), err, errlen);
    if (port < 0)
        return port;
    io_port_state_t *ps = &io_ports[port];
    if (ps->open)
        return io_err(err, errlen, EBUSY, "%s: device %s is already open", c->name, name);
    memset(ps, 0, sizeof(*ps));
    ps->is_vdev = is_vdev(c->device);
    snprintf(ps->name, sizeof(ps->name), "%s", name);
    numa_warn((uint16_t)port, c);
    int rc = port_setup((uint16_t)port, c, ps, err, errlen);
    if (rc < 0) {
        io_flow_flush((uint16_t)port);
        rte_eth_dev_stop((uint16_t)port);
        rte_eth_dev_close((uint16_t)port);
        rte_mempool_free(ps->pool);
        ps->pool = NULL;
        return rc;
    }
    ps->open = true;
    return port;
}

void io_port_close(uint16_t port_id)
{
    if (port_id >= RTE_MAX_ETHPORTS)
        return;
    io_port_state_t *ps = &io_ports[port_id];
    io_flow_flush(port_id);
    rte_eth_dev_stop(port_id);
    rte_eth_dev_close(port_id);
    if (ps->is_vdev && ps->name[0])
        rte_eal_hotplug_remove("vdev", ps->name);
    rte_mempool_free(ps->pool);
    memset(ps, 0, sizeof(*ps));
}

bool io_port_hw_timestamp(uint16_t port_id)
{
    return port_id < RTE_MAX_ETHPORTS && io_ports[port_id].hw_ts;
}

unsigned io_port_flow_count(uint16_t port_id)
{
    return port_id < RTE_MAX_ETHPORTS ? io_ports[port_id].n_flows : 0;
}

unsigned io_port_mbufs(uint16_t port_id)
{
    const struct rte_mempool *mp = port_id < RTE_MAX_ETHPORTS ? io_ports[port_id].pool : NULL;
    return mp ? mp->size : 0;
}
