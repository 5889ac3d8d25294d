import type { Role } from '../access/role.js';
import type { User } from './user.entity.js';

/** A user as the API shows it (docs/api.md, "Accounts"). */
export class UserView {
  /** @example "6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6" */
  id: string;
  /** @example "marie.curie@chu-exemple.fr" */
  email: string;
  /** @example "Marie" */
  firstname: string;
  /** @example "Curie" */
  surname: string;
  /**
   * "firstname surname"
   * @example "Marie Curie"
   */
  name: string;
  /** @example "+33 1 23 45 67 89" */
  phoneNumber: string | null;
  /**
   * Set the first time firstname, surname and phoneNumber are all present.
   * @example "2026-11-26T08:30:00.000Z"
   */
  profileCompletedAt: string | null;
  /** @example "user" */
  role: Role;
  /** @example "2026-11-26T08:30:00.000Z" */
  createdAt: string;
}

/** What admins see of a user: the public view plus whether the account is disabled. */
export class AdminUserView extends UserView {
  /** @example false */
  disabled: boolean;
}

export function toUserView(u: User): UserView {
  return {
    id: u.id,
    email: u.email,
    firstname: u.firstname,
    surname: u.surname,
    name: `${u.firstname} ${u.surname}`.trim(),
    phoneNumber: u.phoneNumber,
    profileCompletedAt: u.profileCompletedAt ? u.profileCompletedAt.toISOString() : null,
    role: u.role,
    createdAt: u.createdAt.toISOString(),
  };
}

export function toAdminUserView(u: User): AdminUserView {
  return { ...toUserView(u), disabled: u.disabledAt !== null };
}

export class UserEnvelope {
  user: UserView;
}

export class AdminUserEnvelope {
  user: AdminUserView;
}

export class UserPage {
  items: AdminUserView[];
  /**
   * Pass as `cursor` to get the next page; null on the last page.
   * @example "MjAyNi0xMS0yNlQwODozMDowMC4wMDBafDZmMWMyYThl"
   */
  nextCursor: string | null;
}
