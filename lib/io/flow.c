/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Steering of feed lines to RX queues: the rte_flow rules of IO_STEER_FLOW (built
 * here as plain data, created by port.c after the port starts) and the RSS hash types
 * of IO_STEER_RSS.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>

#include "io_internal.h"

const char *io_steering_name(io_steering_t s)
{
    switch (s) {
    case IO_STEER_NONE:
        return "none";
    case IO_STEER_RSS:
        return "rss";
    case IO_STEER_FLOW:
        return "flow";
    }
    return "?";
}

void io_flow_rule_build(const io_steer_rule_t *r, io_flow_rule_t *out)
{
    memset(out, 0, sizeof(*out));
    out->attr.ingress = 1;
    out->ip_spec.hdr.dst_addr = r->dst_ip_be;
    out->ip_mask.hdr.dst_addr = UINT32_MAX;
    out->udp_spec.hdr.dst_port = r->dst_port_be;
    out->udp_mask.hdr.dst_port = UINT16_MAX;
    out->queue.index = r->queue;
    out->pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH; /* any Ethernet header */
    out->pattern[1] = (struct rte_flow_item){
        .type = RTE_FLOW_ITEM_TYPE_IPV4, .spec = &out->ip_spec, .mask = &out->ip_mask};
    out->pattern[2] = (struct rte_flow_item){
        .type = RTE_FLOW_ITEM_TYPE_UDP, .spec = &out->udp_spec, .mask = &out->udp_mask};
    out->pattern[3].type = RTE_FLOW_ITEM_TYPE_END;
    out->actions[0] =
        (struct rte_flow_action){.type = RTE_FLOW_ACTION_TYPE_QUEUE, .conf = &out->queue};
    out->actions[1].type = RTE_FLOW_ACTION_TYPE_END;
}

/* "ipv4 dst 239.1.1.1 udp dst 30001 -> queue 1" */
static void rule_text(const io_steer_rule_t *r, char *buf, size_t n)
{
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &r->dst_ip_be, ip, sizeof(ip));
    snprintf(buf, n, "ipv4 dst %s udp dst %u -> queue %u", ip, ntohs(r->dst_port_be), r->queue);
}

int io_flow_install(uint16_t port, const io_port_conf_t *c, const char *driver, char *err,
                    size_t errlen)
{
    io_port_state_t *ps = &io_ports[port];
    for (unsigned i = 0; i < c->n_rules; i++) {
        const io_steer_rule_t *r = &c->rules[i];
        io_flow_rule_t fr;
        io_flow_rule_build(r, &fr);
        struct rte_flow_error fe;
        memset(&fe, 0, sizeof(fe));
        const char *what = "validate";
        int rc = rte_flow_validate(port, &fr.attr, fr.pattern, fr.actions, &fe);
        struct rte_flow *f = NULL;
        if (rc == 0) {
            what = "create";
            f = rte_flow_create(port, &fr.attr, fr.pattern, fr.actions, &fe);
            rc = f ? 0 : -(rte_errno ? rte_errno : EINVAL);
        }
        if (rc != 0) {
            char txt[96];
            rule_text(r, txt, sizeof(txt));
            return io_err(err, errlen, -rc,
                          "%s: steering: flow rule %u for %s (%s) rejected by %s (rte_flow_%s): "
                          "%s (error type %d)",
                          c->name ? c->name : "?", i, r->label ? r->label : "?", txt, driver, what,
                          fe.message ? fe.message : rte_strerror(-rc), (int)fe.type);
        }
        ps->n_flows++;
    }
    return 0;
}

void io_flow_flush(uint16_t port)
{
    io_port_state_t *ps = &io_ports[port];
    if (ps->n_flows == 0)
        return;
    struct rte_flow_error fe;
    memset(&fe, 0, sizeof(fe));
    if (rte_flow_flush(port, &fe) != 0)
        fprintf(stderr, "mdmux: warning: port %s: rte_flow_flush: %s\n", ps->name,
                fe.message ? fe.message : rte_strerror(rte_errno));
    ps->n_flows = 0;
}

uint64_t io_rss_hf(const io_port_conf_t *c, uint64_t offered)
{
    uint64_t hf = IO_RSS_HF & offered;
    if (hf != IO_RSS_HF)
        fprintf(stderr,
                "mdmux: warning: port %s: steering rss: the device does not offer the hash "
                "types 0x%" PRIx64 " (of 0x%" PRIx64 " asked; it offers 0x%" PRIx64
                "): hashing on 0x%" PRIx64 "\n",
                c->name ? c->name : "?", IO_RSS_HF & ~offered, (uint64_t)IO_RSS_HF, offered, hf);
    return hf;
}
