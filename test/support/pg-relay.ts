// A TCP relay between an app and PostgreSQL, for tests of what the app does when its database
// connections misbehave: cut (open connections dropped, new ones refused), held at connection,
// frozen (bytes held, sockets open: a connection that dies without a word) or slow. Each
// connection is known by the application_name of its startup message (no TLS to test databases).
import { connect, createServer, type Server, type Socket } from 'node:net';

/** The application_name of the revocation bus's listening connection. */
export const BUS_APPLICATION_NAME = 'hospiai-revocations';
/** PostgreSQL's protocol 3.0 startup message code. */
const PROTOCOL_3 = 196608;

interface Pair {
  client: Socket;
  upstream: Socket | undefined;
  name: string;
  frozen: boolean;
}

/** The parameters of a startup message (user, database, application_name…). */
function startupParameters(message: Buffer): Record<string, string> {
  const fields = message.subarray(8, message.readInt32BE(0)).toString('utf8').split('\0');
  const params: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length && fields[i] !== ''; i += 2) params[fields[i]] = fields[i + 1];
  return params;
}

export class PgRelay {
  /** New connections of the bus held so far by hold(). */
  held = 0;
  /** This side's ports of the bus's connections to PostgreSQL: their client_port in pg_stat_activity. */
  readonly busPorts: number[] = [];
  port = 0;
  private server: Server | undefined;
  private holding = false;
  private readonly waiting: Array<() => void> = [];
  private readonly pairs = new Set<Pair>();
  private readonly delays = new Map<string, number>();

  private constructor(private readonly upstream: { host: string; port: number }) {}

  /** Starts a relay to the server of `databaseUrl`; returns it and the same URL through it. */
  static async start(databaseUrl: string): Promise<{ relay: PgRelay; url: string }> {
    const u = new URL(databaseUrl);
    const relay = new PgRelay({ host: u.hostname, port: Number(u.port || 5432) });
    await relay.open();
    u.hostname = '127.0.0.1';
    u.port = String(relay.port);
    // A socket folder (the embedded server's) would take the client past the relay.
    u.searchParams.delete('host');
    return { relay, url: u.toString() };
  }

  /** Listens (again, on the same port after cut()). */
  async open(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  /** Drops every open connection and refuses new ones (ECONNREFUSED) until open(). */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
    for (const p of this.pairs) this.drop(p);
    await closed;
  }

  async close(): Promise<void> {
    this.holding = false;
    this.waiting.length = 0;
    await this.cut();
  }

  /** New connections of the revocation bus wait at the relay, before PostgreSQL sees them, until release(). */
  hold(): void {
    this.holding = true;
  }

  release(): void {
    this.holding = false;
    for (const go of this.waiting.splice(0)) go();
  }

  /** The open connections of that application_name stop carrying bytes, either way; their sockets stay open. */
  freeze(name: string): number {
    let n = 0;
    for (const p of this.pairs) {
      if (p.name === name && !p.frozen) {
        p.frozen = true;
        n += 1;
      }
    }
    return n;
  }

  /** What PostgreSQL sends to connections of that application_name arrives `ms` later. */
  delay(name: string, ms: number): void {
    this.delays.set(name, ms);
  }

  private drop(p: Pair): void {
    this.pairs.delete(p);
    p.client.destroy();
    p.upstream?.destroy();
  }

  private accept(client: Socket): void {
    const pair: Pair = { client, upstream: undefined, name: '', frozen: false };
    this.pairs.add(pair);
    client.on('error', () => this.drop(pair));
    client.on('close', () => this.drop(pair));
    let first = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      first = Buffer.concat([first, chunk]);
      if (first.length < 8 || first.length < first.readInt32BE(0)) return;
      // The whole startup message: the client sends nothing more until PostgreSQL answers it.
      client.off('data', onData);
      client.pause();
      pair.name = first.readInt32BE(4) === PROTOCOL_3 ? (startupParameters(first).application_name ?? '') : '';
      const go = (): void => this.relay(pair, first);
      if (pair.name === BUS_APPLICATION_NAME && this.holding) {
        this.held += 1;
        this.waiting.push(go);
      } else go();
    };
    client.on('data', onData);
  }

  private relay(pair: Pair, first: Buffer): void {
    const { client } = pair;
    if (client.destroyed) return;
    const upstream = connect(this.upstream.port, this.upstream.host);
    pair.upstream = upstream;
    upstream.on('connect', () => {
      if (pair.name === BUS_APPLICATION_NAME) this.busPorts.push(upstream.localPort!);
    });
    upstream.on('error', () => this.drop(pair));
    upstream.on('close', () => this.drop(pair));
    upstream.write(first);
    client.on('data', (chunk: Buffer) => {
      if (!pair.frozen) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      const ms = this.delays.get(pair.name) ?? 0;
      if (ms > 0) setTimeout(() => !pair.frozen && !client.destroyed && client.write(chunk), ms);
      else if (!pair.frozen) client.write(chunk);
    });
    client.resume();
  }
}
