import { isIP } from 'node:net';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Where a request came from, as recorded in audit events. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  /** The service's own request id (also the answer's X-Request-Id). */
  requestId: string;
  /** The X-Request-Id the client sent, if any and if clean (see clientRequestIdOf): never taken as the request id. */
  clientRequestId: string | null;
}

const MAX_USER_AGENT = 512;

/**
 * The client's address, as audit events, token last uses and abuse limits all take it. Behind a
 * trusted proxy (TRUST_PROXY) Fastify reads it from X-Forwarded-For, whose entries a client can
 * write: it is kept only if it is an IPv4 or IPv6 address, otherwise the peer's own address
 * (which no header changes) stands in its place.
 */
export function clientIpOf(req: Pick<FastifyRequest, 'ip' | 'socket'>): string | null {
  const ip = req.ip;
  if (typeof ip === 'string' && isIP(ip) !== 0) return ip;
  return req.socket?.remoteAddress ?? null;
}

/** True for a request Fastify routed to `method url` (by its route: the query string plays no part). */
export function isRoutedTo(req: { method: string; routeOptions?: { url?: string } }, method: string, url: string): boolean {
  return req.method === method && req.routeOptions?.url === url;
}

/** Printable ASCII, 1 to 64 characters: the X-Request-Id values kept from a client. */
const CLIENT_REQUEST_ID = /^[\x20-\x7e]{1,64}$/;

/**
 * The X-Request-Id the client sent, kept only as a reference of its own (log line, audit details): a
 * value a client chooses can repeat another request's, so it is never the request id. Printable ASCII
 * of at most 64 characters, else dropped (null), so that it cannot forge log lines or fill the log.
 */
export function clientRequestIdOf(req: Pick<FastifyRequest, 'headers'>): string | null {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && CLIENT_REQUEST_ID.test(given) ? given : null;
}

export function requestContextOf(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    ip: clientIpOf(req),
    userAgent: typeof ua === 'string' && ua !== '' ? ua.slice(0, MAX_USER_AGENT) : null,
    requestId: req.id,
    clientRequestId: clientRequestIdOf(req),
  };
}

/** The caller's IP, user agent and request id. */
export const ReqContext = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): RequestContext => requestContextOf(ctx.switchToHttp().getRequest<FastifyRequest>()),
);
