import { Controller, Get, Logger, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import { HealthCheckService, HealthIndicatorService, type HealthCheckResult, type HealthIndicatorResult } from '@nestjs/terminus';
import type { FastifyReply } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { AuditForwarderService } from '../audit/audit-forwarder.service.js';
import { DatabaseHealth } from '../database/database-health.js';

/**
 * The readiness answer as anyone may read it: each check's status, without the error's text,
 * which for the database names its address or socket path (the log keeps the text).
 */
function withoutMessages(result: HealthCheckResult): HealthCheckResult {
  const strip = (part: Partial<HealthIndicatorResult> | undefined): HealthIndicatorResult =>
    Object.fromEntries(Object.entries(part ?? {}).map(([key, value]) => [key, { status: value?.status ?? 'down' }]));
  return { ...result, error: strip(result.error), details: strip(result.details) };
}

@ApiTags('operations')
@Controller('api/health')
export class HealthController {
  private readonly logger = new Logger(HealthController.name);

  constructor(
    private readonly health: HealthCheckService,
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseHealth,
    private readonly forwarder: AuditForwarderService,
  ) {}

  @Get()
  @Public()
  @ApiOperation({ summary: 'Liveness: the process answers' })
  @ApiOkResponse({ example: { status: 'ok' } })
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('ready')
  @Public()
  @ApiOperation({ summary: 'Readiness: the database answers and every migration is applied' })
  @ApiOkResponse({
    example: { status: 'ok', info: { database: { status: 'up' }, migrations: { status: 'up', pending: 0 } }, error: {}, details: {} },
  })
  @ApiServiceUnavailableResponse({
    description: "Not ready, with Retry-After: each failing check's status (the cause is in the service's log)",
    example: { status: 'error', info: {}, error: { database: { status: 'down' } }, details: { database: { status: 'down' } } },
    headers: RETRY_AFTER_HEADER,
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<unknown> {
    try {
      return await this.health.check([
        () =>
          this.indicators
            .check('database')
            .attempt(() => this.database.ping())
            .withTimeout(1500),
        () =>
          this.indicators
            .check('migrations')
            .attempt(async () => {
              if (await this.database.migrationsPending()) throw new Error('migrations are pending');
              return { pending: 0 };
            })
            .withTimeout(1500),
        // With a stream to a SIEM (AUDIT_SYSLOG_URL): how far behind it is. Informative: a receiver
        // outage never makes the instance unready (events wait in the database).
        ...(this.forwarder.configured
          ? [
              () =>
                this.indicators
                  .check('auditStream')
                  .attempt(async () => {
                    const lag = await this.forwarder.lag();
                    return { lagEvents: lag?.lagEvents ?? 0, lagSeconds: lag?.lagSeconds ?? 0, forwarding: lag?.forwarding ?? false };
                  })
                  .withTimeout(1500),
            ]
          : []),
      ]);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) {
        void reply.status(503).header('Retry-After', '5');
        const result = err.getResponse() as HealthCheckResult;
        this.logger.warn({ error: result.error }, 'not ready');
        return withoutMessages(result);
      }
      throw err;
    }
  }
}
