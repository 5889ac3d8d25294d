import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import fastifyCors from '@fastify/cors';
import helmet from 'helmet';
import type { DestinationStream } from 'pino';
import secureJson from 'secure-json-parse';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import { AppModule } from './app.module.js';
import { createPino, PinoLoggerService } from './common/logger.js';
import { ownBodyAnswerOf } from './common/own-body-answer.js';
import { clientRequestIdOf, isRoutedTo } from './common/request-context.js';
import type { AppConfig } from './config/config.js';
import { setUpValidateRoute } from './mcp-validation/validate-route.js';
import { MetricsService } from './metrics/metrics.service.js';
import { FORM_CONTENT_TYPE, FORM_ROUTES, parseFormBody } from './oauth/form-body.js';
import { BACKCHANNEL_LOGOUT_PATH } from './sso/sso-paths.js';
import { setupSwagger } from './swagger.js';

export interface CreateAppOptions {
  config: AppConfig;
  databaseUrl: string;
  /** The tables' owner, who runs the migrations: the embedded database's, or DATABASE_MIGRATION_URL (the default). */
  migrationUrl?: string;
  /** Where log lines go (stdout by default); tests pass a stream to inspect them. */
  logDestination?: DestinationStream;
}

const START = Symbol('start');

/** Request body limit: every body of this API is small JSON (or a small form, for introspection). */
export const BODY_LIMIT = 64 * 1024;
/** Request line and headers together (Node's default, stated): an 8 KiB bearer token fits, a 1 MiB one is 431. */
export const HEADER_LIMIT = 16 * 1024;
/** A request whose headers have not all arrived within this time is dropped (slow-loris). */
const HEADERS_TIMEOUT_MS = 10_000;
/** A request (headers and body) not received within this time is answered 408. */
const REQUEST_TIMEOUT_MS = 30_000;

/**
 * Content-Security-Policy by path. The API answers JSON and needs nothing; Swagger UI loads its own
 * scripts and uses inline styles. The dashboard (`/dashboard/*`) sets its own policy: none is added here.
 */
const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/** The authorization server's answers: error pages use the dashboard's stylesheet; its login and consent pages set their own. */
const OAUTH_CSP = "default-src 'none'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
const DOCS_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

export function contentSecurityPolicyFor(path: string): string | undefined {
  if (path === '/dashboard' || path.startsWith('/dashboard/')) return undefined;
  // The authorization server's pages set their own (src/oauth-server/html.ts: forms that post here, then redirect to the client).
  if (path.startsWith('/oauth/')) return OAUTH_CSP;
  if (path === '/api/docs' || path.startsWith('/api/docs/')) return DOCS_CSP;
  return API_CSP;
}

/**
 * Errors Node's HTTP parser raises before there is a request (headers too large, malformed request
 * line, timeouts): answered in the API's error shape, then the connection is closed.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  const answers: Record<number, { error: string; code: string }> = {
    400: { error: 'Bad request', code: 'bad_request' },
    408: { error: 'Request timeout', code: 'request_timeout' },
    431: { error: 'Request headers are too large', code: 'headers_too_large' },
  };
  const body = JSON.stringify(answers[status]);
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Arrays and objects nested deeper than this in a JSON body are refused (400): no body of the API needs more than a few. */
const MAX_JSON_DEPTH = 32;

/**
 * True when the JSON text opens more than `max` arrays or objects inside one another. One pass over
 * the text, without recursion; brackets inside strings do not count. Text that is not JSON may
 * answer either way: the parser refuses it next.
 */
function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash: the next character is escaped
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** True when a string (value or key) anywhere in a parsed JSON body holds a NUL character. */
function hasNul(value: unknown, depth = 0): boolean {
  if (typeof value === 'string') return value.includes('\u0000');
  if (value === null || typeof value !== 'object' || depth > MAX_JSON_DEPTH) return false;
  for (const [k, v] of Object.entries(value)) if (k.includes('\u0000') || hasNul(v, depth + 1)) return true;
  return false;
}

/**
 * The security headers helmet sets (nosniff, frame options, referrer policy, HSTS, cross-origin
 * policies; the CSP apart, set by path), worked out once: the same for every answer, they are
 * then one `reply.headers()` per request instead of a dozen middleware calls.
 */
function securityHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const res = {
    setHeader: (name: string, value: string | number) => void (headers[name] = String(value)),
    removeHeader: (name: string) => void delete headers[name],
  };
  helmet({ contentSecurityPolicy: false })({} as never, res as never, () => undefined);
  return headers;
}

/** Builds the application (not yet listening): Fastify, pino logs, request ids, metrics, errors, Swagger. */
export async function createApp({ config, databaseUrl, migrationUrl, logDestination }: CreateAppOptions): Promise<NestFastifyApplication> {
  const log = createPino(config, logDestination);
  const adapter = new FastifyAdapter({
    loggerInstance: log,
    // One log line per request, written by the onResponse hook below.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    http: { maxHeaderSize: HEADER_LIMIT, headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    clientErrorHandler,
    routerOptions: { maxParamLength: 200 },
    requestIdHeader: false,
    // During shutdown, requests that come on connections already open are answered as usual (the database and
    // the audit writer are closed only after the HTTP server), with `Connection: close`. Fastify's default
    // answered them a bare `503 {"error":"Service Unavailable"}`: not the API's error shape, no Retry-After,
    // and for the validate route no audit event.
    return503OnClosing: false,
    // Behind a reverse proxy (TRUST_PROXY): the client's address and protocol come from X-Forwarded-*.
    trustProxy: typeof config.trustProxy === 'boolean' ? config.trustProxy : [...config.trustProxy],
    // The request id is always the service's own: a client's X-Request-Id, which could repeat another request's
    // id, is kept apart as clientRequestId (src/common/request-context.ts), in the log line and the audit event.
    genReqId: () => randomUUID(),
  });
  const app = await NestFactory.create<NestFastifyApplication>(AppModule.forRoot({ config, databaseUrl, migrationUrl: migrationUrl ?? config.databaseMigrationUrl }), adapter, {
    logger: new PinoLoggerService(log),
    abortOnError: false,
    // JSON bodies are parsed by the parser registered below.
    bodyParser: false,
  });

  const fastify = app.getHttpAdapter().getInstance();
  const metrics = app.get(MetricsService);
  const security = securityHeaders();
  setUpValidateRoute(app);
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    (req as unknown as Record<symbol, bigint>)[START] = process.hrtime.bigint();
    void reply.headers(security);
    void reply.header('X-Request-Id', req.id);
    const csp = contentSecurityPolicyFor(req.url.split('?')[0]);
    if (csp) void reply.header('Content-Security-Policy', csp);
  });
  // CORS only for the origins listed in CORS_ORIGINS: without it, no CORS header is ever sent.
  if (config.corsOrigins.length > 0) {
    await app.register(fastifyCors as never, {
      origin: [...config.corsOrigins],
      methods: ['GET', 'POST', 'PATCH', 'DELETE'],
      allowedHeaders: ['Authorization', 'Content-Type', 'X-Request-Id'],
      exposedHeaders: ['X-Request-Id', 'Retry-After', 'WWW-Authenticate', 'Content-Disposition'],
      credentials: false,
      maxAge: 600,
    });
  }
  fastify.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const start = (req as unknown as Record<symbol, bigint | undefined>)[START];
    const seconds = start ? Number(process.hrtime.bigint() - start) / 1e9 : 0;
    const route = req.routeOptions?.url ?? 'unmatched';
    metrics.observe(req.method, route, reply.statusCode, seconds);
    const clientRequestId = clientRequestIdOf(req);
    const line = { method: req.method, route, status: reply.statusCode, ms: Math.round(seconds * 1e4) / 10 };
    req.log.info(clientRequestId === null ? line : { ...line, clientRequestId }, 'request');
  });
  // JSON bodies: an empty body with a JSON content type is no body (curl -H 'Content-Type: application/json'
  // without -d is common); prototype-poisoning keys are refused. A route that answers every body itself
  // (src/common/own-body-answer.ts) is handed what the others are refused.
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, undefined);
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) {
      // Refused before parsing: the pipes that walk a body (class-transformer) recurse once per level.
      const own = ownBodyAnswerOf(req);
      if (own) return done(null, own.notJson);
      return done(Object.assign(new Error('body nested too deep'), { statusCode: 400, code: 'FST_ERR_BODY_TOO_DEEP' }), undefined);
    }
    try {
      const value: unknown = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
      // PostgreSQL text cannot hold NUL: a string with one is refused here rather than failing in a query.
      if (!ownBodyAnswerOf(req) && hasNul(value)) {
        return done(Object.assign(new Error('NUL character in the body'), { statusCode: 400, code: 'FST_ERR_NUL_IN_BODY' }), undefined);
      }
      done(null, value);
    } catch {
      const own = ownBodyAnswerOf(req);
      if (own) return done(null, own.notJson);
      done(Object.assign(new SyntaxError('invalid JSON body'), { statusCode: 400, code: 'FST_ERR_CTP_INVALID_JSON_BODY' }), undefined);
    }
  });
  // At shutdown, connections with no request in flight are closed (as 'idle' ones already are): a client
  // that opened a connection and never sent on it (fetch does so after an aborted event stream) would
  // otherwise hold the shutdown for the whole keep-alive timeout.
  // On a connection with a request in flight, that request's answer is the connection's last: Fastify
  // says `Connection: close` only on requests that come once the shutdown has begun, and a client that
  // sent nothing more would keep the connection, and hold the shutdown, for as long as its keep-alive.
  const sockets = new Set<Socket>();
  fastify.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  fastify.addHook('preClose', async () => {
    for (const socket of sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (!res) socket.destroy();
      else if (!res.headersSent) res.setHeader('Connection', 'close');
      else res.once('finish', () => socket.end());
    }
  });
  // Form bodies, for OAuth (introspection, the authorization server's token and revocation endpoints, its
  // login and consent forms: FORM_ROUTES) and OIDC back-channel logout only, under the same limit as JSON. Every other
  // route refuses them with 415: an HTML form of another site can post a form body without a CORS
  // preflight, and must not reach login or register (login CSRF) or any other route.
  fastify.addContentTypeParser(FORM_CONTENT_TYPE, { parseAs: 'string', bodyLimit: BODY_LIMIT }, (req, body, done) => {
    if (!FORM_ROUTES.some((route) => isRoutedTo(req, 'POST', route)) && !isRoutedTo(req, 'POST', BACKCHANNEL_LOGOUT_PATH)) {
      const err = Object.assign(new Error('Unsupported Media Type: this route takes application/json'), {
        statusCode: 415,
        code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
      });
      return done(err, undefined);
    }
    done(null, parseFormBody(typeof body === 'string' ? body : body.toString('utf8')));
  });
  // Plain text too (what fetch sends for a string body without a Content-Type, and another site's HTML form can
  // send with enctype="text/plain"): Fastify would hand the routes a string, refused field by field with a
  // misleading 400. It is 415 like any body that is not JSON (the validate route answers it 400, audited).
  fastify.removeContentTypeParser('text/plain');
  fastify.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: BODY_LIMIT }, (_req, _body, done) => {
    const err = Object.assign(new Error('Unsupported Media Type: this route takes application/json'), {
      statusCode: 415,
      code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE',
    });
    done(err, undefined);
  });
  await setupSwagger(app);
  return app;
}
