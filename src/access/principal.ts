import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { Scope } from '../../libs/scopes/src/index.js';
import type { Role } from './role.js';

/** Who is calling: a logged-in person (session) or a program holding an API token. */
export type Principal =
  | { kind: 'session'; userId: string; role: Role; email: string }
  | { kind: 'token'; userId: string; role: Role; tokenId: string; scopes: readonly Scope[] };

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the global guard (and by passport as `user`). */
    user?: Principal;
  }
}

/** The caller of the current request, as established by the global guard. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const req = ctx.switchToHttp().getRequest<{ user?: Principal }>();
  if (!req.user) throw new Error('CurrentPrincipal used on a route without authentication');
  return req.user;
});
