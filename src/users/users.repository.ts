import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import type { EntityManager, Repository } from 'typeorm';
import type { Role } from '../access/role.js';
import { User } from './user.entity.js';

/** The fields of a new account, as stored. */
export type NewUserRow = Pick<
  User,
  'email' | 'passwordHash' | 'firstname' | 'surname' | 'phoneNumber' | 'role' | 'profileCompletedAt' | 'disabledAt'
>;

/** A user of a page, with the exact text of its creation time (the keyset cursor's first half). */
export interface UserPageRow {
  user: User;
  cursorTs: string;
}

/**
 * Every query on `users`. Each method runs on `m` when given (a transaction the caller opened with
 * `dataSource.transaction`), on the DataSource's manager otherwise; the locking ones need one.
 */
@Injectable()
export class UsersRepository {
  constructor(@InjectRepository(User) private readonly users: Repository<User>) {}

  private repo(m?: EntityManager): Repository<User> {
    return m ? m.getRepository(User) : this.users;
  }

  /** Inserts the account and gives it back with its generated id and times. */
  insert(row: NewUserRow, m?: EntityManager): Promise<User> {
    const repo = this.repo(m);
    return repo.save(repo.create(row));
  }

  findById(id: string, m?: EntityManager): Promise<User | null> {
    return this.repo(m).findOneBy({ id });
  }

  /** The user with its password hash (a column not read otherwise). */
  findByIdWithPassword(id: string, m?: EntityManager): Promise<User | null> {
    return this.repo(m).createQueryBuilder('u').addSelect('u.passwordHash').where('u.id = :id', { id }).getOne();
  }

  /** The user with its password hash, by its (lower-cased) email. */
  findByEmailWithPassword(email: string, m?: EntityManager): Promise<User | null> {
    return this.repo(m).createQueryBuilder('u').addSelect('u.passwordHash').where('u.email = :email', { email }).getOne();
  }

  /** The user, its row locked FOR NO KEY UPDATE until the caller's transaction ends. */
  lockById(id: string, m: EntityManager): Promise<User | null> {
    return m.getRepository(User).createQueryBuilder('u').setLock('for_no_key_update').where('u.id = :id', { id }).getOne();
  }

  /** Locks the rows of the enabled admins, in id order (so that two such locks never deadlock), and gives their ids. */
  async lockEnabledAdmins(m: EntityManager): Promise<string[]> {
    const rows = (await m.query(
      `SELECT "id" FROM "users" WHERE "role" = 'admin' AND "disabled_at" IS NULL ORDER BY "id" FOR NO KEY UPDATE`,
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /**
   * The role of the user if the account exists and is enabled, its row locked FOR SHARE until the
   * caller's transaction ends (a disable, which locks it FOR NO KEY UPDATE, waits); else undefined.
   */
  async lockEnabledForShare(id: string, m: EntityManager): Promise<Role | undefined> {
    const rows = (await m.query(`SELECT "role" FROM "users" WHERE "id" = $1 AND "disabled_at" IS NULL FOR SHARE`, [id])) as { role: Role }[];
    return rows[0]?.role;
  }

  /** Writes only the columns `set` names. */
  async update(id: string, set: Partial<User>, m?: EntityManager): Promise<void> {
    await this.repo(m).update({ id }, set);
  }

  /**
   * Up to `limit` users, newest first, keyset-paginated on (created_at, id): those strictly before
   * `after` when given. Each comes with its creation time as text to the microsecond.
   */
  async newestFirst(limit: number, after?: { ts: string; id: string }): Promise<UserPageRow[]> {
    const qb = this.users
      .createQueryBuilder('u')
      .addSelect(`to_char(u.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`, 'cursor_ts')
      .orderBy('u.created_at', 'DESC')
      .addOrderBy('u.id', 'DESC')
      .limit(limit);
    if (after) qb.where('(u.created_at, u.id) < (:ts::timestamptz, :id::uuid)', after);
    const { entities, raw } = await qb.getRawAndEntities<{ cursor_ts: string }>();
    return entities.map((user, i) => ({ user, cursorTs: raw[i].cursor_ts }));
  }
}
