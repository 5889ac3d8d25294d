import { BlockList, isIP } from 'node:net';

/** The event types an endpoint may subscribe to (docs/api.md, "Webhooks"). */
export const WEBHOOK_EVENT_TYPES = ['token.created', 'token.revoked', 'token.expiring', 'token.expired', 'policy.changed'] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/**
 * Addresses a webhook may not reach unless WEBHOOK_ALLOW_PRIVATE_NETWORKS is on: loopback, private,
 * shared (carrier-grade NAT), link-local (cloud metadata services among them), unspecified,
 * multicast and reserved ranges, IPv4 and IPv6.
 */
const NOT_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b:1::', 48],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const) {
  NOT_PUBLIC.addSubnet(net, prefix, 'ipv6');
}

/** True for an address on a public network; IPv4-mapped IPv6 addresses are judged as IPv4. */
export function isPublicAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
    if (mapped) return isPublicAddress(mapped[1]);
    if (/^::ffff:/i.test(address)) return false;
    return !NOT_PUBLIC.check(address, 'ipv6');
  }
  return !NOT_PUBLIC.check(address, 'ipv4');
}

/**
 * Why a URL may not be a webhook endpoint, or null when it may: http(s) only, no credentials in it,
 * https unless private networks are allowed, and no literal address outside public networks unless
 * they are. Host names are checked when they are resolved, at each delivery (WebhookSender).
 */
export function urlProblem(raw: string, allowPrivateNetworks: boolean): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "l'URL n'est pas valide";
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return "l'URL doit commencer par https://";
  if (url.username || url.password) return "l'URL ne doit pas contenir d'identifiants";
  if (url.hash) return "l'URL ne doit pas contenir de fragment (#)";
  if (allowPrivateNetworks) return null;
  if (url.protocol !== 'https:')
    return "l'URL doit commencer par https:// (http n'est permis que sur un réseau privé, si WEBHOOK_ALLOW_PRIVATE_NETWORKS est activé)";
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0 && !isPublicAddress(host))
    return "l'adresse de l'URL est locale ou privée (permis seulement si WEBHOOK_ALLOW_PRIVATE_NETWORKS est activé)";
  if (host === 'localhost' || host.endsWith('.localhost'))
    return "l'adresse de l'URL est locale (permis seulement si WEBHOOK_ALLOW_PRIVATE_NETWORKS est activé)";
  return null;
}
