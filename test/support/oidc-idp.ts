// A real OpenID provider for the SSO tests: oidc-provider (panva, certified), on loopback, with an
// in-memory adapter (its default), the development login page (any password), and back-channel
// logout. In front of it, on the issuer's port, a plain HTTP relay that passes every request through
// and, when asked, alters the ID token of the token endpoint's answers (a wrong signature, a wrong
// audience, a wrong nonce): the relying party must refuse it. The relay changes nothing else.
//
// Imported by the e2e tests, and compiled by `npm run build` (tsconfig.build.json's `files`) for the
// browser test, as harness.ts is.
import { generateKeyPairSync, createSign, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

export interface IdpAccount {
  email: string;
  email_verified?: boolean;
  given_name: string;
  family_name: string;
  groups: string[];
  /** Pro Santé Connect's professional identifier (the RPPS number). */
  SubjectNameID?: string;
}

export type Tamper = 'signature' | 'aud' | 'nonce';

export interface TestIdp {
  /** http://127.0.0.1:<relay port> */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Edit freely: each login reads the account as it is then. */
  accounts: Map<string, IdpAccount>;
  /** When set, the next token answers carry an ID token altered this way. */
  tamper: Tamper | undefined;
  /** Back-channel logout calls the provider made: 'success' or the error's message. */
  backchannel: string[];
  /**
   * Registers the relying party (its base URL, known once it listens) and starts the provider
   * behind the relay; requests before this are answered 503.
   */
  attach(rpBase: string): Promise<void>;
  close(): Promise<void>;
}

export interface IdpOptions {
  /** The relying party's provider id, for its redirect and logout URIs. */
  providerId: string;
  accounts: Record<string, IdpAccount>;
}

const b64 = (v: Buffer | string): string => Buffer.from(v).toString('base64url');

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

/** An RS256 JWS of `payload` under `key`, with `header`. */
function signRs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${createSign('RSA-SHA256').update(input).sign(key).toString('base64url')}`;
}

/** The ID token altered as asked: re-signed by the provider's own key with another aud or nonce, or by another key. */
function tampered(idToken: string, how: Tamper, providerKey: KeyObject, strangerKey: KeyObject): string {
  const [h, p] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as Record<string, unknown>;
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString('utf8')) as Record<string, unknown>;
  if (how === 'aud') return signRs256(header, { ...payload, aud: 'another-application' }, providerKey);
  if (how === 'nonce') return signRs256(header, { ...payload, nonce: b64(randomBytes(16)) }, providerKey);
  return signRs256(header, payload, strangerKey);
}

export async function startTestIdp(options: IdpOptions): Promise<TestIdp> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'idp-key-1', alg: 'RS256', use: 'sig' };
  const accounts = new Map(Object.entries(options.accounts));
  const clientId = 'hospiai-test';
  const clientSecret = b64(randomBytes(32));
  const backchannel: string[] = [];

  const relay = createServer();
  const relayPort = await listen(relay);
  const issuer = `http://127.0.0.1:${relayPort}`;
  let innerPort = 0;
  let inner: Server | undefined;

  const providerFor = (rpBase: string): Provider => {
    const rp = `${rpBase}/api/auth/oidc/${options.providerId}`;
    const provider: Provider = new Provider(issuer, {
      clients: [
        {
          client_id: clientId,
          client_secret: clientSecret,
          redirect_uris: [`${rp}/callback`],
          post_logout_redirect_uris: [`${rpBase}/dashboard/login?raison=logout`],
          backchannel_logout_uri: `${rp}/backchannel-logout`,
          backchannel_logout_session_required: true,
          response_types: ['code'],
          grant_types: ['authorization_code'],
          token_endpoint_auth_method: 'client_secret_basic',
        },
      ],
      jwks: { keys: [jwk] },
      cookies: { keys: [b64(randomBytes(32))] },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['given_name', 'family_name', 'name'],
        groups: ['groups'],
        rpps: ['SubjectNameID'],
      },
      features: {
        devInteractions: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: { enabled: true },
      },
      pkce: { required: () => true },
      ttl: { Interaction: 600, Grant: 3600, Session: 3600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
      // First-party application: the scopes asked for are granted without a consent screen.
      loadExistingGrant: async (ctx: any) => {
        const existing = ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
        if (existing) {
          const found = await provider.Grant.find(existing);
          if (found) return found;
        }
        const grant = new provider.Grant({ clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId });
        grant.addOIDCScope(String(ctx.oidc.params.scope ?? 'openid'));
        await grant.save();
        return grant;
      },
      findAccount: (_ctx: unknown, id: string) => {
        const account = accounts.get(id);
        if (!account) return undefined;
        return {
          accountId: id,
          claims: () => {
            const a = accounts.get(id) ?? account;
            return { sub: id, name: `${a.given_name} ${a.family_name}`, email_verified: true, ...a };
          },
        };
      },
    });
    provider.on('backchannel.success', () => backchannel.push('success'));
    provider.on('backchannel.error', (_ctx: unknown, err: Error) => backchannel.push(err.message));
    return provider;
  };

  const idp: TestIdp = {
    issuer,
    clientId,
    clientSecret,
    accounts,
    tamper: undefined,
    backchannel,
    attach: async (rpBase: string) => {
      inner = createServer(providerFor(rpBase).callback());
      innerPort = await listen(inner);
    },
    close: async () => {
      relay.closeAllConnections();
      await new Promise<void>((r) => relay.close(() => r()));
      if (inner) {
        const server = inner;
        server.closeAllConnections();
        await new Promise<void>((r) => server.close(() => r()));
      }
    },
  };

  relay.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (innerPort === 0) {
      res.writeHead(503);
      res.end();
      return;
    }
    const upstream = httpRequest(
      { host: '127.0.0.1', port: innerPort, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        const alter =
          idp.tamper !== undefined && req.method === 'POST' && (req.url ?? '').startsWith('/token') && answer.statusCode === 200;
        if (!alter) {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        answer.on('data', (c: Buffer) => chunks.push(c));
        answer.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
          if (typeof body.id_token === 'string') body.id_token = tampered(body.id_token, idp.tamper!, privateKey, stranger);
          const text = JSON.stringify(body);
          const headers = { ...answer.headers, 'content-length': String(Buffer.byteLength(text)) };
          delete headers['transfer-encoding'];
          res.writeHead(200, headers);
          res.end(text);
        });
      },
    );
    upstream.on('error', () => {
      res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  });
  return idp;
}

// ---------------------------------------------------------------- a browser without a browser

/** A cookie jar per host:port, enough for the provider's session cookies and ours. */
export class CookieJar {
  private readonly jars = new Map<string, Map<string, string>>();

  header(url: URL): string {
    return [...(this.jars.get(url.host) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  take(url: URL, headers: Headers): void {
    const jar = this.jars.get(url.host) ?? new Map<string, string>();
    this.jars.set(url.host, jar);
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a)) || value === '';
      if (expired) jar.delete(name);
      else jar.set(name, value);
    }
  }

  get(url: URL, name: string): string | undefined {
    return this.jars.get(url.host)?.get(name);
  }
}

export interface Hop {
  url: URL;
  status: number;
  headers: Headers;
  text: string;
}

/** A request with the jar's cookies, not following redirects. */
export async function hop(
  jar: CookieJar,
  url: URL,
  init: { method?: string; form?: Record<string, string>; headers?: Record<string, string> } = {},
): Promise<Hop> {
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  const cookie = jar.header(url);
  if (cookie) headers.cookie = cookie;
  let body: string | undefined;
  if (init.form) {
    body = new URLSearchParams(init.form).toString();
    headers['content-type'] = 'application/x-www-form-urlencoded';
  }
  const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
  jar.take(url, res.headers);
  return { url, status: res.status, headers: res.headers, text: await res.text() };
}

/** Follows redirects from `start` until an answer that is not one, or until `stop` says so. */
export async function follow(jar: CookieJar, start: Hop, stop: (h: Hop) => boolean = () => false): Promise<Hop> {
  let h = start;
  for (let i = 0; i < 20 && h.status >= 300 && h.status < 400 && !stop(h); i++) {
    h = await hop(jar, new URL(h.headers.get('location')!, h.url));
  }
  return h;
}

/**
 * A login as a person would do it: our login route, the provider's login page (the development
 * form: any password), back to our callback. Gives the callback's answer (not followed).
 */
export async function loginAtIdp(jar: CookieJar, rpBase: string, providerId: string, login: string, query = ''): Promise<Hop> {
  const isCallback = (h: Hop): boolean => h.url.pathname.endsWith('/callback');
  let h = await follow(jar, await hop(jar, new URL(`/api/auth/oidc/${providerId}/login${query}`, rpBase)), isCallback);
  if (isCallback(h)) return h;
  const action = /<form[^>]*action="([^"]+)"/.exec(h.text)?.[1];
  if (!action) throw new Error(`no login form at ${h.url.href} (${h.status}): ${h.text.slice(0, 300)}`);
  h = await hop(jar, new URL(action, h.url), { form: { prompt: 'login', login, password: 'any password' } });
  return follow(jar, h, isCallback);
}

/** At the provider's end-session page, confirms the logout (the form the page would submit). */
export async function confirmLogout(jar: CookieJar, endSessionUrl: string): Promise<Hop> {
  const page = await hop(jar, new URL(endSessionUrl));
  const action = /<form[^>]*action="([^"]+)"/.exec(page.text)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
  if (!action || !xsrf) throw new Error(`no logout form at ${endSessionUrl} (${page.status}): ${page.text.slice(0, 300)}`);
  return hop(jar, new URL(action, page.url), { form: { xsrf, logout: 'yes' } });
}
