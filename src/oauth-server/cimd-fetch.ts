import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { rootCertificates } from 'node:tls';
import type { OAuthServerConfig } from '../config/config.js';

/** Addresses every outgoing fetch refuses: unspecified, multicast, reserved, documentation. */
const ALWAYS_REFUSED = new BlockList();
ALWAYS_REFUSED.addSubnet('0.0.0.0', 8, 'ipv4');
ALWAYS_REFUSED.addSubnet('224.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addSubnet('240.0.0.0', 4, 'ipv4');
ALWAYS_REFUSED.addSubnet('192.0.2.0', 24, 'ipv4');
ALWAYS_REFUSED.addSubnet('198.18.0.0', 15, 'ipv4');
ALWAYS_REFUSED.addSubnet('198.51.100.0', 24, 'ipv4');
ALWAYS_REFUSED.addSubnet('203.0.113.0', 24, 'ipv4');
ALWAYS_REFUSED.addAddress('::', 'ipv6');
ALWAYS_REFUSED.addSubnet('ff00::', 8, 'ipv6');
ALWAYS_REFUSED.addSubnet('2001:db8::', 32, 'ipv6');

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** Private (RFC 1918, RFC 6598, unique local) and link-local addresses. */
const PRIVATE = new BlockList();
PRIVATE.addSubnet('10.0.0.0', 8, 'ipv4');
PRIVATE.addSubnet('172.16.0.0', 12, 'ipv4');
PRIVATE.addSubnet('192.168.0.0', 16, 'ipv4');
PRIVATE.addSubnet('100.64.0.0', 10, 'ipv4');
PRIVATE.addSubnet('169.254.0.0', 16, 'ipv4');
PRIVATE.addSubnet('fc00::', 7, 'ipv6');
PRIVATE.addSubnet('fe80::', 10, 'ipv6');

export type AddressKind = 'public' | 'loopback' | 'private' | 'refused';

/** What kind of address a fetch would connect to (IPv4-mapped IPv6 addresses count as their IPv4 address). */
export function addressKind(address: string): AddressKind {
  let a = address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped) a = mapped[1];
  const family = isIP(a);
  if (family === 0) return 'refused';
  const type = family === 4 ? 'ipv4' : 'ipv6';
  if (ALWAYS_REFUSED.check(a, type)) return 'refused';
  if (LOOPBACK.check(a, type)) return 'loopback';
  if (PRIVATE.check(a, type)) return 'private';
  return 'public';
}

/** Whether the service itself listens on a loopback address (HOST). */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || (isIP(host) !== 0 && addressKind(host) === 'loopback');
}

export interface FetchPolicy {
  allowLoopback: boolean;
  allowPrivate: boolean;
}

export function fetchPolicyOf(oauth: OAuthServerConfig, host: string): FetchPolicy {
  return { allowLoopback: oauth.cimdAllowLoopback || isLoopbackHost(host), allowPrivate: oauth.cimdAllowPrivate };
}

/** Why an address may not be fetched from, or undefined when it may. */
export function refusalOf(address: string | undefined, policy: FetchPolicy): string | undefined {
  if (address === undefined) return 'no address';
  const kind = addressKind(address);
  if (kind === 'public') return undefined;
  if (kind === 'loopback') return policy.allowLoopback ? undefined : 'loopback address';
  if (kind === 'private') return policy.allowPrivate ? undefined : 'private or link-local address';
  return 'special-use address';
}

/** Larger documents are cut off here (the provider refuses anything over its own 5 KiB limit). */
const MAX_BODY_BYTES = 64 * 1024;

/**
 * The fetch oidc-provider uses for Client ID Metadata Documents: https only, through node:https with a
 * DNS lookup of our own that checks every address a name resolves to (and the address itself when
 * the URL names one) against the policy before connecting, trusting `extraCa` besides the system's
 * roots. The provider adds its own limits: 2.5 s, 5 KiB, no redirects followed, client_id equal to the URL.
 */
export function guardedFetch(policy: FetchPolicy, extraCa: string | null): (url: string, options: RequestInit) => Promise<Response> {
  const ca = extraCa ? [...rootCertificates, extraCa] : undefined;
  const lookup: LookupFunction = (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '', 0);
      const list = addresses as LookupAddress[];
      const refused = list.map((a) => refusalOf(a.address, policy)).find((r) => r !== undefined);
      if (refused || list.length === 0) return callback(new Error(`client_id metadata document refused: ${refused ?? 'no address'}`), '', 0);
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, list);
      callback(null, list[0].address, list[0].family);
    });
  };
  return (url, options) =>
    new Promise<Response>((resolvePromise, reject) => {
      const target = new URL(url);
      if (target.protocol !== 'https:') return reject(new Error('client_id metadata document refused: not https'));
      const host = target.hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) !== 0) {
        const refused = refusalOf(host, policy);
        if (refused) return reject(new Error(`client_id metadata document refused: ${refused}`));
      }
      const headers: Record<string, string> = {};
      new Headers(options.headers).forEach((v, k) => (headers[k] = v));
      const req = httpsRequest(
        target,
        { method: 'GET', headers, lookup, ca, signal: options.signal ?? undefined, servername: isIP(host) === 0 ? host : undefined },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) return req.destroy(new Error('response too large'));
            chunks.push(chunk);
          });
          res.on('end', () => {
            const responseHeaders = new Headers();
            for (const [k, v] of Object.entries(res.headers)) {
              if (typeof v === 'string') responseHeaders.set(k, v);
              else if (Array.isArray(v)) for (const one of v) responseHeaders.append(k, one);
            }
            const status = res.statusCode ?? 502;
            const body = status === 204 || status === 304 ? null : Buffer.concat(chunks);
            resolvePromise(new Response(body, { status, headers: responseHeaders }));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    });
}
