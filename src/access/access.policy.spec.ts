import { describeRule, hasAllScopes, isAllowed, type AccessRule } from './access.policy.js';
import type { Principal } from './principal.js';

const session = (role: 'user' | 'auditor' | 'admin'): Principal => ({
  kind: 'session',
  userId: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
  role,
  email: 'marie.curie@chu-exemple.fr',
});

const token = (scopes: Extract<Principal, { kind: 'token' }>['scopes'], role: 'user' | 'auditor' | 'admin' = 'admin'): Principal => ({
  kind: 'token',
  userId: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
  role,
  tokenId: '0b6f5e1a-2c3d-4e5f-8a9b-0c1d2e3f4a5b',
  scopes,
});

describe('isAllowed', () => {
  it('lets anyone through a public rule', () => {
    const rule: AccessRule = { public: true };
    expect(isAllowed(rule, session('user'))).toBe(true);
    expect(isAllowed(rule, token([]))).toBe(true);
  });

  it('lets a session through a roles rule only with one of the roles', () => {
    const rule: AccessRule = { roles: ['auditor', 'admin'] };
    expect(isAllowed(rule, session('admin'))).toBe(true);
    expect(isAllowed(rule, session('auditor'))).toBe(true);
    expect(isAllowed(rule, session('user'))).toBe(false);
  });

  it('lets a token through a scopes rule only when it holds every scope', () => {
    const rule: AccessRule = { scopes: ['read:data', 'write:data'] };
    expect(isAllowed(rule, token(['read:data', 'write:data']))).toBe(true);
    expect(isAllowed(rule, token(['write:data', 'read:bookings', 'read:data']))).toBe(true);
    expect(isAllowed(rule, token(['read:data']))).toBe(false);
    expect(isAllowed(rule, token([]))).toBe(false);
  });

  it('refuses a token on a roles-only rule, whatever its owner role and scopes', () => {
    const rule: AccessRule = { roles: ['user', 'auditor', 'admin'] };
    expect(isAllowed(rule, token(['read:data', 'write:data', 'read:bookings', 'write:bookings', 'read:audit'], 'admin'))).toBe(false);
    expect(isAllowed(rule, token([], 'user'))).toBe(false);
  });

  it('refuses a session on a scopes-only rule, whatever its role', () => {
    const rule: AccessRule = { scopes: ['read:audit'] };
    expect(isAllowed(rule, session('admin'))).toBe(false);
    expect(isAllowed(rule, session('auditor'))).toBe(false);
  });

  it('accepts either kind on a rule with both roles and scopes', () => {
    const rule: AccessRule = { roles: ['auditor', 'admin'], scopes: ['read:audit'] };
    expect(isAllowed(rule, session('auditor'))).toBe(true);
    expect(isAllowed(rule, session('user'))).toBe(false);
    expect(isAllowed(rule, token(['read:audit'], 'user'))).toBe(true);
    expect(isAllowed(rule, token(['read:data'], 'admin'))).toBe(false);
  });

  it('refuses every token when the required scopes are empty', () => {
    expect(isAllowed({ scopes: [] }, token(['read:data']))).toBe(false);
    expect(isAllowed({ roles: ['admin'], scopes: [] }, token(['read:audit'], 'admin'))).toBe(false);
  });

  it('refuses everyone on an empty rule', () => {
    expect(isAllowed({}, session('admin'))).toBe(false);
    expect(isAllowed({ roles: [] }, session('admin'))).toBe(false);
    expect(isAllowed({}, token(['read:data']))).toBe(false);
    expect(isAllowed({ public: false }, session('admin'))).toBe(false);
  });
});

describe('hasAllScopes', () => {
  it('is met when every required scope is held', () => {
    expect(hasAllScopes(['read:data'], ['read:data'])).toBe(true);
    expect(hasAllScopes(['read:data', 'write:bookings'], ['write:bookings', 'read:bookings', 'read:data'])).toBe(true);
  });

  it('is not met when one is missing', () => {
    expect(hasAllScopes(['read:data', 'write:data'], ['read:data'])).toBe(false);
    expect(hasAllScopes(['read:audit'], [])).toBe(false);
    expect(hasAllScopes(['read:data'], ['read:data:extra', 'READ:DATA'])).toBe(false);
  });

  it('is always met by an empty requirement', () => {
    expect(hasAllScopes([], [])).toBe(true);
    expect(hasAllScopes([], ['read:data'])).toBe(true);
  });
});

describe('describeRule', () => {
  it.each<[string, AccessRule | undefined, string]>([
    ['no rule', undefined, 'DENIED (no access rule)'],
    ['public', { public: true }, 'public'],
    ['public wins over roles', { public: true, roles: ['admin'] }, 'public'],
    ['one role', { roles: ['admin'] }, 'session(admin)'],
    ['several roles, in order', { roles: ['user', 'auditor', 'admin'] }, 'session(user|auditor|admin)'],
    ['scopes', { scopes: ['read:data', 'write:data'] }, 'token(read:data+write:data)'],
    ['roles and scopes', { roles: ['auditor', 'admin'], scopes: ['read:audit'] }, 'session(auditor|admin) or token(read:audit)'],
    ['empty rule', {}, 'DENIED (empty rule)'],
    ['empty lists', { roles: [], scopes: [] }, 'DENIED (empty rule)'],
  ])('%s', (_name, rule, expected) => {
    expect(describeRule(rule)).toBe(expected);
  });
});
