import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';

/** Where a request came from, as recorded in audit events. */
export interface RequestContext {
  ip: string | null;
  userAgent: string | null;
  requestId: string;
}

const MAX_USER_AGENT = 512;

export function requestContextOf(req: FastifyRequest): RequestContext {
  const ua = req.headers['user-agent'];
  return {
    ip: req.ip ?? null,
    userAgent: typeof ua === 'string' && ua !== '' ? ua.slice(0, MAX_USER_AGENT) : null,
    requestId: req.id,
  };
}

/** The caller's IP, user agent and request id. */
export const ReqContext = createParamDecorator(
  (_: unknown, ctx: ExecutionContext): RequestContext => requestContextOf(ctx.switchToHttp().getRequest<FastifyRequest>()),
);
