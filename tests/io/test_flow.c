/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * lib/io steering: io_flow_rule_build() as plain data (no EAL), then io_port_open() on
 * the EAL with a net_null port: steering flow on a PMD without rte_flow support must
 * fail naming the port, the rule and the PMD's message (never open half-steered);
 * steering rss must configure RSS on the hash types net_null offers; steering none
 * is unchanged.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_ethdev.h>

#include "io.h"
#include "io_internal.h"

static void test_rule_build(void **state)
{
    (void)state;
    io_steer_rule_t r = {.dst_ip_be = inet_addr("239.1.2.3"),
                         .dst_port_be = htons(30001),
                         .queue = 3,
                         .label = "feed x line A"};
    io_flow_rule_t f;
    memset(&f, 0xa5, sizeof(f)); /* built from scratch, whatever was there */
    io_flow_rule_build(&r, &f);
    assert_int_equal(f.attr.ingress, 1);
    assert_int_equal(f.attr.egress, 0);
    assert_int_equal(f.attr.transfer, 0);
    assert_int_equal(f.attr.group, 0);
    assert_int_equal(f.attr.priority, 0);

    assert_int_equal(f.pattern[0].type, RTE_FLOW_ITEM_TYPE_ETH);
    assert_null(f.pattern[0].spec);
    assert_null(f.pattern[0].mask);
    assert_null(f.pattern[0].last);

    assert_int_equal(f.pattern[1].type, RTE_FLOW_ITEM_TYPE_IPV4);
    const struct rte_flow_item_ipv4 *is = f.pattern[1].spec, *im = f.pattern[1].mask;
    assert_ptr_equal(is, &f.ip_spec);
    assert_ptr_equal(im, &f.ip_mask);
    assert_null(f.pattern[1].last);
    assert_int_equal(is->hdr.dst_addr, inet_addr("239.1.2.3"));
    assert_int_equal(im->hdr.dst_addr, 0xffffffffu);
    /* only the destination is matched */
    assert_int_equal(im->hdr.src_addr, 0);
    assert_int_equal(im->hdr.next_proto_id, 0);
    assert_int_equal(im->hdr.version_ihl, 0);
    assert_int_equal(im->hdr.type_of_service, 0);

    assert_int_equal(f.pattern[2].type, RTE_FLOW_ITEM_TYPE_UDP);
    const struct rte_flow_item_udp *us = f.pattern[2].spec, *um = f.pattern[2].mask;
    assert_ptr_equal(us, &f.udp_spec);
    assert_int_equal(us->hdr.dst_port, htons(30001));
    assert_int_equal(um->hdr.dst_port, 0xffff);
    assert_int_equal(um->hdr.src_port, 0);
    assert_int_equal(us->hdr.src_port, 0);

    assert_int_equal(f.pattern[3].type, RTE_FLOW_ITEM_TYPE_END);

    assert_int_equal(f.actions[0].type, RTE_FLOW_ACTION_TYPE_QUEUE);
    const struct rte_flow_action_queue *q = f.actions[0].conf;
    assert_ptr_equal(q, &f.queue);
    assert_int_equal(q->index, 3);
    assert_int_equal(f.actions[1].type, RTE_FLOW_ACTION_TYPE_END);
    assert_null(f.actions[1].conf);

    assert_string_equal(io_steering_name(IO_STEER_FLOW), "flow");
    assert_string_equal(io_steering_name(IO_STEER_RSS), "rss");
    assert_string_equal(io_steering_name(IO_STEER_NONE), "none");
}

/* The RSS mask: what the device offers of IO_RSS_HF (warning on stderr about the rest). */
static void test_rss_mask(void **state)
{
    (void)state;
    io_port_conf_t c = {.name = "m"};
    assert_int_equal(io_rss_hf(&c, UINT64_MAX), IO_RSS_HF);
    assert_int_equal(io_rss_hf(&c, IO_RSS_HF), IO_RSS_HF);
    assert_int_equal(io_rss_hf(&c, RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_TCP),
                     RTE_ETH_RSS_IPV4);
    assert_int_equal(io_rss_hf(&c, RTE_ETH_RSS_NONFRAG_IPV4_TCP), 0);
    assert_true((IO_RSS_HF & RTE_ETH_RSS_NONFRAG_IPV4_UDP) != 0);
}

static int eal_setup(void **state)
{
    (void)state;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "mdmux_test_io_flow%d", (int)getpid());
    io_eal_opts_t o = {
        .prog = "test_io_flow", .lcores = "0", .file_prefix = prefix, .log_level = "*:error"};
    char err[512];
    int rc = io_eal_init(&o, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "%s\n", err);
    return rc;
}

static int eal_teardown(void **state)
{
    (void)state;
    io_eal_cleanup();
    return 0;
}

static const io_steer_rule_t rules[] = {
    {.dst_ip_be = 0x010101efu, .dst_port_be = 0x3175, .queue = 0, .label = "feed f0 line A"},
    {.dst_ip_be = 0x020101efu, .dst_port_be = 0x3175, .queue = 1, .label = "feed f0 line B"},
};

/* net_null has no rte_flow ops: the first rule is refused, the port is not opened. */
static void test_flow_rejected(void **state)
{
    (void)state;
    io_port_conf_t pc = {.name = "n0",
                         .device = "net_null0",
                         .rx_queues = 2,
                         .rx_socket = -1,
                         .pool_mbufs = 1023,
                         .steering = IO_STEER_FLOW,
                         .rules = rules,
                         .n_rules = 2};
    char err[512] = "";
    int port = io_port_open(&pc, err, sizeof(err));
    print_message("%s\n", err);
    assert_true(port < 0);
    assert_non_null(strstr(err, "n0: steering: flow rule 0 for feed f0 line A"));
    assert_non_null(strstr(err, "ipv4 dst 239.1.1.1 udp dst 30001 -> queue 0"));
    assert_non_null(strstr(err, "rejected by net_null"));
    assert_non_null(strstr(err, "rte_flow_validate"));
    /* steering none: two queues, no rules, as before */
    pc.name = "n2";
    pc.device = "net_null2";
    pc.steering = IO_STEER_NONE;
    port = io_port_open(&pc, err, sizeof(err));
    assert_true(port >= 0);
    assert_int_equal(io_port_flow_count((uint16_t)port), 0);
    io_port_close((uint16_t)port);
}

/* RSS: mq_mode RSS with the hash types the device offers. */
static void test_rss(void **state)
{
    (void)state;
    io_port_conf_t pc = {.name = "n1",
                         .device = "net_null1",
                         .rx_queues = 2,
                         .rx_socket = -1,
                         .pool_mbufs = 1023,
                         .steering = IO_STEER_RSS};
    char err[512] = "";
    int port = io_port_open(&pc, err, sizeof(err));
    if (port < 0)
        fail_msg("%s", err);
    struct rte_eth_dev_info info;
    assert_int_equal(rte_eth_dev_info_get((uint16_t)port, &info), 0);
    struct rte_eth_rss_conf rc = {0};
    if (info.flow_type_rss_offloads & IO_RSS_HF) {
        assert_int_equal(rte_eth_dev_rss_hash_conf_get((uint16_t)port, &rc), 0);
        assert_int_equal(rc.rss_hf, IO_RSS_HF & info.flow_type_rss_offloads);
    }
    io_port_close((uint16_t)port);
}

int main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_rule_build),
        cmocka_unit_test(test_rss_mask),
    };
    const struct CMUnitTest eal[] = {
        cmocka_unit_test(test_flow_rejected),
        cmocka_unit_test(test_rss),
    };
    int rc = cmocka_run_group_tests(pure, NULL, NULL);
    return rc + cmocka_run_group_tests(eal, eal_setup, eal_teardown);
}
