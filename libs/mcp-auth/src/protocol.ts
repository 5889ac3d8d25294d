/**
 * Reading the service's answers (docs/api.md, "Validation") without trusting their shape.
 */
import type { HospiAITokenInfo, HospiAIUser, ValidateAnswer } from './types.js';

type Json = Record<string, unknown>;

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

function optionalString(value: unknown): string | null | undefined {
  if (value === null || value === undefined) return null;
  return typeof value === 'string' ? value : undefined;
}

function readUser(value: unknown): HospiAIUser | undefined {
  if (!isObject(value) || typeof value.id !== 'string' || value.id === '') return undefined;
  const email = value.email;
  const firstname = optionalString(value.firstname);
  const surname = optionalString(value.surname);
  const name = optionalString(value.name);
  const phoneNumber = optionalString(value.phoneNumber);
  const profileCompletedAt = optionalString(value.profileCompletedAt);
  if (typeof email !== 'string') return undefined;
  if ([firstname, surname, name, phoneNumber, profileCompletedAt].includes(undefined)) return undefined;
  return {
    id: value.id,
    email,
    firstname: firstname ?? '',
    surname: surname ?? '',
    name: name ?? [firstname, surname].filter(Boolean).join(' '),
    phoneNumber: phoneNumber ?? null,
    profileCompletedAt: profileCompletedAt ?? null,
  };
}

function readToken(value: unknown): HospiAITokenInfo | undefined {
  if (!isObject(value) || typeof value.id !== 'string' || value.id === '') return undefined;
  if (typeof value.name !== 'string' || !isStringArray(value.scopes) || typeof value.expiresAt !== 'string') return undefined;
  return { id: value.id, name: value.name, scopes: [...value.scopes], expiresAt: value.expiresAt };
}

/** The 200 answer, or `undefined` when it is not what the contract says. */
export function parseValidateAnswer(text: string): ValidateAnswer | undefined {
  const body = parseJson(text);
  if (!isObject(body) || body.valid !== true) return undefined;
  const user = readUser(body.user);
  const token = readToken(body.token);
  if (!user || !token || !isStringArray(body.scopes)) return undefined;
  if (typeof body.exp !== 'number' || !Number.isFinite(body.exp)) return undefined;
  return { valid: true, user, token, scopes: [...body.scopes], exp: body.exp };
}

export type FailureBody = { error?: string; code?: string; requiredScopes?: string[]; scopes?: string[] };

/** What can be read from an error answer; any part may be missing. */
export function readFailureBody(text: string): FailureBody {
  const body = parseJson(text);
  if (!isObject(body)) return {};
  const out: FailureBody = {};
  if (typeof body.error === 'string' && body.error.length > 0) out.error = body.error.slice(0, 500);
  if (typeof body.code === 'string') out.code = body.code;
  if (isStringArray(body.requiredScopes)) out.requiredScopes = [...body.requiredScopes];
  if (isStringArray(body.scopes)) out.scopes = [...body.scopes];
  return out;
}

/** `Retry-After` as delay-seconds or an HTTP date, in ms from `now`; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}
