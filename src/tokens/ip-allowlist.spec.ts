import { canonicalEntry, IpAllowlist, MAX_ALLOWED_IPS, parseAllowlist } from './ip-allowlist.js';

describe('IP allowlist entries', () => {
  it.each([
    ['10.0.0.0/8', '10.0.0.0/8'],
    ['10.1.2.3/8', '10.0.0.0/8'],
    ['192.0.2.7', '192.0.2.7'],
    ['192.0.2.7/32', '192.0.2.7'],
    ['0.0.0.0/0', '0.0.0.0/0'],
    ['2001:DB8:0:0::1', '2001:db8::1'],
    ['2001:db8:ffff::/32', '2001:db8::/32'],
    ['2001:db8::7/128', '2001:db8::7'],
    ['::ffff:10.0.0.7', '10.0.0.7'],
    ['::ffff:10.0.0.0/104', '10.0.0.0/8'],
    ['::/0', '::/0'],
    ['fd00::/8', 'fd00::/8'],
  ])('%s is stored as %s', (entry, canonical) => {
    expect(canonicalEntry(entry)).toBe(canonical);
  });

  it.each([
    '',
    'example.org',
    '10.0.0.0/33',
    '2001:db8::/129',
    '10.0.0.1/8/8',
    '10.0.0.1/',
    '10.0.0.1/+8',
    '10.0.0.1/ 8',
    '999.0.0.1',
    'fe80::1%eth0',
    '10.0.0.1:80',
    '1.2.3',
  ])('%j is refused', (entry) => {
    expect(canonicalEntry(entry)).toBeUndefined();
  });

  it('a list: canonical, duplicates once, null and [] are none, at most 50, each entry named when refused', () => {
    expect(parseAllowlist([' 10.1.0.0/16 ', '10.1.2.3/16', '2001:db8::1'])).toEqual({ ok: true, entries: ['10.1.0.0/16', '2001:db8::1'] });
    expect(parseAllowlist(null)).toEqual({ ok: true, entries: [] });
    expect(parseAllowlist([])).toEqual({ ok: true, entries: [] });
    expect(parseAllowlist(Array.from({ length: MAX_ALLOWED_IPS + 1 }, (_, i) => `10.0.0.${i}`))).toMatchObject({ ok: false });
    expect(parseAllowlist(['10.0.0.1', 'intranet'])).toMatchObject({ ok: false, message: expect.stringContaining('"intranet"') });
    expect(parseAllowlist([42])).toMatchObject({ ok: false });
    expect(parseAllowlist('10.0.0.1')).toMatchObject({ ok: false });
  });
});

describe('IpAllowlist', () => {
  const list = new IpAllowlist(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);

  it.each([
    ['10.200.3.4', true],
    ['11.0.0.1', false],
    ['192.0.2.7', true],
    ['192.0.2.8', false],
    ['::ffff:10.0.0.9', true],
    ['::ffff:192.0.2.8', false],
    ['2001:db8:1::5', true],
    ['2001:db9::5', false],
    ['::1', false],
    [null, false],
    ['not an address', false],
  ])('%s → %s', (ip, allowed) => {
    expect(list.allows(ip)).toBe(allowed);
  });
});
