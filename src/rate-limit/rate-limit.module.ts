import { Global, Module } from '@nestjs/common';
import { ThrottlerModule, type ThrottlerOptions } from '@nestjs/throttler';
import type { AppConfig } from '../config/config.js';
import { APP_CONFIG } from '../config/config.module.js';
import { LoginLockout } from './login-lockout.js';
import type { RateLimitName } from './rate-limit.decorator.js';
import { ValidateFailureLimit } from './validate-failure-limit.js';

const MINUTE = 60_000;

function throttlers(config: AppConfig): ThrottlerOptions[] {
  const r = config.rateLimits;
  const named: (ThrottlerOptions & { name: RateLimitName })[] = [
    { name: 'login-ip', ttl: MINUTE, limit: r.loginPerIpPerMinute },
    { name: 'register-ip', ttl: MINUTE, limit: r.registerPerIpPerMinute },
  ];
  return named;
}

/** Abuse limits, kept in memory (per instance): @nestjs/throttler's store, the login lockout and per-account budget. */
@Global()
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({ throttlers: throttlers(config), setHeaders: false }),
    }),
  ],
  providers: [LoginLockout, ValidateFailureLimit],
  exports: [LoginLockout, ValidateFailureLimit],
})
export class RateLimitModule {}
