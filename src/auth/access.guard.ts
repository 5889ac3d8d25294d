import { ExecutionContext, Injectable, Logger } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { AppError } from '../common/app-error.js';
import { ACCESS_RULE } from './access.decorator.js';
import { isAllowed, type AccessRule } from './access.policy.js';
import type { Principal } from './principal.js';

/**
 * The one global guard (APP_GUARD): deny by default. A route opens only
 * through `@Public()` or states who may call it with `@Access(...)`.
 */
@Injectable()
export class AccessGuard extends AuthGuard('session') {
  private readonly logger = new Logger(AccessGuard.name);

  constructor(private readonly reflector: Reflector) {
    super();
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    const rule = this.reflector.getAllAndOverride<AccessRule | undefined>(ACCESS_RULE, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (!rule) {
      this.logger.error(`route ${context.getClass().name}.${context.getHandler().name} has no access rule: denied`);
      throw AppError.forbidden();
    }
    if (rule.public) return true;

    await super.canActivate(context);
    const principal = context.switchToHttp().getRequest<{ user?: Principal }>().user;
    if (!principal) throw AppError.unauthorized();
    if (!isAllowed(rule, principal)) throw AppError.forbidden();
    return true;
  }

  /** Passport's outcome: any failure is one 401, whatever the reason. */
  override handleRequest<T>(err: unknown, user: T): T {
    if (err || !user) throw AppError.unauthorized();
    return user;
  }
}
