import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { isPublicAddress } from './webhook-address.js';

/** How long a delivery may take, connection included. */
export const DELIVERY_TIMEOUT_MS = 10_000;
/** At most this much of an answer is read (and none of it kept). */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface SendResult {
  /** A 2xx answer. */
  ok: boolean;
  status: number | null;
  /** Why it failed, without the answer's body; null when delivered. */
  error: string | null;
}

/**
 * A resolver that refuses addresses outside public networks (unless allowed): checked on the very
 * address the connection is made to, so a name that resolves differently later (DNS rebinding)
 * cannot reach an internal service.
 */
function guardedLookup(allowPrivateNetworks: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const allowed = allowPrivateNetworks ? addresses : addresses.filter((a) => isPublicAddress(a.address));
      if (allowed.length === 0) {
        const e = Object.assign(new Error(`${hostname} resolves to no public address`), { code: 'EADDRNOTALLOWED' });
        return callback(e, '', 0);
      }
      if ((options as { all?: boolean }).all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      return callback(null, allowed[0].address, allowed[0].family);
    });
  };
}

/**
 * Sends one webhook by the Standard Webhooks convention (https://www.standardwebhooks.com): the body
 * as JSON, `webhook-id`, `webhook-timestamp` (Unix seconds) and `webhook-signature` (`v1,` and the
 * HMAC-SHA256 of `id.timestamp.body` in base64), signed by the `standardwebhooks` library with the
 * endpoint's secret. Redirects are not followed.
 */
export async function sendWebhook(
  url: string,
  secret: string,
  eventId: string,
  at: Date,
  body: string,
  allowPrivateNetworks: boolean,
): Promise<SendResult> {
  let signature: string;
  try {
    signature = new Webhook(secret).sign(eventId, at, body);
  } catch {
    return { ok: false, status: null, error: 'the secret cannot sign (not base64)' };
  }
  const target = new URL(url);
  const host = target.hostname.replace(/^\[|\]$/g, '');
  const request = target.protocol === 'https:' ? httpsRequest : httpRequest;
  // A literal address is not resolved (no lookup): it is checked here.
  if (isIP(host) !== 0 && !allowPrivateNetworks && !isPublicAddress(host)) {
    return { ok: false, status: null, error: `EADDRNOTALLOWED: ${host} is not a public address` };
  }
  return new Promise<SendResult>((resolve) => {
    let settled = false;
    const done = (r: SendResult): void => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    const req = request(
      target,
      {
        method: 'POST',
        lookup: guardedLookup(allowPrivateNetworks),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'user-agent': 'HospiAI-Webhooks/1',
          'webhook-id': eventId,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature,
        },
        timeout: DELIVERY_TIMEOUT_MS,
      },
      (res: IncomingMessage) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        const status = res.statusCode ?? null;
        const finish = (): void => {
          const ok = status !== null && status >= 200 && status < 300;
          done({ ok, status, error: ok ? null : `HTTP ${status}` });
        };
        res.on('end', finish);
        res.on('close', finish);
        res.on('error', finish);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${DELIVERY_TIMEOUT_MS} ms`), { code: 'ETIMEDOUT' })));
    req.on('error', (err: NodeJS.ErrnoException) =>
      done({ ok: false, status: null, error: (err.code ? `${err.code}: ` : '') + err.message.slice(0, 200) }),
    );
    req.end(body);
  });
}
