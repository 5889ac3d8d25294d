import { BlockList, isIP } from 'node:net';

/** How many entries a token's allowlist may hold. */
export const MAX_ALLOWED_IPS = 50;

/** The 403 code (and audited outcome) of a call from an address outside a token's allowlist. */
export const IP_NOT_ALLOWED = 'ip_not_allowed';

export type AllowlistParse = { ok: true; entries: string[] } | { ok: false; message: string };

/** The 16 bytes of an IPv6 address (isIP already said it is one; no zone). */
function ipv6Bytes(address: string): number[] {
  let text = address.toLowerCase();
  // A trailing dotted quad (::ffff:10.0.0.1) becomes two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const left = head ? head.split(':') : [];
  const right = tail === undefined ? [] : tail ? tail.split(':') : [];
  const groups = tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return groups.flatMap((g) => {
    const n = parseInt(g, 16);
    return [n >> 8, n & 0xff];
  });
}

function ipv4Bytes(address: string): number[] {
  return address.split('.').map(Number);
}

/** Keeps the first `prefix` bits. */
function masked(bytes: number[], prefix: number): number[] {
  return bytes.map((b, i) => {
    const bits = Math.max(0, Math.min(8, prefix - i * 8));
    return b & (0xff << (8 - bits)) & 0xff;
  });
}

/** RFC 5952 text of 16 bytes (WHATWG URL serialises IPv6 hosts that way). */
function ipv6Text(bytes: number[]): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d): its IPv4 bytes, else undefined. */
function mappedIpv4(bytes: number[]): number[] | undefined {
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  return bytes[10] === 0xff && bytes[11] === 0xff ? bytes.slice(12) : undefined;
}

/**
 * One entry in its canonical form: an address (`10.0.0.7`, `2001:db8::7`) or a network with its
 * host bits cleared (`10.0.0.0/8`, `2001:db8::/32`); a full-length prefix is a single address, an
 * IPv4-mapped IPv6 entry its IPv4 form. Undefined when it is neither.
 */
export function canonicalEntry(entry: string): string | undefined {
  const slash = entry.indexOf('/');
  const address = slash < 0 ? entry : entry.slice(0, slash);
  const prefixText = slash < 0 ? undefined : entry.slice(slash + 1);
  // No zone (fe80::1%eth0): a zone names an interface of one host, not an address.
  const family = address.includes('%') ? 0 : isIP(address);
  if (family === 0) return undefined;
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  let bits = family === 4 ? 32 : 128;
  let prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  let bytes = family === 4 ? ipv4Bytes(address) : ipv6Bytes(address);
  const v4 = family === 6 && prefix >= 96 ? mappedIpv4(bytes) : undefined;
  if (v4) {
    bytes = v4;
    prefix -= 96;
    bits = 32;
  }
  bytes = masked(bytes, prefix);
  const text = bits === 32 ? bytes.join('.') : ipv6Text(bytes);
  return prefix === bits ? text : `${text}/${prefix}`;
}

/**
 * A token's allowlist as given to the API: null or [] for none; otherwise at most MAX_ALLOWED_IPS
 * addresses or CIDR ranges, each put in its canonical form (duplicates once), in the order given.
 */
export function parseAllowlist(value: unknown): AllowlistParse {
  if (value === null || value === undefined) return { ok: true, entries: [] };
  if (!Array.isArray(value)) return { ok: false, message: 'allowedIps doit être une liste d’adresses IP ou de plages CIDR, ou null' };
  if (value.length > MAX_ALLOWED_IPS) return { ok: false, message: `allowedIps contient au plus ${MAX_ALLOWED_IPS} entrées` };
  const entries: string[] = [];
  for (const item of value) {
    const canonical = typeof item === 'string' && item.length <= 64 ? canonicalEntry(item.trim()) : undefined;
    if (canonical === undefined) {
      const shown = typeof item === 'string' ? JSON.stringify(item.slice(0, 64)) : 'une valeur qui n’est pas du texte';
      return {
        ok: false,
        message: `allowedIps : ${shown} n’est ni une adresse IPv4 ou IPv6 ni une plage CIDR (exemples : 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)`,
      };
    }
    if (!entries.includes(canonical)) entries.push(canonical);
  }
  return { ok: true, entries };
}

/**
 * The check of a caller's address against a token's allowlist: built once per token state (a
 * net.BlockList), so that each call is one lookup. An IPv4-mapped IPv6 caller (::ffff:10.0.0.7,
 * as a dual-stack socket reports an IPv4 peer) is checked as its IPv4 address.
 */
export class IpAllowlist {
  private readonly list = new BlockList();

  constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const [address, prefix] = entry.split('/');
      const family = isIP(address) === 4 ? 'ipv4' : 'ipv6';
      if (prefix === undefined) this.list.addAddress(address, family);
      else this.list.addSubnet(address, Number(prefix), family);
    }
  }

  /** Whether `ip` (the caller's address, null when unknown) may use the token. */
  allows(ip: string | null | undefined): boolean {
    if (!ip) return false;
    const family = ip.includes('%') ? 0 : isIP(ip);
    if (family === 4) return this.list.check(ip, 'ipv4');
    if (family !== 6) return false;
    const v4 = mappedIpv4(ipv6Bytes(ip));
    return v4 ? this.list.check(v4.join('.'), 'ipv4') : this.list.check(ip, 'ipv6');
  }
}

/** The allowlist of a token's stored entries: undefined when it has none (every address may use it). */
export function allowlistOf(entries: readonly string[] | null | undefined): IpAllowlist | undefined {
  return entries && entries.length > 0 ? new IpAllowlist(entries) : undefined;
}
