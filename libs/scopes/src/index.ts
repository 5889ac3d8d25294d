/**
 * The scope catalogue: the one list of API-token scopes, shared by the
 * service (validation, guards, Swagger) and by the programs that call it.
 */
export const SCOPES = [
  { scope: 'read:data', description: 'Lire les données patients et hospitalières', privileged: false },
  { scope: 'write:data', description: 'Créer et modifier les données', privileged: false },
  { scope: 'read:bookings', description: 'Consulter les rendez-vous', privileged: false },
  { scope: 'write:bookings', description: 'Créer et modifier les rendez-vous', privileged: false },
  { scope: 'read:audit', description: "Consulter le journal d'audit (auditeurs et administrateurs)", privileged: true },
] as const;

export type Scope = (typeof SCOPES)[number]['scope'];

export const SCOPE_NAMES: readonly Scope[] = SCOPES.map((s) => s.scope);

const known: ReadonlySet<string> = new Set(SCOPE_NAMES);

export function isScope(value: unknown): value is Scope {
  return typeof value === 'string' && known.has(value);
}

/** Scopes that only auditors and admins may put on a token. */
export const PRIVILEGED_SCOPES: readonly Scope[] = SCOPES.filter((s) => s.privileged).map((s) => s.scope);

/** True when every required scope is held. An empty requirement is always met. */
export function hasAllScopes(required: readonly string[], held: readonly string[]): boolean {
  if (required.length === 0) return true;
  const set = new Set(held);
  return required.every((s) => set.has(s));
}
