import type { AuditEvent as FhirAuditEvent, AuditEventAgent, AuditEventEntity, Bundle, BundleLink, Coding } from 'fhir/r4.js';
import type { AuditEvent } from './audit.types.js';

// Our audit events as FHIR R4 AuditEvent resources, following IHE Basic Audit Log Patterns (BALP):
// a validation (or an RFC 7662 introspection) is an OAUTHaccessTokenUse.Minimal event, account and
// token changes are RESTful-style create/update/delete events, a login is a DICOM user
// authentication. docs/siem.md has the field mapping.

export const BALP_OAUTH_MINIMAL = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.OAUTHaccessTokenUse.Minimal';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const BALP_AGENT_TYPES = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes';
const BALP_ENTITY_TYPES = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
/** Our own codes and identifiers (URNs: no resolvable address is implied). */
export const HOSPIAI_EVENT_TYPE = 'urn:hospiai:audit-event-type';
export const HOSPIAI_USER = 'urn:hospiai:user';
export const HOSPIAI_TOKEN = 'urn:hospiai:api-token';
export const HOSPIAI_MCP_CLIENT = 'urn:hospiai:mcp-client';
export const HOSPIAI_AUDIT_EVENT = 'urn:hospiai:audit-event';
export const JTI_POLICY_PREFIX = 'urn:ietf:params:oauth:jti:';

/** Who records: this service. */
export interface FhirSource {
  /** The observer's name (this service on this host). */
  observer: string;
  /** The site (e.g. the hospital's deployment name, or the host). */
  site: string;
}

/** This service on this host (AUDIT_SYSLOG_HOSTNAME or the machine's name) as the observer. */
export function fhirSourceOf(hostname: string): FhirSource {
  return { observer: `HospiAI token service (${hostname})`, site: hostname };
}

type Action = NonNullable<FhirAuditEvent['action']>;
type Outcome = NonNullable<FhirAuditEvent['outcome']>;

interface Kind {
  type: Coding;
  subtype: Coding[];
  action: Action;
  profile?: string;
}

const SECURITY_ALERT: Coding = { system: DCM, code: '110113', display: 'Security Alert' };
const USER_AUTHENTICATION: Coding = { system: DCM, code: '110114', display: 'User Authentication' };
const REST: Coding = { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'RESTful Operation' };
const interaction = (code: 'create' | 'update' | 'delete'): Coding => ({ system: RESTFUL_INTERACTION, code });
const ours = (code: string, display: string): Coding => ({ system: HOSPIAI_EVENT_TYPE, code, display });

/** Each event type's FHIR type, subtypes and action. */
const KINDS: Record<string, Kind> = {
  'token.validate': { type: SECURITY_ALERT, subtype: [ours('token.validate', 'API token validation')], action: 'E', profile: BALP_OAUTH_MINIMAL },
  'token.introspect': { type: SECURITY_ALERT, subtype: [ours('token.introspect', 'API token introspection (RFC 7662)')], action: 'E', profile: BALP_OAUTH_MINIMAL },
  'auth.login': { type: USER_AUTHENTICATION, subtype: [{ system: DCM, code: '110122', display: 'Login' }, ours('auth.login', 'Login')], action: 'E' },
  'auth.register': { type: REST, subtype: [interaction('create'), ours('auth.register', 'Account registration')], action: 'C' },
  'user.update': { type: REST, subtype: [interaction('update'), ours('user.update', 'Account change')], action: 'U' },
  'token.create': { type: REST, subtype: [interaction('create'), ours('token.create', 'API token creation')], action: 'C' },
  'token.revoke': { type: REST, subtype: [interaction('delete'), ours('token.revoke', 'API token revocation')], action: 'D' },
  'token.rotate': { type: REST, subtype: [interaction('update'), ours('token.rotate', 'API token rotation')], action: 'U' },
  'mcp_client.create': { type: REST, subtype: [interaction('create'), ours('mcp_client.create', 'MCP server registration')], action: 'C' },
  'mcp_client.revoke': { type: REST, subtype: [interaction('delete'), ours('mcp_client.revoke', 'MCP server revocation')], action: 'D' },
  'audit.prune': { type: REST, subtype: [interaction('delete'), ours('audit.prune', 'Audit retention: events dropped')], action: 'D' },
  'auth.logout': { type: USER_AUTHENTICATION, subtype: [{ system: DCM, code: '110123', display: 'Logout' }, ours('auth.logout', 'Logout')], action: 'E' },
  'token.update': { type: REST, subtype: [interaction('update'), ours('token.update', 'API token change (name, IP allowlist)')], action: 'U' },
  'mcp_client.update': { type: REST, subtype: [interaction('update'), ours('mcp_client.update', 'MCP server change')], action: 'U' },
  'policy.change': { type: REST, subtype: [interaction('update'), ours('policy.change', 'Token policy change')], action: 'U' },
  'webhook.create': { type: REST, subtype: [interaction('create'), ours('webhook.create', 'Webhook registration')], action: 'C' },
  'webhook.update': { type: REST, subtype: [interaction('update'), ours('webhook.update', 'Webhook change')], action: 'U' },
  'webhook.delete': { type: REST, subtype: [interaction('delete'), ours('webhook.delete', 'Webhook removal')], action: 'D' },
  'oauth.authorize': { type: SECURITY_ALERT, subtype: [ours('oauth.authorize', 'OAuth authorization request')], action: 'E' },
  'oauth.consent': { type: SECURITY_ALERT, subtype: [ours('oauth.consent', 'OAuth consent given or refused')], action: 'E' },
  'oauth.code_exchange': { type: SECURITY_ALERT, subtype: [ours('oauth.code_exchange', 'OAuth authorization code exchanged')], action: 'E' },
  'oauth.refresh': { type: SECURITY_ALERT, subtype: [ours('oauth.refresh', 'OAuth refresh token used')], action: 'E' },
  'oauth.refresh_replay': { type: SECURITY_ALERT, subtype: [ours('oauth.refresh_replay', 'OAuth refresh token replayed: grant revoked')], action: 'E' },
  'oauth.client_register': { type: REST, subtype: [interaction('create'), ours('oauth.client_register', 'OAuth client registration')], action: 'C' },
  'oauth.client_document': { type: SECURITY_ALERT, subtype: [ours('oauth.client_document', 'OAuth client metadata document fetched')], action: 'R' },
  'oauth.revoke': { type: REST, subtype: [interaction('delete'), ours('oauth.revoke', 'OAuth token revocation')], action: 'D' },
  'oauth.grant_revoke': { type: REST, subtype: [interaction('delete'), ours('oauth.grant_revoke', 'OAuth grant withdrawn')], action: 'D' },
};

/** What each validation outcome means, for outcomeDesc. */
const OUTCOME_TEXT: Record<string, string> = {
  valid: 'valid: the token was accepted',
  invalid: 'invalid: the token is not a token of this service',
  expired: 'expired: the token has expired',
  revoked: 'revoked: the token, or its owner, was revoked or disabled',
  insufficient_scope: 'insufficient_scope: the token lacks a required scope',
  ip_not_allowed: 'ip_not_allowed: the caller is outside the token\'s IP allowlist',
  error: 'error: the service could not decide',
  throttled: 'throttled: failed validations refused by the failed-validation limit',
  invalid_client: 'invalid_client: the calling MCP server could not authenticate',
  success: 'success',
  failure: 'failure',
  already_revoked: 'already_revoked: the token was revoked already',
};

/** FHIR outcome: 0 success, 4 minor failure (refused), 8 serious failure (the service could not decide). */
export function fhirOutcome(outcome: string): Outcome {
  if (outcome === 'valid' || outcome === 'success' || outcome === 'already_revoked') return '0';
  if (outcome === 'error') return '8';
  return '4';
}

function outcomeDesc(e: AuditEvent): string {
  const text = OUTCOME_TEXT[e.outcome] ?? e.outcome;
  const reason = typeof e.details.reason === 'string' ? ` (${e.details.reason})` : '';
  const count = typeof e.details.count === 'number' ? `, ${e.details.count} refused` : '';
  return `${text}${reason}${count}`;
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The MCP server (or other caller) as an agent: its network address, and its name when known. */
function clientAgent(e: AuditEvent): AuditEventAgent {
  const clientId = text(e.details.clientId);
  return {
    type: { coding: [{ system: DCM, code: '110153', display: 'Source Role ID' }] },
    who: clientId
      ? { identifier: { system: HOSPIAI_MCP_CLIENT, value: clientId }, display: text(e.details.clientName) ?? clientId }
      : { display: e.ip ? `MCP server at ${e.ip}` : 'MCP server' },
    ...(e.userAgent ? { name: e.userAgent } : {}),
    requestor: false,
    ...(e.ip ? { network: { address: e.ip, type: '2' as const } } : {}),
  };
}

/** The token's owner, on whose behalf the token was used (BALP oUser): the jti as policy, never the token. */
function tokenUserAgent(e: AuditEvent): AuditEventAgent {
  return {
    type: { coding: [{ system: BALP_AGENT_TYPES, code: 'UserOauthAgent', display: 'User OAuth Agent participant' }] },
    who: e.actorUserId ? { identifier: { system: HOSPIAI_USER, value: e.actorUserId } } : { display: 'unidentified token holder' },
    requestor: true,
    ...(e.tokenId ? { policy: [`${JTI_POLICY_PREFIX}${e.tokenId}`] } : {}),
  };
}

/** The person who made a change or logged in (the session's user, or the token's owner). */
function actorAgent(e: AuditEvent): AuditEventAgent {
  return {
    type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/extra-security-role-type', code: 'humanuser', display: 'human user' }] },
    who: e.actorUserId ? { identifier: { system: HOSPIAI_USER, value: e.actorUserId } } : { display: e.type === 'audit.prune' ? 'HospiAI token service' : 'unidentified' },
    ...(e.userAgent ? { name: e.userAgent } : {}),
    requestor: true,
    ...(e.ip ? { network: { address: e.ip, type: '2' as const } } : {}),
  };
}

/** The records an event is about: the token, the target account, the MCP server registration. */
function changedEntities(e: AuditEvent): AuditEventEntity[] {
  const out: AuditEventEntity[] = [];
  if (e.tokenId) {
    out.push({
      what: { identifier: { system: HOSPIAI_TOKEN, value: e.tokenId }, display: text(e.details.name) },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
    });
  }
  const target = text(e.details.targetUserId);
  if (target) {
    out.push({
      what: { identifier: { system: HOSPIAI_USER, value: target } },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '6', display: 'User' },
    });
  }
  if (e.type.startsWith('mcp_client.') && text(e.details.clientId)) {
    out.push({
      what: { identifier: { system: HOSPIAI_MCP_CLIENT, value: String(e.details.clientId) }, display: text(e.details.name) },
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '13', display: 'Security Resource' },
    });
  }
  return out;
}

/** Our own record: its id, its hash in the chain and its details (never a secret), for reconciling with the JSON. */
function recordEntity(e: AuditEvent): AuditEventEntity {
  return {
    what: { identifier: { system: HOSPIAI_AUDIT_EVENT, value: e.id } },
    type: { system: ENTITY_TYPE, code: '4', display: 'Other' },
    detail: [
      { type: 'hash', valueString: e.hash },
      { type: 'details', valueString: JSON.stringify(e.details) },
      ...(e.latencyMs !== null ? [{ type: 'latencyMs', valueString: String(e.latencyMs) }] : []),
    ],
  };
}

/** The request's id, as BALP's X-Request-Id entity. */
function requestEntity(e: AuditEvent): AuditEventEntity[] {
  return e.requestId
    ? [{ what: { identifier: { value: e.requestId } }, type: { system: BALP_ENTITY_TYPES, code: 'XrequestId', display: 'X-Request-Id' } }]
    : [];
}

/** One event as a FHIR R4 AuditEvent. */
export function toFhirAuditEvent(e: AuditEvent, source: FhirSource): FhirAuditEvent {
  const kind = KINDS[e.type] ?? { type: REST, subtype: [ours(e.type, e.type)], action: 'E' as const };
  const validation = kind.profile === BALP_OAUTH_MINIMAL;
  return {
    resourceType: 'AuditEvent',
    id: e.id,
    ...(kind.profile ? { meta: { profile: [kind.profile] } } : {}),
    type: kind.type,
    subtype: kind.subtype,
    action: kind.action,
    recorded: e.occurredAt,
    outcome: fhirOutcome(e.outcome),
    outcomeDesc: outcomeDesc(e),
    agent: validation ? [tokenUserAgent(e), clientAgent(e)] : [actorAgent(e)],
    source: {
      site: source.site,
      observer: { display: source.observer },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    entity: [...(validation ? [] : changedEntities(e)), ...requestEntity(e), recordEntity(e)],
  };
}

/** A page of events as a FHIR searchset Bundle; `links` are the self and next page addresses. */
export function toFhirBundle(events: readonly AuditEvent[], source: FhirSource, links: { self: string; next: string | null }): Bundle<FhirAuditEvent> {
  const link: BundleLink[] = [{ relation: 'self', url: links.self }];
  if (links.next) link.push({ relation: 'next', url: links.next });
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    timestamp: new Date().toISOString(),
    link,
    entry: events.map((e) => ({ fullUrl: `${HOSPIAI_AUDIT_EVENT}:${e.id}`, resource: toFhirAuditEvent(e, source), search: { mode: 'match' as const } })),
  };
}
