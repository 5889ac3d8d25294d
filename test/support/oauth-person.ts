// The person in an OAuth authorization, played as a browser would: follows the authorization
// server's redirects with its cookies, and posts the login and consent pages' own forms.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PersonOptions {
  email: string;
  password: string;
  /** What the person clicks on the consent page. */
  decision?: 'allow' | 'deny';
  /** Cookies already held (e.g. the dashboard session): name → value. */
  cookies?: Record<string, string>;
}

export interface PersonRun {
  /** The URL the authorization server sent the browser to at the end (the client's redirect URI with code or error). */
  redirect: URL;
  /** The HTML pages the person saw, in order. */
  pages: { url: string; status: number; html: string; csp: string | null }[];
}

class CookieJar {
  readonly cookies = new Map<string, string>();
  constructor(initial: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(initial)) this.cookies.set(k, v);
  }
  take(res: Response): void {
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

/** The action and fields of the first form whose action ends with `suffix`. */
export function formOf(html: string, suffix: string): { action: string } | undefined {
  for (const m of html.matchAll(/<form[^>]*action="([^"]+)"/g)) {
    const action = m[1].replace(/&amp;/g, '&');
    if (action.endsWith(suffix)) return { action };
  }
  return undefined;
}

/** Runs an authorization from its URL to the redirect back to the client. */
export async function playPerson(authorizationUrl: string | URL, o: PersonOptions): Promise<PersonRun> {
  const jar = new CookieJar(o.cookies);
  const origin = new URL(authorizationUrl).origin;
  const pages: PersonRun['pages'] = [];
  let next: { url: string; method: 'GET' | 'POST'; form?: Record<string, string> } = { url: String(authorizationUrl), method: 'GET' };
  for (let step = 0; step < 20; step++) {
    const res = await fetch(next.url, {
      method: next.method,
      redirect: 'manual',
      headers: {
        cookie: jar.header(),
        ...(next.form ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        accept: 'text/html',
      },
      body: next.form ? new URLSearchParams(next.form).toString() : undefined,
    });
    jar.take(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const target = new URL(location, next.url);
      if (target.origin !== origin) return { redirect: target, pages };
      next = { url: target.href, method: 'GET' };
      continue;
    }
    const html = await res.text();
    pages.push({ url: next.url, status: res.status, html, csp: res.headers.get('content-security-policy') });
    const login = formOf(html, '/login');
    const consent = formOf(html, '/consent');
    if (login && res.status === 200) {
      next = { url: new URL(login.action, origin).href, method: 'POST', form: { email: o.email, password: o.password } };
    } else if (consent && res.status === 200) {
      next = { url: new URL(consent.action, origin).href, method: 'POST', form: { decision: o.decision ?? 'allow' } };
    } else {
      throw new Error(`the authorization stopped on a page (${res.status}): ${html.slice(0, 500)}`);
    }
  }
  throw new Error('too many steps');
}

/** A self-signed certificate for 127.0.0.1 (openssl), its key and the PEM file holding it. */
export function loopbackCertificate(): { cert: string; key: string; certFile: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hospiai-cimd-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', certFile],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), certFile };
}
