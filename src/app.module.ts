import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditModule } from './audit/audit.module.js';
import { AccessGuard } from './access/access.guard.js';
import { AuthModule } from './auth/auth.module.js';
import { GlobalExceptionFilter } from './common/global-exception.filter.js';
import { createValidationPipe } from './common/validation.js';
import type { AppConfig } from './config/config.js';
import { ConfigModule } from './config/config.module.js';
import { DashboardModule } from './dashboard/dashboard.module.js';
import { dataSourceOptions } from './database/data-source-options.js';
import { runMigrationsLocked } from './database/run-migrations.js';
import { migrateAsOwner } from './database/service-role.js';
import { ENTITIES } from './entities.js';
import { HealthModule } from './health/health.module.js';
import { McpClientsModule } from './mcp-clients/mcp-clients.module.js';
import { McpValidationModule } from './mcp-validation/mcp-validation.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { OAuthModule } from './oauth/oauth.module.js';
import { OAuthServerModule } from './oauth-server/oauth-server.module.js';
import { RateLimitGuard } from './rate-limit/rate-limit.guard.js';
import { RateLimitModule } from './rate-limit/rate-limit.module.js';
import { RevocationModule } from './revocation/revocation.module.js';
import { SsoModule } from './sso/sso.module.js';
import { PoliciesModule } from './policies/policies.module.js';
import { TokensModule } from './tokens/tokens.module.js';
import { UsersModule } from './users/users.module.js';
import { WebhooksModule } from './webhooks/webhooks.module.js';

export interface AppModuleOptions {
  config: AppConfig;
  /** The database to use: DATABASE_URL, or the embedded server's. */
  databaseUrl: string;
  /** Set: the migrations run as this URL's role (the owner), which grants the pool's role what it needs. */
  migrationUrl?: string;
}

@Module({})
export class AppModule {
  static forRoot({ config, databaseUrl, migrationUrl }: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        TypeOrmModule.forRootAsync({
          useFactory: () => ({ ...dataSourceOptions(databaseUrl, { entities: ENTITIES }), migrationsRun: false, retryAttempts: 3, retryDelay: 1000 }),
          // Migrations run at start under an advisory lock (runMigrationsLocked): instances starting at once
          // on one database take turns instead of running the same migration side by side.
          dataSourceFactory: async (options) => {
            const dataSource = await new DataSource(options!).initialize();
            try {
              if (migrationUrl) await migrateAsOwner(migrationUrl, dataSource);
              else await runMigrationsLocked(dataSource);
            } catch (err) {
              await dataSource.destroy().catch(() => undefined);
              throw err;
            }
            return dataSource;
          },
        }),
        MetricsModule,
        RateLimitModule,
        RevocationModule,
        UsersModule,
        AuthModule,
        SsoModule,
        AuditModule,
        TokensModule,
        PoliciesModule,
        McpValidationModule,
        McpClientsModule,
        OAuthModule,
        WebhooksModule,
        OAuthServerModule,
        HealthModule,
        DashboardModule,
      ],
      providers: [
        { provide: APP_PIPE, useFactory: createValidationPipe },
        { provide: APP_FILTER, useClass: GlobalExceptionFilter },
        // Abuse limits first (login, register), then access: deny by default: every route needs @Public() or @Access(...).
        { provide: APP_GUARD, useClass: RateLimitGuard },
        { provide: APP_GUARD, useClass: AccessGuard },
      ],
    };
  }
}
