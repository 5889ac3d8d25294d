import { createHash, timingSafeEqual } from 'node:crypto';
import { Controller, Get, Headers, Res } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { Public } from '../access/access.decorator.js';
import { bearerTokenOf } from '../access/bearer.js';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { AppError } from '../common/app-error.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { MetricsService } from './metrics.service.js';

/** SHA-256 of a string: equal-length digests, so that comparing them takes the same time whatever the inputs. */
function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

@ApiTags('operations')
@Controller('metrics')
export class MetricsController {
  /** The digest of METRICS_TOKEN, or null when /metrics is open. */
  private readonly expected: Buffer | null;

  constructor(
    private readonly metrics: MetricsService,
    @InjectConfig() config: AppConfig,
  ) {
    this.expected = config.metricsToken === null ? null : digest(config.metricsToken);
  }

  @Get()
  @Public()
  @ApiOperation({
    summary: 'Prometheus metrics (text exposition format)',
    description: 'Open to anyone unless METRICS_TOKEN is set; then only with `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise).',
  })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Metrics in the Prometheus text format', example: 'http_requests_total{method="POST",route="/api/mcp/validate",status="200"} 42' })
  @ApiUnauthorizedResponse({
    type: ErrorBody,
    description: 'METRICS_TOKEN is set and the request does not carry it as its bearer',
    example: { error: 'Authentication required', code: 'unauthorized', requestId: 'req-7f3a2c' },
  })
  text(@Headers('authorization') authorization: string | undefined, @Res({ passthrough: true }) reply: FastifyReply): Promise<string> {
    if (this.expected) {
      const given = bearerTokenOf(authorization);
      if (given === undefined) throw AppError.unauthorized();
      if (!timingSafeEqual(digest(given), this.expected)) throw AppError.invalidBearer();
    }
    // Set here, not with @Header: a refusal is the API's JSON error, not text.
    void reply.type('text/plain; version=0.0.4; charset=utf-8');
    return this.metrics.text();
  }
}
