#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Write the seed corpora of tests/fuzz (corpus/TARGET/), deterministically.

    python3 tests/fuzz/mkseeds.py --gen build/test/tools/gen/mdmux-gen

Seeds are small and meaningful, one behaviour each:
  classify  Ethernet frames: UDP to mdmux-gen's flows plain, 802.1Q, QinQ, two 0x8100
            tags, IP options, DF and fragments, bad checksum/version/IHL/lengths, TCP,
            ARP, IPv6, padding, zero-length UDP, truncations; and frames of a small
            mdmux-gen capture taken with --vlan and --qinq.
  proto     MoldUDP64 payloads of that capture (data packets, heartbeats, the end of
            session), one block of every ITCH type seen as a lone message, a
            re-request, and framing errors.
  config    configs/*.yaml, mdmux-gen's config, and small valid and invalid files.
  capture   tiny pcaps: us and ns magics in both byte orders, truncated headers and
            records, pcapng, and the first records of the mdmux-gen capture.
Without --gen the parts taken from mdmux-gen are left out. Existing seeds are replaced.
"""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def csum(h):
    if len(h) % 2:
        h += b'\0'
    s = sum(struct.unpack('!%dH' % (len(h) // 2), h))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def frame(dst='239.100.0.1', dport=30000, payload=b'x' * 24, tags=(), ihl=5, frag=0x4000,
          proto=17, ulen=None, tot=None, pad=0, bad_csum=False, version=4):
    eth = bytes.fromhex('01005e640001 020000000a01')
    l2 = eth
    for tpid, vid in tags:
        l2 += struct.pack('!HH', tpid, vid)
    l2 += struct.pack('!H', 0x0800)
    opts = b'\x01' * (ihl * 4 - 20) if ihl >= 5 else b''
    udp_len = 8 + len(payload) if ulen is None else ulen
    udp = struct.pack('!HHHH', 40000, dport, udp_len, 0) + payload
    total = (max(ihl, 5) * 4 + len(udp)) if tot is None else tot
    d = bytes(int(x) for x in dst.split('.'))
    ip = struct.pack('!BBHHHBBH4s4s', (version << 4) | (ihl & 15), 0, total, 0x1234, frag, 32,
                     proto, 0, bytes([10, 0, 0, 1]), d) + opts
    c = csum(ip)
    if bad_csum:
        c ^= 0x0101
    ip = ip[:10] + struct.pack('!H', c) + ip[12:]
    return l2 + ip + udp + b'\0' * pad


def classify_seeds():
    q = [(0x88a8, 100), (0x8100, 200)]
    s = {
        'udp_plain': frame(),
        'udp_line_b': frame('239.101.0.1', 31000),
        'udp_feed3': frame('239.100.0.4', 30003),
        'vlan': frame(tags=[(0x8100, 100)]),
        'qinq': frame(tags=q),
        'two_8100_tags': frame(tags=[(0x8100, 1), (0x8100, 2)]),
        'three_tags': frame(tags=[(0x88a8, 1), (0x8100, 2), (0x8100, 3)]),
        'ip_options_ihl6': frame(ihl=6),
        'ip_options_ihl15_vlan': frame(ihl=15, tags=[(0x8100, 7)]),
        'no_df': frame(frag=0),
        'fragment_mf': frame(frag=0x2000),
        'fragment_offset': frame(frag=0x0010),
        'bad_checksum': frame(bad_csum=True),
        'ip_version6_in_v4': frame(version=6),
        'ihl4': frame(ihl=4),
        'tot_too_long': frame(tot=200),
        'tot_below_ihl': frame(tot=16),
        'udp_len_short': frame(ulen=7),
        'udp_len_long': frame(ulen=100),
        'udp_zero_payload': frame(payload=b''),
        'udp_unknown_flow': frame('239.1.2.3', 5000),
        'eth_padding': frame(payload=b'ab', pad=18),
        'tcp': frame(proto=6),
        'arp': bytes.fromhex('ffffffffffff 020000000a01 0806') + bytes(28),
        'ipv6': bytes.fromhex('333300000001 020000000a01 86dd 60000000000811ff') + bytes(40),
        'eth_short': frame()[:13],
        'vlan_cut': frame(tags=[(0x8100, 5)])[:16],
        'ip_cut': frame()[:30],
        'udp_cut': frame(ihl=6)[:40],
        'jumbo': frame(payload=bytes(range(256)) * 35),
    }
    return s


def pcap(records, ns=True, swap=False, snaplen=65535, linktype=1, major=2, minor=4):
    e = '>' if swap else '<'
    magic = 0xa1b23c4d if ns else 0xa1b2c3d4
    out = struct.pack(e + 'IHHiIII', magic, major, minor, 0, 0, snaplen, linktype)
    for ts, data, orig in records:
        frac = ts % 10**9 if ns else (ts % 10**9) // 1000
        lens = (orig, len(data)) if minor < 3 else (len(data), orig)  # 2.0-2.2: swapped
        out += struct.pack(e + 'II', ts // 10**9, frac) + struct.pack(e + 'II', *lens) + data
    return out


def read_pcap(path):
    """Records (ts_ns, data) of a little-endian ns pcap (what mdmux-gen writes)."""
    b = open(path, 'rb').read()
    magic, = struct.unpack('<I', b[:4])
    assert magic == 0xa1b23c4d, 'mdmux-gen writes ns pcaps'
    off, recs = 24, []
    while off + 16 <= len(b):
        sec, frac, cl, ol = struct.unpack('<IIII', b[off:off + 16])
        recs.append((sec * 10**9 + frac, b[off + 16:off + 16 + cl], ol))
        off += 16 + cl
    return recs


def udp_payload(f):
    off, t = 12, struct.unpack('!H', f[12:14])[0]
    while t in (0x8100, 0x88a8):
        off += 4
        t = struct.unpack('!H', f[off:off + 2])[0]
    if t != 0x0800 or len(f) < off + 2 + 28:
        return None
    ip = off + 2
    ihl = (f[ip] & 15) * 4
    ulen = struct.unpack('!H', f[ip + ihl + 4:ip + ihl + 6])[0]
    return f[ip + ihl + 8:ip + ihl + ulen]


def mold_blocks(p):
    if len(p) < 20:
        return []
    cnt = struct.unpack('!H', p[18:20])[0]
    out, off = [], 20
    if cnt in (0, 0xffff):
        return out
    for _ in range(cnt):
        if off + 2 > len(p):
            break
        n = struct.unpack('!H', p[off:off + 2])[0]
        out.append(p[off + 2:off + 2 + n])
        off += 2 + n
    return out


def run_gen(gen, tmp, name, extra):
    out = os.path.join(tmp, name + '.pcap')
    subprocess.run([os.path.abspath(gen), '-o', name + '.pcap', '-q', '--feeds', '2', '--stocks', '4', '--duration-ms', '3',
                    '--rate', '2000', '--max-msgs', '6', '--preopen-ms', '1', '--postclose-ms',
                    '1', '--truncate', '0.05', '--corrupt', '0.05'] + extra, check=True, cwd=tmp)
    return out


def write(dirname, seeds):
    d = os.path.join(HERE, 'corpus', dirname)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), 'wb') as f:
            f.write(data)
    print('%-9s %3d seeds, %6d bytes' % (dirname, len(seeds), sum(map(len, seeds.values()))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--gen', help='mdmux-gen binary (real captures, packets and a config)')
    a = ap.parse_args()

    cls = classify_seeds()
    proto = {}
    cfg = {}
    cap = {}
    with tempfile.TemporaryDirectory() as tmp:
        if a.gen:
            plain = run_gen(a.gen, tmp, 'plain', [])
            vlan = run_gen(a.gen, tmp, 'vlan', ['--vlan', '42', '--seed', '2'])
            qinq = run_gen(a.gen, tmp, 'qinq', ['--qinq', '300,400', '--seed', '3'])
            cfg['gen.yaml'] = open(plain[:-5] + '.yaml', 'rb').read()
            for tag, path in (('plain', plain), ('vlan', vlan), ('qinq', qinq)):
                recs = read_pcap(path)
                # a few frames of each kind: the first, the longest, a truncated one
                pick = [recs[0], max(recs, key=lambda r: len(r[1]))]
                pick += [r for r in recs if len(r[1]) < r[2]][:1]
                for i, r in enumerate(pick):
                    cls['gen_%s_%d' % (tag, i)] = r[1]
            recs = read_pcap(plain)
            cap['gen_first5.pcap'] = pcap([(t, d, o) for t, d, o in recs[:5]])
            pays = [p for p in (udp_payload(r[1]) for r in recs) if p is not None]
            data = [p for p in pays if len(p) > 20]
            hb = [p for p in pays if len(p) == 20 and p[18:20] == b'\0\0']
            eos = [p for p in pays if len(p) == 20 and p[18:20] == b'\xff\xff']
            proto['mold_first'] = data[0]
            proto['mold_longest'] = max(data, key=len)
            proto['mold_last_data'] = data[-1]
            if hb:
                proto['mold_heartbeat'] = hb[0]
            if eos:
                proto['mold_end_of_session'] = eos[0]
            seen = {}
            for p in data:
                for m in mold_blocks(p):
                    if m and chr(m[0]) not in seen:
                        seen[chr(m[0])] = m
            for t, m in sorted(seen.items()):
                proto['itch_%s%s' % ('lc_' if t.islower() else '', t)] = m
            d = data[0]
            proto['mold_count_mismatch'] = d[:18] + struct.pack('!H', 9) + d[20:]
            proto['mold_block_overrun'] = d[:20] + b'\xff\xff' + d[22:]
            proto['mold_trailing'] = d + b'\0'
            proto['mold_cut_block'] = d[:21]
    sess = b'FUZZSESS01'
    proto['mold_request'] = sess + struct.pack('!QH', 1000, 16)
    proto['mold_seq_overflow'] = sess + struct.pack('!QH', 2**64 - 1, 1) + b'\0\x01A'
    proto['mold_short'] = sess + b'\0\0'
    proto['mold_zero_block'] = sess + struct.pack('!QH', 5, 1) + b'\0\0'
    # hand-made blocks: an add order and a system event (real ones come from mdmux-gen)
    add = b'A' + struct.pack('!HH', 1, 2) + (12345).to_bytes(6, 'big') + \
        struct.pack('!Q', 77) + b'B' + struct.pack('!I', 100) + b'MSFT    ' + \
        struct.pack('!I', 1234500)
    sysev = b'S' + struct.pack('!HH', 0, 0) + (1).to_bytes(6, 'big') + b'O'
    proto['mold_add_and_event'] = sess + struct.pack('!QH', 1, 2) + \
        struct.pack('!H', len(add)) + add + struct.pack('!H', len(sysev)) + sysev
    proto['itch_A_hand'] = add
    # types a short mdmux-gen run may not send: the right length, plausible bytes
    for t, n in (('W', 12), ('J', 35), ('C', 36), ('P', 44), ('B', 19), ('N', 20), ('O', 48)):
        if 'itch_' + t not in proto:
            body = bytes((i * 37 + 11) & 0x7f for i in range(n - 11))
            proto['itch_' + t] = t.encode() + struct.pack('!HH', 3, 4) + \
                (999).to_bytes(6, 'big') + body

    for name in sorted(os.listdir(os.path.join(ROOT, 'configs'))):
        if name.endswith('.yaml'):
            cfg[name] = open(os.path.join(ROOT, 'configs', name), 'rb').read()
    base = (b'version: 1\ncores:\n  control: 0\n  handlers: [1]\neal:\n  lcores: "0-1"\n'
            b'feeds:\n  - name: f0\n    handler: 1\n'
            b'    a: {group: 239.100.0.1, port: 30000}\n'
            b'    b: {group: 239.101.0.1, port: 31000}\n')
    cfg['small_ok.yaml'] = base
    cfg['dup_flow.yaml'] = base + (b'  - name: f1\n    handler: 1\n'
                                   b'    a: {group: 239.100.0.1, port: 30000}\n')
    cfg['unknown_key.yaml'] = base + b'bogus: 1\n'
    cfg['bad_syntax.yaml'] = b'version: 1\nfeeds: [\n  {name: x\n'
    cfg['anchor_alias.yaml'] = base.replace(b'a: {', b'a: &la {').replace(
        b'b: {group: 239.101.0.1, port: 31000}', b'b: *la')
    cfg['deep.yaml'] = base.replace(b'version: 1\n', b'version: 1\neal:\n  args: ' +
                                    b'[' * 24 + b'x' + b']' * 24 + b'\n')
    cfg['empty.yaml'] = b''
    cfg['only_comment.yaml'] = b'# nothing\n'

    d3 = bytes(range(60)), b'\x01', bytes(range(117))
    recs = [(1700000000123456789, d3[0], 60), (1700000000123457000, d3[1], 1),
            (1700000001000000001, d3[2], 200)]
    for ns in (0, 1):
        for sw in (0, 1):
            cap['%s_%s.pcap' % ('ns' if ns else 'us', 'be' if sw else 'le')] = \
                pcap(recs, ns=ns, swap=sw)
    full = pcap(recs)
    cap['truncated_header.pcap'] = full[:20]
    cap['truncated_record_header.pcap'] = full[:24 + 16 + 60 + 7]
    cap['truncated_record_data.pcap'] = full[:24 + 16 + 30]
    cap['caplen_over_snaplen.pcap'] = pcap(recs[:1], snaplen=32)
    cap['caplen_over_origlen.pcap'] = pcap([(1, d3[0], 10)])
    cap['bad_fraction.pcap'] = full[:28] + struct.pack('<I', 10**9) + full[32:]
    cap['backward_ts.pcap'] = pcap([(5 * 10**9, b'a', 1), (4 * 10**9, b'b', 1)])
    cap['zero_snaplen.pcap'] = pcap(recs[:1], snaplen=0)
    cap['header_only.pcap'] = full[:24]
    cap['pcapng.pcap'] = bytes.fromhex('0a0d0d0a1c0000004d3c2b1a01000000ffffffffffffffff1c000000')
    cap['modified.pcap'] = struct.pack('<I', 0xa1b2cd34) + full[4:64]
    cap['version1.pcap'] = pcap(recs[:1], major=1)
    cap['version_2_2_lengths_swapped.pcap'] = pcap(recs, minor=2)
    cap['version_2_3_be.pcap'] = pcap(recs, minor=3, swap=True)
    v23 = bytearray(pcap(recs[:1], minor=3))  # a 2.3 writer with the old order
    v23[32:40] = v23[36:40] + v23[32:36]
    cap['version_2_3_old_order.pcap'] = bytes(v23)
    cap['classify_frames.pcap'] = pcap([(i * 1000, f, len(f)) for i, f in
                                        enumerate(v for k, v in sorted(cls.items())
                                                  if len(v) < 200)])

    write('classify', cls)
    write('proto', proto)
    write('config', cfg)
    write('capture', cap)
    return 0


if __name__ == '__main__':
    sys.exit(main())
