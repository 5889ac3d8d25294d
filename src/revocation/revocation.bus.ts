import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import { NotificationChannels, type ListeningConnection, type NotificationListener } from '../database/notification-listener.js';
import { RevocationEventsRepository, type RevocationEvent } from './revocation-events.repository.js';

export const REVOCATION_CHANNEL = 'hospiai_revocation';
/**
 * Each instance, once it has applied a revocation, says so here: `<event id> <instance id> <pid>`, the
 * pid being that of its listening connection (as pg_stat_activity shows it).
 */
export const REVOCATION_ACK_CHANNEL = 'hospiai_revocation_ack';
const LISTENER_NAME = 'hospiai-revocations';
/** How long the revoking instance waits for every listening instance to have applied a revocation. */
export const ACK_WAIT_MS = 1000;
const MAX_RECONNECT_MS = 5000;
/**
 * How often the listening connection is checked, and how long it has to answer (generous: a
 * loaded machine can take a while, and a false alarm empties the caches).
 */
export const HEARTBEAT_MS = 1000;
export const HEARTBEAT_DEADLINE_MS = 3000;

/**
 * A revoked MCP client, on the same channel as the token and user revocations (and acknowledged the
 * same way), so that every instance drops the client's cached credentials before the revoke is
 * answered. Not a revocation_event row: the revocation stream, which replays those, is about
 * tokens; its id is `client:<uuid>` (never a sequence number).
 */
export interface ClientRevocation {
  id: string;
  kind: 'mcp_client';
  /** The client's internal id (mcp_client.id). */
  subjectId: string;
  occurredAt: string;
}

type BusEvent = RevocationEvent | ClientRevocation;

/** How many of the latest revocations an instance remembers (seen, acknowledged). */
const REMEMBERED_REVOCATIONS = 1000;

/** Forgets the oldest revocation (insertion order) once more than REMEMBERED_REVOCATIONS are remembered. */
function forgetOldest(remembered: Map<string, unknown> | Set<string>): void {
  if (remembered.size > REMEMBERED_REVOCATIONS) remembered.delete(remembered.keys().next().value as string);
}

/**
 * Revocations across instances, through PostgreSQL LISTEN/NOTIFY.
 *
 * A revocation is written (revocation_event) and notified in the transaction
 * that revokes, so the notification goes out only if it commits. Every
 * instance keeps one listening connection; caches trust themselves only while
 * it is up (`healthy`), and `epoch` moves on every revocation and every
 * reconnection, so that a value read before a revocation is never cached after it.
 *
 * A connection can also die without a word (a firewall or NAT dropping an idle flow, a
 * failover without a reset): no error, no end, and notifications silently stop. So the
 * listening connection answers a query every HEARTBEAT_MS, within HEARTBEAT_DEADLINE_MS, or
 * it is taken as lost; and a revocation of this instance whose notification does not come back
 * in time has it checked at once.
 *
 * The instance that revokes answers only once every listening instance has applied the
 * revocation: each one, having dropped what it cached, acknowledges on REVOCATION_ACK_CHANNEL,
 * naming its listening connection, and the revoking instance waits (ACK_WAIT_MS at most) for the
 * acknowledgement of every connection listening once the revocation has committed. So the very
 * next call, on any instance, is refused, even when another instance receives its notification
 * later than this one (a longer network path, a busy process).
 */
@Injectable()
export class RevocationBus implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(RevocationBus.name);
  private readonly emitter = new EventEmitter();
  private readonly listener: NotificationListener;
  /**
   * The listening connections (backend pids) that have acknowledged each of the latest revocations
   * (even before settled() waits for them).
   */
  private readonly acknowledged = new Map<string, Set<string>>();
  /**
   * The revocations of this instance being settled: the listening connections whose acknowledgement
   * they wait for (unknown until counted). Its own notification of one of them is not applied a
   * second time when it comes back.
   */
  private readonly settling = new Map<string, { expected: readonly string[] | undefined; done: () => void }>();
  /** This process, in acknowledgements. */
  readonly instanceId = randomUUID();
  /** Ids of the latest notifications received, to know one has already come back. */
  private readonly seen = new Set<string>();
  /** True while the listening connection is up. */
  healthy = false;
  /** Moves on every revocation seen and every change of connection. */
  epoch = 0;

  constructor(
    private readonly channels: NotificationChannels,
    private readonly events: RevocationEventsRepository,
  ) {
    this.emitter.setMaxListeners(0);
    this.listener = channels.listener(
      {
        applicationName: LISTENER_NAME,
        channels: [REVOCATION_CHANNEL, REVOCATION_ACK_CHANNEL],
        heartbeatMs: HEARTBEAT_MS,
        heartbeatDeadlineMs: HEARTBEAT_DEADLINE_MS,
        maxReconnectMs: MAX_RECONNECT_MS,
      },
      {
        notification: (channel, payload, via) => this.notified(channel, payload, via),
        listening: () => {
          this.epoch += 1;
          this.emitter.emit('reset');
          this.healthy = true;
          this.logger.log('revocation channel listening');
        },
        lost: (err, retryInMs) => {
          this.healthy = false;
          this.epoch += 1;
          this.emitter.emit('reset');
          if (retryInMs === undefined) return;
          this.logger.warn({ err }, `revocation channel lost: caches bypassed, reconnecting in ${retryInMs} ms`);
        },
        unavailable: (err, retryInMs) => {
          this.logger.warn({ err }, `revocation channel unavailable: caches bypassed, retrying in ${retryInMs} ms`);
        },
      },
    );
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.listener.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.healthy = false;
    await this.listener.stop();
  }

  /** Revocations (from this instance or any other), as they are committed. */
  onRevocation(listener: (e: RevocationEvent) => void): () => void {
    this.emitter.on('revocation', listener);
    return () => this.emitter.off('revocation', listener);
  }

  /** MCP client revocations (from this instance or any other), as they are committed. */
  onClientRevocation(listener: (e: ClientRevocation) => void): () => void {
    this.emitter.on('client-revocation', listener);
    return () => this.emitter.off('client-revocation', listener);
  }

  /** Called when the channel (re)connects or drops: what was cached may be stale. */
  onReset(listener: () => void): () => void {
    this.emitter.on('reset', listener);
    return () => this.emitter.off('reset', listener);
  }

  /**
   * Records and notifies a revocation inside the caller's transaction.
   *
   * Revocations take their ids in the order they commit: the id is taken under a transaction-level
   * lock that the next revoking transaction waits for. A sequence alone hands out ids in the order
   * the INSERTs run, and two revoking transactions can commit in the other order: a stream client
   * sent the later id first would resume after it (Last-Event-ID) and never be sent the earlier one.
   */
  async publish(manager: EntityManager, kind: RevocationEvent['kind'], subjectId: string): Promise<RevocationEvent> {
    const event = await this.events.append(kind, subjectId, manager);
    await this.channels.notify(REVOCATION_CHANNEL, JSON.stringify(event), manager);
    return event;
  }

  /** Notifies an MCP client's revocation inside the caller's transaction (sent only if it commits). */
  async publishClient(manager: EntityManager, clientId: string): Promise<ClientRevocation> {
    const event: ClientRevocation = {
      id: `client:${randomUUID()}`,
      kind: 'mcp_client',
      subjectId: clientId,
      occurredAt: new Date().toISOString(),
    };
    await this.channels.notify(REVOCATION_CHANNEL, JSON.stringify(event), manager);
    return event;
  }

  /**
   * After the revoking transaction committed: applies the revocation here at once, then waits
   * until every listening instance (this one included) has applied it too, ACK_WAIT_MS at most.
   */
  async settled(event: BusEvent): Promise<void> {
    if (!this.healthy) {
      this.deliver(event);
      // Our channel is down, so no acknowledgement can reach us; the other instances still hear of
      // the revocation through theirs. Answering at once would let one of them, its notification a
      // little late, still answer its next call from its cache: give them the time they would have
      // had to acknowledge (ACK_WAIT_MS) when any is listening.
      const others = await this.listeners().then(
        (pids) => pids.length,
        () => 1,
      );
      if (others > 0) await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS));
      return;
    }
    let finish = (): void => undefined;
    const all = new Promise<void>((resolve) => (finish = resolve));
    const entry: { expected: readonly string[] | undefined; done: () => void } = { expected: undefined, done: finish };
    const count = (): number => this.acknowledged.get(event.id)?.size ?? 0;
    const ownPid = this.listener.pid;
    this.settling.set(event.id, entry);
    this.deliver(event);
    const timer = setTimeout(() => {
      this.logger.warn(
        { revocation: event.id, acknowledged: count(), expected: entry.expected?.length },
        `revocation not acknowledged by every listening instance within ${ACK_WAIT_MS} ms`,
      );
      // Late, or our own connection is gone without a word: check it now.
      this.listener.probe();
      finish();
    }, ACK_WAIT_MS);
    // The connections listening now, each by its pid: counted by number, the acknowledgement of an
    // instance that has stopped listening since (a restart, a reconnection) would stand for that of
    // one still listening that has not yet applied the revocation.
    try {
      entry.expected = await this.listeners();
    } catch {
      // Unknown: wait for our own acknowledgement at least, which comes after every instance was sent the notification.
      entry.expected = ownPid ? [ownPid] : [];
    }
    if (this.allAcknowledged(event.id, entry.expected)) finish();
    await all;
    clearTimeout(timer);
    this.settling.delete(event.id);
  }

  /** The listening connections now, by backend pid (one per instance, this one's included). */
  private listeners(): Promise<string[]> {
    return this.channels.pidsOf(LISTENER_NAME);
  }

  private allAcknowledged(eventId: string, expected: readonly string[] | undefined): boolean {
    if (!expected) return false;
    const by = this.acknowledged.get(eventId);
    return expected.every((pid) => by?.has(pid));
  }

  private deliver(event: BusEvent): void {
    this.epoch += 1;
    this.emitter.emit(event.kind === 'mcp_client' ? 'client-revocation' : 'revocation', event);
  }

  private notified(channel: string, payload: string | undefined, via: ListeningConnection): void {
    if (channel === REVOCATION_ACK_CHANNEL && payload) {
      const [eventId, from, pid] = payload.split(' ');
      if (!eventId || !from || !pid) return;
      const by = this.acknowledged.get(eventId) ?? new Set<string>();
      by.add(pid);
      this.acknowledged.set(eventId, by);
      forgetOldest(this.acknowledged);
      const entry = this.settling.get(eventId);
      if (entry && this.allAcknowledged(eventId, entry.expected)) entry.done();
      return;
    }
    if (channel !== REVOCATION_CHANNEL || !payload) return;
    let event: BusEvent;
    try {
      event = JSON.parse(payload) as BusEvent;
    } catch {
      return;
    }
    this.seen.add(event.id);
    forgetOldest(this.seen);
    if (this.settling.has(event.id)) {
      // Ours, already applied locally by settled().
      this.epoch += 1;
    } else {
      this.deliver(event);
    }
    // Applied (the caches dropped what they held): said to the instance that revoked.
    via.notify(REVOCATION_ACK_CHANNEL, `${event.id} ${this.instanceId} ${via.pid}`).catch(() => undefined);
  }
}
