import { SetMetadata } from '@nestjs/common';

/** The named limits of this service (see RateLimitGuard); each is configured in src/config/config.ts. */
export type RateLimitName = 'login-ip' | 'register-ip';

export const RATE_LIMITS = 'hospiai:rate-limits';

/** Applies these named limits to a route (routes without it are not limited by the guard). */
export const RateLimit = (...names: RateLimitName[]): MethodDecorator & ClassDecorator => SetMetadata(RATE_LIMITS, names);
