import { PassThrough } from 'node:stream';
import { Injectable, Logger, type BeforeApplicationShutdown } from '@nestjs/common';
import { RevocationEventsRepository, type RevocationEvent } from '../revocation/revocation-events.repository.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import { TokensRepository } from '../tokens/tokens.repository.js';
import type { AuthenticatedClient } from './mcp-clients.service.js';
import { McpClientsService } from './mcp-clients.service.js';

/** Keep-alive comment period: proxies and clients see the stream is alive. */
export const KEEP_ALIVE_MS = 15_000;
/** The reconnection delay suggested to clients (`retry:`), in ms. */
const RETRY_MS = 2_000;
/** Replay page size when resuming from Last-Event-ID. */
const PAGE = 500;
/** A client that reads nothing while this much piles up is cut off (it resumes later with Last-Event-ID). */
const MAX_BUFFERED_BYTES = 1 << 20;
/** Ids of recently sent events, so that an event is sent once though it may arrive live and by replay. */
const RECENT_IDS = 2_000;
const MAX_STREAMS = 1_000;

export class TooManyStreamsError extends Error {}

/**
 * One client's `text/event-stream`: replay from Last-Event-ID, then live
 * revocations from the bus, every write in order through one promise chain.
 */
class RevocationStream {
  readonly out = new PassThrough();
  private cursor = 0n;
  private readonly sent = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly cleanups: Array<() => void> = [];

  constructor(
    readonly client: AuthenticatedClient,
    private readonly tokenIdsOf: (e: RevocationEvent) => Promise<string[]>,
    private readonly since: (afterId: string, limit: number) => Promise<RevocationEvent[]>,
    private readonly onClose: (s: RevocationStream) => void,
    private readonly logger: Logger,
  ) {
    this.out.on('close', () => this.close());
  }

  get isClosed(): boolean {
    return this.closed;
  }

  addCleanup(fn: () => void): void {
    if (this.closed) fn();
    else this.cleanups.push(fn);
  }

  /** Starts the stream: replay after `lastEventId`, or from the current end when none is given. */
  start(lastEventId: string | undefined, lastId: () => Promise<string>): void {
    this.write(`retry: ${RETRY_MS}\n\n`);
    this.enqueue(async () => {
      const end = BigInt(await lastId());
      if (lastEventId === undefined) {
        this.cursor = end;
      } else if (BigInt(lastEventId) > end) {
        // The client saw events this database never had (a restored backup): it must drop all it cached.
        this.cursor = end;
        this.write(`id: ${end}\nevent: reset\ndata: {"reason":"unknown_last_event_id"}\n\n`);
      } else {
        this.cursor = BigInt(lastEventId);
        await this.replay();
      }
      this.write(`id: ${this.cursor}\nevent: ready\ndata: ${JSON.stringify({ lastEventId: String(this.cursor) })}\n\n`);
    });
  }

  /** A revocation from the bus (this instance or another, through LISTEN/NOTIFY). */
  live(event: RevocationEvent): void {
    this.enqueue(() => this.send(event));
  }

  /** The bus reconnected: notifications may have been missed, so read what came after the cursor. */
  catchUp(): void {
    this.enqueue(() => this.replay());
  }

  keepAlive(): void {
    this.write(': keep-alive\n\n');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const fn of this.cleanups.splice(0)) fn();
    if (!this.out.destroyed && !this.out.writableEnded) this.out.end();
    this.onClose(this);
  }

  private enqueue(task: () => Promise<void>): void {
    this.chain = this.chain.then(async () => {
      if (this.closed) return;
      try {
        await task();
      } catch (err) {
        // The client resumes from the last id it got, so nothing is lost by closing.
        this.logger.warn({ err, clientId: this.client.clientId }, 'revocation stream closed after an error');
        this.close();
      }
    });
  }

  private async replay(): Promise<void> {
    for (;;) {
      const page = await this.since(String(this.cursor), PAGE);
      for (const e of page) await this.send(e);
      if (page.length < PAGE || this.closed) return;
    }
  }

  private async send(e: RevocationEvent): Promise<void> {
    if (this.closed || this.sent.has(e.id)) return;
    const tokenIds = await this.tokenIdsOf(e);
    this.sent.add(e.id);
    if (this.sent.size > RECENT_IDS) this.sent.delete(this.sent.values().next().value as string);
    const id = BigInt(e.id);
    if (id > this.cursor) this.cursor = id;
    this.write(`id: ${e.id}\nevent: revoked\ndata: ${JSON.stringify({ tokenIds })}\n\n`);
  }

  private write(text: string): void {
    if (this.closed) return;
    if (this.out.writableLength > MAX_BUFFERED_BYTES) {
      this.logger.warn({ clientId: this.client.clientId }, 'revocation stream closed: the client does not read');
      this.close();
      return;
    }
    this.out.write(text);
  }
}

/**
 * GET /api/mcp/revocations: revocations as Server-Sent Events for registered
 * MCP servers. Each event carries token ids only (a user's revocation is sent
 * as the ids of that user's tokens). Streams end cleanly when the app shuts down.
 */
@Injectable()
export class RevocationStreamService implements BeforeApplicationShutdown {
  private readonly logger = new Logger(RevocationStreamService.name);
  private readonly streams = new Set<RevocationStream>();
  private timer: NodeJS.Timeout | undefined;
  /** Keep-alive period in ms (tests shorten it). */
  keepAliveMs = KEEP_ALIVE_MS;

  constructor(
    private readonly bus: RevocationBus,
    private readonly clients: McpClientsService,
    private readonly events: RevocationEventsRepository,
    private readonly tokens: TokensRepository,
  ) {}

  get openStreams(): number {
    return this.streams.size;
  }

  /** Opens a stream for an authenticated client; the caller sends `out` as the response body. */
  open(client: AuthenticatedClient, lastEventId: string | undefined): PassThrough {
    if (this.streams.size >= MAX_STREAMS) throw new TooManyStreamsError('too many revocation streams');
    const stream = new RevocationStream(
      client,
      (e) => this.tokenIdsOf(e),
      (afterId, limit) => this.events.since(afterId, limit),
      (s) => this.forget(s),
      this.logger,
    );
    this.streams.add(stream);
    stream.addCleanup(this.bus.onRevocation((e) => stream.live(e)));
    stream.addCleanup(this.bus.onReset(() => stream.catchUp()));
    stream.addCleanup(this.clients.onRevoked((id) => id === client.id && stream.close()));
    stream.start(lastEventId, () => this.events.lastId());
    this.ensureTimer();
    this.logger.log({ clientId: client.clientId, lastEventId: lastEventId ?? null }, 'revocation stream opened');
    return stream.out;
  }

  beforeApplicationShutdown(): void {
    for (const s of [...this.streams]) s.close();
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private forget(s: RevocationStream): void {
    this.streams.delete(s);
    if (this.streams.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private ensureTimer(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.keepAliveMs);
    this.timer.unref();
  }

  /** Keep-alive for every stream; streams of clients revoked through another instance are closed here. */
  private async tick(): Promise<void> {
    const byClient = new Map<string, RevocationStream[]>();
    for (const s of this.streams) {
      s.keepAlive();
      byClient.set(s.client.id, [...(byClient.get(s.client.id) ?? []), s]);
    }
    for (const [id, streams] of byClient) {
      const active = await this.clients.isActive(id).catch(() => true);
      if (!active) for (const s of streams) s.close();
    }
  }

  /** The token ids a revocation concerns: the token itself, or every token of the user that may still be cached. */
  private async tokenIdsOf(e: RevocationEvent): Promise<string[]> {
    if (e.kind === 'token') return [e.subjectId];
    return this.tokens.recentIdsOf(e.subjectId);
  }
}
