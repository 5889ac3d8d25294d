import { Injectable, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import {
  InjectThrottlerOptions,
  InjectThrottlerStorage,
  normalizeIp,
  ThrottlerGuard,
  type ThrottlerLimitDetail,
  type ThrottlerModuleOptions,
  type ThrottlerRequest,
  type ThrottlerStorage,
} from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { clientIpOf } from '../common/request-context.js';
import { RATE_LIMITS, type RateLimitName } from './rate-limit.decorator.js';
import { tooManyRequests } from './too-many-requests.js';

/**
 * @nestjs/throttler's guard, with three changes: a named limit applies only to
 * the routes that ask for it with @RateLimit(name), a refusal is the API's
 * error shape, 429 with a standard Retry-After header, and a client is counted
 * by the address its audit events hold (never X-Forwarded-For text that is not
 * an IP address).
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  constructor(
    @InjectThrottlerOptions() options: ThrottlerModuleOptions,
    @InjectThrottlerStorage() storage: ThrottlerStorage,
    reflector: Reflector,
  ) {
    super(options, storage, reflector);
  }

  /** The limits each route (controller class, handler) asks for, read from its metadata once. */
  private readonly limitsOf = new WeakMap<object, WeakMap<object, readonly RateLimitName[]>>();

  private limits(context: ExecutionContext): readonly RateLimitName[] {
    const [cls, handler] = [context.getClass(), context.getHandler()];
    let byHandler = this.limitsOf.get(cls);
    if (!byHandler) this.limitsOf.set(cls, (byHandler = new WeakMap()));
    let names = byHandler.get(handler);
    if (!names) {
      names = this.reflector.getAllAndOverride<RateLimitName[] | undefined>(RATE_LIMITS, [handler, cls]) ?? [];
      byHandler.set(handler, names);
    }
    return names;
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    // Most routes (validate among them) ask for no limit: nothing to count.
    if (this.limits(context).length === 0) return true;
    return super.canActivate(context);
  }

  protected override async handleRequest(props: ThrottlerRequest): Promise<boolean> {
    if (!this.limits(props.context).includes(props.throttler.name as RateLimitName) || props.limit <= 0) return true;
    return super.handleRequest(props);
  }

  protected override async getTracker(req: Record<string, unknown>): Promise<string> {
    return normalizeIp(clientIpOf(req as unknown as FastifyRequest) ?? 'unknown', this.ipv6SubnetPrefix);
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    throw tooManyRequests(detail.timeToBlockExpire);
  }
}
