/**
 * A stand-in for `POST /api/mcp/validate` in the unit tests: a real HTTP
 * server on 127.0.0.1 (port chosen by the system) that answers as docs/api.md
 * ("Validation") says, or as a test scripts it to. The e2e tests use the real service.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type StubCall = { method: string; path: string; authorization?: string; contentType?: string; body: unknown };
export type StubReply = {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Answer this much later. */
  delayMs?: number;
  /** Answer once this settles. */
  until?: Promise<unknown>;
};
export type StubHandler = (call: StubCall, index: number) => StubReply;

export type StubToken = {
  tokenId: string;
  userId: string;
  scopes: string[];
  /** Epoch seconds. */
  exp: number;
  name?: string;
};

export function validAnswer(t: StubToken) {
  return {
    valid: true,
    user: {
      id: t.userId,
      email: `${t.userId}@chu-exemple.fr`,
      firstname: 'Camille',
      surname: 'Martin',
      name: 'Camille Martin',
      phoneNumber: '+33600000000',
      profileCompletedAt: '2025-01-02T03:04:05.000Z',
    },
    token: { id: t.tokenId, name: t.name ?? 'Serveur MCP', scopes: t.scopes, expiresAt: new Date(t.exp * 1000).toISOString() },
    scopes: t.scopes,
    exp: t.exp,
  };
}

export const INVALID = { status: 401, body: { error: 'Token invalide', code: 'invalid_token' } };
export const EXPIRED = { status: 401, body: { error: 'Token expiré', code: 'token_expired' } };
export const REVOKED = { status: 401, body: { error: 'Token révoqué ou inexistant', code: 'token_revoked' } };
export const MISCONFIGURED = { status: 500, body: { error: 'Configuration serveur invalide' } };
export const UNAVAILABLE = (retryAfter?: string): StubReply => ({
  status: 503,
  body: { error: 'Service indisponible' },
  headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
});

/**
 * Answers like the contract for a set of known tokens: 200 with the answer,
 * 403 when `requiredScopes` are not all held, 401 `invalid_token` for anything else.
 * `special` maps a token to a fixed reply (expired, revoked…).
 */
export function contractHandler(tokens: Record<string, StubToken>, special: Record<string, StubReply> = {}): StubHandler {
  return (call) => {
    const m = /^bearer\s+(\S+)$/i.exec(call.authorization ?? '');
    if (!m) return INVALID;
    const token = m[1];
    if (special[token]) return special[token];
    const t = tokens[token];
    if (!t) return INVALID;
    const required = (call.body as { requiredScopes?: string[] } | undefined)?.requiredScopes ?? [];
    if (!required.every((s) => t.scopes.includes(s))) {
      return { status: 403, body: { error: 'Scope insuffisant', code: 'insufficient_scope', requiredScopes: required, scopes: t.scopes } };
    }
    return { status: 200, body: validAnswer(t) };
  };
}

export class StubService {
  readonly calls: StubCall[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();

  private constructor(
    private readonly server: http.Server,
    public handler: StubHandler,
  ) {}

  static async start(handler: StubHandler): Promise<StubService> {
    const server = http.createServer();
    const stub = new StubService(server, handler);
    server.on('request', (req, res) => stub.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return stub;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/api/mcp/validate`;
  }

  /** Resolves once the stub has received `n` calls. */
  async waitForCalls(n: number): Promise<void> {
    while (this.calls.length < n) await new Promise((r) => setTimeout(r, 5));
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        body = text;
      }
      const call: StubCall = {
        method: req.method ?? '',
        path: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body,
      };
      this.calls.push(call);
      const reply = this.handler(call, this.calls.length - 1);
      const send = () => {
        this.timers.delete(timer);
        if (res.destroyed) return;
        const payload = reply.body === undefined ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
        res.writeHead(reply.status, { 'content-type': 'application/json; charset=utf-8', ...(reply.headers ?? {}) });
        res.end(payload);
      };
      let timer: NodeJS.Timeout;
      const schedule = () => {
        timer = setTimeout(send, reply.delayMs ?? 0);
        this.timers.add(timer);
      };
      if (reply.until) void reply.until.then(schedule, schedule);
      else schedule();
    });
  }
}
