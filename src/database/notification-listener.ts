import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import pg from 'pg';
import type { DataSource, EntityManager } from 'typeorm';

/** The listening connection a notification came on: its backend pid, and a way to notify through it. */
export interface ListeningConnection {
  /** The backend pid (pg keeps it from the server's BackendKeyData), as pg_stat_activity shows it. */
  readonly pid: string;
  notify(channel: string, payload: string): Promise<void>;
}

export interface NotificationListenerOptions {
  /** The connection's application_name (how pg_stat_activity, and so other instances, tell it apart). */
  applicationName: string;
  channels: readonly string[];
  /** How often the connection must answer a query, and how long it has to answer. */
  heartbeatMs: number;
  heartbeatDeadlineMs: number;
  /** The longest wait between two attempts to connect (the wait doubles from 100 ms). */
  maxReconnectMs: number;
}

/** What the owner of a listener is told. */
export interface NotificationHandlers {
  notification(channel: string, payload: string | undefined, via: ListeningConnection): void;
  /** The connection is up and listening on every channel. */
  listening(): void;
  /** The connection was lost; the next attempt comes in `retryInMs` (undefined when stopping). */
  lost(err: unknown, retryInMs: number | undefined): void;
  /** An attempt to connect failed; the next comes in `retryInMs`. */
  unavailable(err: unknown, retryInMs: number): void;
}

function pidOf(client: pg.Client): string {
  return String((client as unknown as { processID: number | null }).processID);
}

/**
 * One dedicated connection (outside the pool) that LISTENs on some channels, reconnects with a
 * growing delay when lost, and is checked by a heartbeat: a connection can die without a word (a
 * firewall or NAT dropping an idle flow, a failover without a reset), and notifications then
 * silently stop.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private connection: ListeningConnection | undefined;
  private stopping = false;
  private reconnectDelay = 100;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /** Checks the connection now (set while connected). */
  private check: (() => void) | undefined;

  constructor(
    private readonly connectionString: string | undefined,
    private readonly options: NotificationListenerOptions,
    private readonly handlers: NotificationHandlers,
  ) {}

  /** The backend pid of the listening connection, while there is one. */
  get pid(): string | undefined {
    return this.connection?.pid;
  }

  start(): Promise<void> {
    return this.connect();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.heartbeat) clearInterval(this.heartbeat);
    const c = this.client;
    this.client = undefined;
    this.connection = undefined;
    await c?.end().catch(() => undefined);
  }

  /** Checks the connection now (nothing when there is none, or a check is under way). */
  probe(): void {
    this.check?.();
  }

  private async connect(): Promise<void> {
    const { applicationName, channels, heartbeatMs, heartbeatDeadlineMs } = this.options;
    const client = new pg.Client({
      connectionString: this.connectionString,
      application_name: applicationName,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    const via: ListeningConnection = {
      get pid() {
        return pidOf(client);
      },
      notify: async (channel, payload) => {
        await client.query(`SELECT pg_notify($1, $2)`, [channel, payload]);
      },
    };
    client.on('notification', (msg) => this.handlers.notification(msg.channel, msg.payload, via));
    const lost = (err?: unknown): void => {
      if (this.client !== client) return;
      this.client = undefined;
      this.connection = undefined;
      this.check = undefined;
      if (this.heartbeat) clearInterval(this.heartbeat);
      this.heartbeat = undefined;
      this.handlers.lost(err, this.stopping ? undefined : this.reconnectDelay);
      if (this.stopping) return;
      this.scheduleReconnect();
      void client.end().catch(() => undefined);
      // A connection that stopped answering would not finish a polite end either.
      (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    try {
      await client.connect();
      await client.query(channels.map((c) => `LISTEN ${c}`).join('; '));
    } catch (err) {
      await client.end().catch(() => undefined);
      this.handlers.unavailable(err, this.reconnectDelay);
      this.scheduleReconnect();
      return;
    }
    if (this.stopping) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.connection = via;
    this.reconnectDelay = 100;
    let checking = false;
    this.check = () => {
      if (checking || this.client !== client) return;
      checking = true;
      let deadline: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        deadline = setTimeout(() => reject(new Error(`no answer within ${heartbeatDeadlineMs} ms`)), heartbeatDeadlineMs);
      });
      Promise.race([client.query('SELECT 1'), late])
        .catch((err: unknown) => lost(err))
        .finally(() => {
          clearTimeout(deadline);
          checking = false;
        });
    };
    this.heartbeat = setInterval(() => this.check?.(), heartbeatMs);
    this.heartbeat.unref();
    this.handlers.listening();
  }

  private scheduleReconnect(): void {
    if (this.stopping || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.options.maxReconnectMs, this.reconnectDelay * 2);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }
}

/** LISTEN/NOTIFY on the service's database: dedicated listening connections, and notifications sent in a transaction. */
@Injectable()
export class NotificationChannels {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** A listener on the DataSource's database; it connects on start(). */
  listener(options: NotificationListenerOptions, handlers: NotificationHandlers): NotificationListener {
    return new NotificationListener((this.dataSource.options as { url?: string }).url, options, handlers);
  }

  /** Notifies `channel` from the caller's transaction: the notification goes out only if it commits. */
  async notify(channel: string, payload: string, m: EntityManager): Promise<void> {
    await m.query(`SELECT pg_notify($1, $2)`, [channel, payload]);
  }

  /** The backend pids of the connections named `applicationName` on this database, listening ones included. */
  async pidsOf(applicationName: string): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT "pid" FROM pg_stat_activity WHERE "application_name" = $1 AND "datname" = current_database()`,
      [applicationName],
    )) as { pid: number }[];
    return rows.map((r) => String(r.pid));
  }
}
