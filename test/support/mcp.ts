// Helpers for the MCP integration tests: registered MCP clients, API tokens,
// introspection calls, and a reader of Server-Sent Events.
import type { TestApp } from './test-app.js';

export interface RegisteredClient {
  id: string;
  clientId: string;
  clientSecret: string;
  name: string;
  resourceUri: string | null;
  acceptedScopes: string[];
}

export interface CreatedToken {
  id: string;
  token: string;
  scopes: string[];
}

/** Registers an MCP server through the admin route. */
export async function registerClient(
  t: TestApp,
  adminSession: string,
  name = 'Serveur MCP de test',
  resource: { resourceUri?: string; acceptedScopes?: string[] } = {},
): Promise<RegisteredClient> {
  const res = await t.request('POST', '/api/mcp/clients', { token: adminSession, body: { name, ...resource } });
  if (res.status !== 201) throw new Error(`client registration failed: ${res.status} ${res.text}`);
  return res.body as RegisteredClient;
}

/** Creates an API token for the session's user. */
export async function createToken(
  t: TestApp,
  session: string,
  scopes: string[] = ['read:data'],
  name = 'srv',
  audience?: string,
): Promise<CreatedToken> {
  const res = await t.request('POST', '/api/tokens', { token: session, body: { name, scopes, durationDays: 30, ...(audience ? { audience } : {}) } });
  if (res.status !== 201) throw new Error(`token creation failed: ${res.status} ${res.text}`);
  return res.body as CreatedToken;
}

/** `Authorization: Basic …` for client credentials, form-urlencoded first as RFC 6749 §2.3.1 says. */
export function basic(clientId: string, clientSecret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`;
}

export interface SseEvent {
  id?: string;
  event: string;
  data: string;
}

/** The `revoked` events among those read. */
export const revoked = (events: SseEvent[]): SseEvent[] => events.filter((e) => e.event === 'revoked');
/** The token ids a `revoked` event names. */
export const idsOf = (e: SseEvent): string[] => (JSON.parse(e.data) as { tokenIds: string[] }).tokenIds;

/** An open `text/event-stream` response, read event by event. */
export class SseReader {
  readonly events: SseEvent[] = [];
  comments = 0;
  ended = false;
  /**
   * How the stream ended: 'server' when the server ended the response cleanly (its last chunk came),
   * 'aborted' when close() was called first, 'error' when the connection failed (reset, cut short).
   */
  endedBy: 'server' | 'aborted' | 'error' | undefined;
  /** The error that ended the stream, when endedBy is 'error'. */
  endError: unknown;
  private buffer = '';
  private waiters: Array<() => void> = [];

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    void this.pump();
  }

  static async open(url: string, headers: Record<string, string>): Promise<SseReader> {
    const controller = new AbortController();
    const response = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
    return new SseReader(response, controller);
  }

  /** Waits until `predicate` holds for the events read so far (or the stream ends, or `ms` pass). */
  async until(predicate: (events: SseEvent[]) => boolean, ms = 5000): Promise<SseEvent[]> {
    const deadline = Date.now() + ms;
    while (!predicate(this.events)) {
      if (this.ended) throw new Error(`stream ended; events so far: ${JSON.stringify(this.events)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; events so far: ${JSON.stringify(this.events)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.events;
  }

  /**
   * Resolves once the server has ended the stream cleanly; throws if it ended otherwise (aborted by
   * this side, connection reset or cut short), or is still open after `ms` (a hang guard).
   */
  async closedByServer(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('the stream is still open');
      await new Promise((r) => setTimeout(r, 20));
    }
    if (this.endedBy !== 'server')
      throw new Error(`the stream was not ended by the server: ${this.endedBy} ${String(this.endError ?? '')}`);
  }

  close(): void {
    if (!this.ended) this.endedBy ??= 'aborted';
    this.controller.abort();
  }

  private async pump(): Promise<void> {
    const body = this.response.body;
    if (!body) {
      this.finish();
      return;
    }
    const reader = body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) {
          this.endedBy ??= 'server';
          break;
        }
        this.buffer += decoder.decode(value, { stream: true });
        this.parse();
      }
    } catch (error) {
      // Aborted by close(), or the connection failed.
      if (this.endedBy === undefined) {
        this.endedBy = 'error';
        this.endError = error;
      }
    }
    this.finish();
  }

  private finish(): void {
    this.ended = true;
    this.wake();
  }

  private parse(): void {
    let cut: number;
    while ((cut = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, cut);
      this.buffer = this.buffer.slice(cut + 2);
      const e: SseEvent = { event: 'message', data: '' };
      let fields = 0;
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          this.comments += 1;
          continue;
        }
        const sep = line.indexOf(':');
        const name = sep < 0 ? line : line.slice(0, sep);
        const value = sep < 0 ? '' : line.slice(sep + 1).replace(/^ /, '');
        if (name === 'id') e.id = value;
        else if (name === 'event') e.event = value;
        else if (name === 'data') data.push(value);
        else continue;
        fields += 1;
      }
      if (fields === 0) continue;
      e.data = data.join('\n');
      this.events.push(e);
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
}
