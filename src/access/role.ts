/** The roles of an account (the database's `user_role` enum). */
export const ROLES = ['user', 'auditor', 'admin'] as const;
export type Role = (typeof ROLES)[number];
