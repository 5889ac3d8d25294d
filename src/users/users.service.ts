import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { AuditWriter } from '../audit/audit.writer.js';
import type { AuditInput } from '../audit/audit.types.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { decodeCursor, encodeCursor } from '../common/keyset-cursor.js';
import { storableTime } from '../common/timestamps.js';
import { UUID_PATTERN } from '../common/uuid.js';
import { ConfigError } from '../config/config.js';
import { isUniqueViolation } from '../database/db-errors.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import type { Role } from '../access/role.js';
import type { User } from './user.entity.js';
import { UsersRepository, type NewUserRow } from './users.repository.js';

export interface NewUser {
  email: string;
  passwordHash: string;
  firstname: string;
  surname: string;
  phoneNumber?: string | null;
  role?: Role;
}

export interface ProfileChange {
  firstname?: string;
  surname?: string;
  phoneNumber?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** A users page's cursor: created_at to the microsecond, and the id. */
const isUserCursor = (at: string, id: string): boolean =>
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/.test(at) && storableTime(at) !== undefined && UUID_PATTERN.test(id);

/**
 * Work another module does, in the transaction that disables an account (after the row is written,
 * before its audit event): what it gives is added to the event's details.
 */
export type DisableHook = (m: EntityManager, userId: string) => Promise<Record<string, unknown>>;

/** Thrown by applyProvidedRole: the change would leave no enabled admin. */
export class LastAdminError extends Error {
  constructor() {
    super('the last enabled admin cannot be demoted');
    this.name = 'LastAdminError';
  }
}

function profileComplete(u: Pick<User, 'firstname' | 'surname' | 'phoneNumber'>): boolean {
  return Boolean(u.firstname && u.surname && u.phoneNumber);
}

@Injectable()
export class UsersService {
  private readonly logger = new Logger(UsersService.name);
  private readonly disableHooks: DisableHook[] = [];

  constructor(
    private readonly users: UsersRepository,
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly revocations: RevocationBus,
    private readonly audit: AuditWriter,
  ) {}

  /** Registers work to run in every transaction that disables an account (the tokens module revokes its tokens). */
  onDisable(hook: DisableHook): void {
    this.disableHooks.push(hook);
  }

  /**
   * Applies a change that affects what validation says of the user's tokens (disabled, role,
   * profile), and tells every instance before returning.
   *
   * The row is read locked (FOR NO KEY UPDATE) in the transaction that writes it, and only the
   * columns the change names are written: a concurrent change of the same user either committed
   * before this read and is seen by it, or waits for this one to commit and then applies to its
   * result. No change writes back a value it did not mean to change.
   *
   * With `lockAdmins`, the rows of every enabled admin are locked first, in id order, and their ids
   * given to `decide`: two changes that may each remove an admin (demote, disable) run one after the
   * other, and the second sees the admins the first left.
   *
   * A change that changes something commits with its audit event (`eventOf`), or not at all.
   */
  private async applyChange(
    id: string,
    decide: (current: User, enabledAdmins: readonly string[]) => { set: Partial<User>; changed: string[] },
    eventOf: (user: User, changed: string[], disabled: Record<string, unknown>) => AuditInput,
    options: { lockAdmins?: boolean } = {},
  ): Promise<{ user: User; changed: string[] }> {
    const { user, changed, event } = await this.dataSource.transaction(async (m) => {
      const admins = options.lockAdmins ? await this.users.lockEnabledAdmins(m) : [];
      const current = await this.users.lockById(id, m);
      if (!current) throw AppError.notFound('User');
      const { set, changed } = decide(current, admins);
      if (changed.length === 0) return { user: current, changed, event: undefined };
      await this.users.update(id, set, m);
      Object.assign(current, set);
      // A disable ends the account's credentials for good (its tokens here, its sessions by the epoch
      // `decide` moved): enabling it again later brings none of them back.
      const disabled: Record<string, unknown> = {};
      if (set.disabledAt) for (const hook of this.disableHooks) Object.assign(disabled, await hook(m, current.id));
      // The stored id, not the caller's text: a path id may be an upper-case UUID, which PostgreSQL
      // matches but the caches (keyed by the stored, lower-case ids) would not. The one event of the
      // user drops every token of theirs from the caches and names them on the revocation stream.
      const published = await this.revocations.publish(m, 'user', current.id);
      await this.audit.recordWithin(m, eventOf(current, changed, disabled));
      return { user: current, changed, event: published };
    });
    if (event) await this.revocations.settled(event);
    return { user, changed };
  }

  /** Creates the account, in one transaction with its audit event. */
  async create(input: NewUser, eventOf: (user: User) => AuditInput): Promise<User> {
    const now = new Date();
    const row: NewUserRow = {
      email: input.email.toLowerCase(),
      passwordHash: input.passwordHash,
      firstname: input.firstname,
      surname: input.surname,
      phoneNumber: input.phoneNumber ?? null,
      role: input.role ?? 'user',
      profileCompletedAt: null,
      disabledAt: null,
    };
    if (profileComplete(row)) row.profileCompletedAt = now;
    try {
      return await this.dataSource.transaction(async (m) => {
        const user = await this.users.insert(row, m);
        await this.audit.recordWithin(m, eventOf(user));
        return user;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw new AppError(409, ErrorCode.EmailTaken, 'An account with this email already exists');
      throw err;
    }
  }

  /** The user with its password hash, for login. */
  findByEmailWithPassword(email: string): Promise<User | null> {
    return this.users.findByEmailWithPassword(email.toLowerCase());
  }

  findById(id: string): Promise<User | null> {
    return this.users.findById(id);
  }

  /** The user with its password hash if it exists and is not disabled, for a session (bound to the password it was opened with). */
  async findActiveByIdWithPassword(id: string): Promise<User | null> {
    const user = await this.users.findByIdWithPassword(id);
    return user && user.disabledAt === null ? user : null;
  }

  async getById(id: string): Promise<User> {
    const user = await this.findById(id);
    if (!user) throw AppError.notFound('User');
    return user;
  }

  async updateProfile(id: string, change: ProfileChange, ctx?: RequestContext): Promise<{ user: User; changed: string[] }> {
    const event = (user: User, changed: string[]): AuditInput => ({
      type: 'user.update',
      outcome: 'success',
      actorUserId: user.id,
      ...ctx,
      details: { targetUserId: user.id, changed },
    });
    return this.applyChange(
      id,
      (user) => {
        const set: Partial<User> = {};
        const changed: string[] = [];
        for (const key of ['firstname', 'surname', 'phoneNumber'] as const) {
          const value = change[key];
          if (value !== undefined && value !== user[key]) {
            set[key] = value;
            changed.push(key);
          }
        }
        if (!user.profileCompletedAt && profileComplete({ ...user, ...set })) {
          set.profileCompletedAt = new Date();
          changed.push('profileCompletedAt');
        }
        return { set, changed };
      },
      event,
    );
  }

  async adminUpdate(
    actorId: string,
    id: string,
    change: { role?: Role; disabled?: boolean },
    ctx?: RequestContext,
  ): Promise<{ user: User; changed: string[] }> {
    // UUIDs compare case-insensitively (PostgreSQL matches an upper-case path id to the row).
    if (id.toLowerCase() === actorId.toLowerCase() && ((change.role && change.role !== 'admin') || change.disabled === true)) {
      throw AppError.badRequest('Invalid request: an admin cannot demote or disable their own account', [
        { field: change.disabled === true ? 'disabled' : 'role', message: 'cannot be applied to your own account' },
      ]);
    }
    const mayRemoveAdmin = (change.role !== undefined && change.role !== 'admin') || change.disabled === true;
    return this.applyChange(
      id,
      (user, enabledAdmins) => {
        const set: Partial<User> = {};
        const changed: string[] = [];
        if (change.role !== undefined && change.role !== user.role) {
          set.role = change.role;
          changed.push('role');
        }
        if (change.disabled !== undefined && change.disabled !== (user.disabledAt !== null)) {
          set.disabledAt = change.disabled ? new Date() : null;
          // Sessions are bound to the epoch (credentialsTag): those opened before the disable end for good.
          if (change.disabled) set.sessionEpoch = user.sessionEpoch + 1;
          changed.push('disabled');
        }
        // Another admin's change running at the same time may have removed every other admin.
        const removesAdmin =
          user.role === 'admin' && user.disabledAt === null && ((set.role ?? 'admin') !== 'admin' || Boolean(set.disabledAt));
        if (removesAdmin && !enabledAdmins.some((a) => a !== user.id)) {
          throw AppError.badRequest('Invalid request: the last enabled admin cannot be demoted or disabled', [
            { field: set.disabledAt ? 'disabled' : 'role', message: 'cannot be applied to the last enabled admin' },
          ]);
        }
        return { set, changed };
      },
      (user, changed, disabled) => ({
        type: 'user.update',
        outcome: 'success',
        actorUserId: actorId,
        ...ctx,
        details: { targetUserId: user.id, changed, role: user.role, disabled: user.disabledAt !== null, ...disabled },
      }),
      { lockAdmins: mayRemoveAdmin },
    );
  }

  /**
   * The role an identity provider's claim gives (single sign-on, docs/sso.md), applied at every
   * login as an admin's change is: in one transaction with its `user.update` event, and published
   * on the revocation bus, so that the caches drop the user's tokens and a token whose privileged
   * scope the new role no longer allows stops validating for it. The last enabled admin is not
   * demoted: `LastAdminError` is thrown instead.
   */
  async applyProvidedRole(
    id: string,
    role: Role,
    details: Record<string, unknown>,
    ctx?: RequestContext,
  ): Promise<{ user: User; changed: string[] }> {
    return this.applyChange(
      id,
      (user, enabledAdmins) => {
        if (user.role === role) return { set: {}, changed: [] };
        if (user.role === 'admin' && user.disabledAt === null && !enabledAdmins.some((a) => a !== user.id)) throw new LastAdminError();
        return { set: { role }, changed: ['role'] };
      },
      (user, changed) => ({
        type: 'user.update',
        outcome: 'success',
        actorUserId: user.id,
        ...ctx,
        details: { targetUserId: user.id, changed, role: user.role, source: 'oidc', ...details },
      }),
      { lockAdmins: role !== 'admin' },
    );
  }

  /**
   * Ends every session of the account (as a disable does, by moving its session epoch), without
   * disabling it: for an identity provider's back-channel logout. Its API tokens are not touched.
   */
  async endSessions(id: string, eventOf: (user: User) => AuditInput): Promise<void> {
    await this.dataSource.transaction(async (m) => {
      const current = await this.users.lockById(id, m);
      if (!current) return;
      await this.users.update(id, { sessionEpoch: current.sessionEpoch + 1 }, m);
      await this.audit.recordWithin(m, eventOf(current));
    });
  }

  /** Newest first, keyset-paginated on (created_at, id). */
  async list(limit = 50, cursor?: string): Promise<Page<User>> {
    // One more than asked: whether it comes tells whether there is a next page.
    const after = cursor ? decodeCursor(cursor, isUserCursor) : undefined;
    const rows = await this.users.newestFirst(limit + 1, after && { ts: after.at, id: after.id });
    const items = rows.slice(0, limit).map((r) => r.user);
    const last = items.length === limit && rows.length > limit ? rows[limit - 1] : undefined;
    return { items, nextCursor: last ? encodeCursor(last.cursorTs, last.user.id) : null };
  }

  /**
   * Makes sure the configured admin exists and has the configured password: creates the account,
   * or sets the password of the enabled admin account with this email. Returns what changed.
   *
   * An existing account that is not an enabled admin is refused, not promoted or re-enabled:
   * registration does not prove the address, so anyone may have registered it before it was
   * configured, and would then keep their session and tokens with the admin role; and an admin
   * account that another admin disabled or demoted stays so until an admin decides otherwise.
   */
  async ensureAdmin(
    email: string,
    password: string,
    hasher: { hash(p: string): Promise<string>; verify(h: string | undefined, p: string): Promise<boolean> },
  ): Promise<void> {
    const existing = await this.findByEmailWithPassword(email);
    if (!existing) {
      // Changes made at start are audited like any other, with no actor: the configuration made them.
      await this.create(
        { email, passwordHash: await hasher.hash(password), firstname: 'Admin', surname: 'HospiAI', role: 'admin' },
        (created) => ({
          type: 'auth.register',
          outcome: 'success',
          actorUserId: created.id,
          details: { email: created.email, source: 'ADMIN_EMAIL' },
        }),
      );
      this.logger.log(`admin account ${email} created`);
      return;
    }
    if (existing.role !== 'admin' || existing.disabledAt !== null) {
      const state = [
        existing.role !== 'admin' ? `role ${existing.role}` : undefined,
        existing.disabledAt !== null ? 'disabled' : undefined,
      ];
      throw new ConfigError(
        'ADMIN_EMAIL',
        `names an existing account that is not an enabled admin (${state.filter(Boolean).join(', ')}): ` +
          'an admin can give it the role or enable it (PATCH /api/users/:id), or set ADMIN_EMAIL to an address no account has',
      );
    }
    if (await hasher.verify(existing.passwordHash, password)) return;
    const passwordHash = await hasher.hash(password);
    await this.dataSource.transaction(async (m) => {
      await this.users.update(existing.id, { passwordHash }, m);
      await this.audit.recordWithin(m, {
        type: 'user.update',
        outcome: 'success',
        details: { targetUserId: existing.id, changed: ['password'], source: 'ADMIN_PASSWORD' },
      });
    });
    this.logger.log(`admin account ${email} updated (password)`);
  }
}
