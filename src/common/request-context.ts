import { isIP } from 'node:net';
import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Where a request came from, as recorded in audit events. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string;
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

export function requestContextOf(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    ip: clientIpOf(req),
    userAgent: typeof ua === 'string' && ua !== '' ? ua.slice(0, MAX_USER_AGENT) : null,
    requestId: req.id,
  };
}

/** The caller's IP, user agent and request id. */
export const ReqContext = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): RequestContext => requestContextOf(ctx.switchToHttp().getRequest<FastifyRequest>()),
);
