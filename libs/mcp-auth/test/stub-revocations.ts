/**
 * A stand-in for `GET /api/mcp/revocations` in the unit tests: a real HTTP
 * server on 127.0.0.1 that keeps event streams open and writes to them what a
 * test tells it to, as the service would.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export type StreamRequest = { authorization?: string; accept?: string; lastEventId?: string };

export class StubRevocations {
  readonly requests: StreamRequest[] = [];
  /** Status for the next connections (200 opens a stream). */
  status = 200;
  private open = new Set<http.ServerResponse>();

  private constructor(private readonly server: http.Server) {}

  static async start(): Promise<StubRevocations> {
    const server = http.createServer();
    const stub = new StubRevocations(server);
    server.on('request', (req, res) => stub.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return stub;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/mcp/revocations`;
  }

  get openStreams(): number {
    return this.open.size;
  }

  /** Writes raw text to every open stream. */
  write(text: string): void {
    for (const res of this.open) res.write(text);
  }

  ready(id: string): void {
    this.write(`id: ${id}\nevent: ready\ndata: {"lastEventId":"${id}"}\n\n`);
  }

  revoked(id: string, tokenIds: string[]): void {
    this.write(`id: ${id}\nevent: revoked\ndata: ${JSON.stringify({ tokenIds })}\n\n`);
  }

  /** Cuts every open stream, as a network failure or a restart would. */
  drop(): void {
    for (const res of this.open) res.destroy();
    this.open.clear();
  }

  /** Ends every open stream cleanly, as the service does when it shuts down. */
  end(): void {
    for (const res of this.open) res.end();
    this.open.clear();
  }

  async waitFor(predicate: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error('condition not met in time');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  async close(): Promise<void> {
    this.drop();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const header = (name: string) => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    this.requests.push({ authorization: header('authorization'), accept: header('accept'), lastEventId: header('last-event-id') });
    if (this.status !== 200) {
      res.writeHead(this.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'Client authentication failed', code: 'invalid_client' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store' });
    res.write('retry: 10\n\n');
    this.open.add(res);
    res.on('close', () => this.open.delete(res));
  }
}
