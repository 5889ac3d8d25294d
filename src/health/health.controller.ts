import { Controller, Get, Res, ServiceUnavailableException } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import { HealthCheckService, HealthIndicatorService, TypeOrmHealthIndicator } from '@nestjs/terminus';
import { InjectDataSource } from '@nestjs/typeorm';
import type { FastifyReply } from 'fastify';
import type { DataSource } from 'typeorm';
import { Public } from '../auth/access.decorator.js';

@ApiTags('operations')
@Controller('api/health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly db: TypeOrmHealthIndicator,
    private readonly indicators: HealthIndicatorService,
    @InjectDataSource() private readonly dataSource: DataSource,
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
    example: { status: 'error', info: {}, error: { database: { status: 'down', message: 'timeout of 1500ms exceeded' } }, details: {} },
  })
  async ready(@Res({ passthrough: true }) reply: FastifyReply): Promise<unknown> {
    try {
      return await this.health.check([
        () => this.db.pingCheck('database').withTimeout(1500),
        () =>
          this.indicators
            .check('migrations')
            .attempt(async () => {
              const pending = await this.dataSource.showMigrations();
              if (pending) throw new Error('migrations are pending');
              return { pending: 0 };
            })
            .withTimeout(1500),
      ]);
    } catch (err) {
      if (err instanceof ServiceUnavailableException) {
        void reply.status(503).header('Retry-After', '5');
        return err.getResponse();
      }
      throw err;
    }
  }
}
