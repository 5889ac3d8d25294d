import { ExecutionContext, Injectable, Logger, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { clientIpOf } from '../common/request-context.js';
import { isDatabaseUnavailable } from '../database/db-errors.js';
import { ACCESS_RULE } from './access.decorator.js';
import { ApiTokenAuthenticator } from './api-token-authenticator.js';
import { bearerTokenOf, jwtHeaderOf } from './bearer.js';
import { isAllowed, type AccessRule } from './access.policy.js';
import type { Principal } from './principal.js';
import { CSRF_FAILED_MESSAGE, CsrfCheck } from './csrf-check.js';

/**
 * The one global guard (APP_GUARD): deny by default. A route opens only
 * through `@Public()` or states who may call it with `@Access(...)`.
 *
 * A state-changing request authenticated by the session cookie (the dashboard)
 * must also carry the CSRF token (double submit, bound to the session).
 */
@Injectable()
export class AccessGuard extends AuthGuard('session') {
  private readonly logger = new Logger(AccessGuard.name);

  constructor(
    private readonly reflector: Reflector,
    private readonly csrf: CsrfCheck,
    @Optional() private readonly apiTokens?: ApiTokenAuthenticator,
  ) {
    super();
  }

  /** Each route's (controller class, handler) rule, read from its metadata once; null: it has none. */
  private readonly rules = new WeakMap<object, WeakMap<object, AccessRule | null>>();

  private ruleOf(context: ExecutionContext): AccessRule | undefined {
    const [cls, handler] = [context.getClass(), context.getHandler()];
    let byHandler = this.rules.get(cls);
    if (!byHandler) this.rules.set(cls, (byHandler = new WeakMap()));
    let rule = byHandler.get(handler);
    if (rule === undefined) {
      rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, [handler, cls]) ?? null;
      byHandler.set(handler, rule);
    }
    return rule ?? undefined;
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.ruleOf(context);
    if (!rule) {
      this.logger.error(`route ${context.getClass().name}.${context.getHandler().name} has no access rule: denied`);
      throw AppError.forbidden();
    }
    if (rule.public) return true;

    const request = context
      .switchToHttp()
      .getRequest<{ user?: Principal; method: string; headers: Record<string, string | string[] | undefined> } & Pick<FastifyRequest, 'ip' | 'socket'>>();
    if (this.csrf.needsCsrfCheck(request.method, request.headers) && !this.csrf.csrfValid(request.headers)) {
      throw new AppError(403, ErrorCode.CsrfFailed, CSRF_FAILED_MESSAGE);
    }
    const bearer = bearerTokenOf(request.headers.authorization);
    if (rule.scopes?.length && bearer && this.apiTokens && !isSessionToken(bearer)) {
      // Only routes that declare scopes accept API tokens; everywhere else a token fails as a session would.
      request.user = await this.apiTokens.authenticate(bearer, clientIpOf(request));
    } else {
      await super.canActivate(context);
    }
    const principal = request.user;
    if (!principal) throw AppError.unauthorized();
    if (!isAllowed(rule, principal)) throw AppError.forbidden();
    return true;
  }

  /**
   * Passport's outcome: any authentication failure is one 401, whatever the reason. A database that
   * cannot be reached while the session's user is read is no verdict on the session: that error goes
   * on to the global filter, which answers 503 with Retry-After.
   */
  override handleRequest<T>(err: unknown, user: T, _info?: unknown, context?: ExecutionContext): T {
    if (err && isDatabaseUnavailable(err)) throw err;
    if (err || !user) {
      // A bearer that was sent and refused is named invalid (RFC 6750); without one, the client is only told to authenticate.
      const authorization = context?.switchToHttp().getRequest<{ headers: Record<string, string | string[] | undefined> }>().headers.authorization;
      throw bearerTokenOf(authorization) ? AppError.invalidBearer() : AppError.unauthorized();
    }
    return user;
  }
}

/** Sessions name their key `session-…` in the JWT header. */
function isSessionToken(token: string): boolean {
  const kid = jwtHeaderOf(token)?.kid;
  return typeof kid === 'string' && kid.startsWith('session-');
}
