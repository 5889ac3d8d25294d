import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiExtraModels,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiTags,
  ApiTooManyRequestsResponse,
  getSchemaPath,
} from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { Access } from '../access/access.decorator.js';
import { AppError } from '../common/app-error.js';
import { ErrorBody, RETRY_AFTER_HEADER } from '../common/error-body.dto.js';
import { MIN_TIME_MS } from '../common/timestamps.js';
import {
  AuditCheckpointKeyView,
  AuditCheckpointListQuery,
  AuditCheckpointPageView,
  AuditExportQuery,
  AuditFilterQuery,
  AuditListQuery,
  AuditPageView,
  AuditStatsQuery,
  AuditStatsView,
  AuditVerifyQuery,
  AuditVerifyView,
} from './audit.dto.js';
import { AuditCheckpointService } from './audit-checkpoint.service.js';
import { AuditExportService, CSV_HEADER } from './audit-export.service.js';
import { fhirSourceOf, toFhirBundle, type FhirSource } from './audit-fhir.js';
import { AuditListService } from './audit-list.service.js';
import { AuditStatsService } from './audit-stats.service.js';
import { AuditVerifyService } from './audit-verify.service.js';
import type { AuditFilters, VerifyResult } from './audit.types.js';

const DAY_MS = 86_400_000;
const MAX_STATS_SPAN_MS = 400 * DAY_MS;

function range(from: string | undefined, to: string | undefined): { from?: Date; to?: Date } {
  const f = from ? new Date(from) : undefined;
  const t = to ? new Date(to) : undefined;
  if (f && t && f > t) throw AppError.badRequest('Invalid request: from must not be after to', [{ field: 'from', message: 'from must not be after to' }]);
  return { from: f, to: t };
}

export function filtersOf(q: AuditFilterQuery): AuditFilters {
  return { type: q.type, outcome: q.outcome, userId: q.userId, tokenId: q.tokenId, ip: q.ip, ...range(q.from, q.to) };
}

/** One 400 answer of the audit routes, as the ValidationPipe (or the route) words it. */
function badRequest(field: string, message: string): ErrorBody {
  return { error: `Invalid request: ${message}`, code: 'validation_failed', requestId: 'req-7f3a2c', fields: [{ field, message }] };
}

const BAD_TIMESTAMP = (field: 'from' | 'to'): ErrorBody =>
  badRequest(
    field,
    `${field} must be an ISO-8601 date (2026-11-26) or date-time with Z or an offset (2026-11-26T08:00:00Z), from year 0001 to 9999`,
  );

const BAD_LIST_FILTER = { type: ErrorBody, example: badRequest('limit', 'limit must not be greater than 1000') };

const BAD_STATS_FILTER = {
  type: ErrorBody,
  examples: {
    from: { summary: '`from` is not an ISO-8601 date or date-time with an offset', value: BAD_TIMESTAMP('from') },
    period: { summary: 'The period is longer than 400 days', value: badRequest('from', 'the period may not exceed 400 days') },
  },
};

const BAD_VERIFY_FILTER = { type: ErrorBody, example: BAD_TIMESTAMP('from') };

/** The export's refusal is JSON, whatever format was asked for (not one of the types the route produces). */
const BAD_EXPORT_FILTER = {
  content: {
    'application/json': {
      schema: { $ref: getSchemaPath(ErrorBody) },
      example: {
        error: 'Invalid request: format must be one of the following values: ndjson, csv, fhir-ndjson',
        code: 'validation_failed',
        requestId: 'req-7f3a2c',
        fields: [{ field: 'format', message: 'format must be one of the following values: ndjson, csv, fhir-ndjson' }],
      },
    },
  },
};

/** One exported event, as GET /api/audit/events lists it (`details` is the stored JSON's own text). */
const EXPORT_NDJSON_EXAMPLE =
  '{"id":"4821","occurredAt":"2026-11-26T09:12:44.120Z","type":"token.validate","outcome":"valid",' +
  '"actorUserId":"6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6","tokenId":"0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b","ip":"10.0.4.12",' +
  '"userAgent":"python-httpx/0.27.0","requestId":"8a2c789a-3ea5-480f-a1b8-0ce0788d5488","latencyMs":1.84,' +
  '"details":{"fingerprint": "3f9a0c1d2e4b5a69"},"hash":"9b1c0e7d4a2f6b8c3d5e7f9a1b2c4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e"}\n';

/** The header line and the same event: CRLF line ends, a null is an empty field. */
const EXPORT_CSV_EXAMPLE =
  `${CSV_HEADER}\r\n` +
  '4821,2026-11-26T09:12:44.120Z,token.validate,valid,6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6,0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b,' +
  '10.0.4.12,python-httpx/0.27.0,8a2c789a-3ea5-480f-a1b8-0ce0788d5488,1.84,"{""fingerprint"": ""3f9a0c1d2e4b5a69""}",' +
  '9b1c0e7d4a2f6b8c3d5e7f9a1b2c4d6e8f0a1c3e5b7d9f2a4c6e8b0d1f3a5c7e\r\n';

/** Exports and verifications each read the whole log on a connection of their own: a few at once per instance. */
const TOO_MANY_LONG_READS = {
  type: ErrorBody,
  description: 'Four exports and verifications are already under way in this instance: try again after Retry-After (30 s)',
  example: {
    error: 'Too many audit exports and verifications under way: try again later',
    code: 'too_many_requests',
    requestId: 'req-7f3a2c',
    retryAfter: 30,
  },
  headers: RETRY_AFTER_HEADER,
};

@ApiTags('audit')
@Controller('api/audit')
@Access({ roles: ['auditor', 'admin'], scopes: ['read:audit'] })
export class AuditController {
  constructor(
    private readonly listing: AuditListService,
    private readonly exporter: AuditExportService,
    private readonly statistics: AuditStatsService,
    private readonly verifier: AuditVerifyService,
    private readonly checkpointer: AuditCheckpointService,
    @InjectConfig() config: AppConfig,
  ) {
    this.fhirSource = fhirSourceOf(config.auditHostname);
  }

  private readonly fhirSource: FhirSource;

  @Get('events')
  @ApiOperation({
    summary: 'Audit events, newest first, filtered and paginated by cursor',
    description:
      'With `format=fhir`, the page is a FHIR R4 `Bundle` (type `searchset`, `application/fhir+json`) of `AuditEvent` resources (IHE BALP), with `self` and `next` links.',
  })
  @ApiOkResponse({ type: AuditPageView })
  @ApiBadRequestResponse(BAD_LIST_FILTER)
  async list(@Query() q: AuditListQuery, @Req() req: FastifyRequest, @Res({ passthrough: true }) reply: FastifyReply): Promise<AuditPageView | string> {
    const page = await this.listing.list(filtersOf(q), q.limit ?? 100, q.cursor);
    if (q.format !== 'fhir') return page;
    // The links repeat the request's own query, the next one with the page's cursor.
    const url = new URL(req.url, 'http://localhost');
    const self = `${url.pathname}${url.search}`;
    let next: string | null = null;
    if (page.nextCursor) {
      url.searchParams.set('cursor', page.nextCursor);
      next = `${url.pathname}?${url.searchParams.toString()}`;
    }
    void reply.type('application/fhir+json; charset=utf-8');
    return JSON.stringify(toFhirBundle(page.items, this.fhirSource, { self, next }));
  }

  @Get('events/export')
  @ApiOperation({ summary: 'Every matching event, streamed as NDJSON (default), CSV or FHIR NDJSON (one R4 AuditEvent a line), newest first' })
  @ApiProduces('application/x-ndjson', 'text/csv', 'application/fhir+ndjson')
  @ApiOkResponse({
    description: 'One event per line (NDJSON), or CSV with a header line',
    content: {
      'application/x-ndjson': { schema: { type: 'string' }, example: EXPORT_NDJSON_EXAMPLE },
      'text/csv': { schema: { type: 'string' }, example: EXPORT_CSV_EXAMPLE },
      'application/fhir+ndjson': { schema: { type: 'string' } },
    },
  })
  @ApiExtraModels(ErrorBody)
  @ApiBadRequestResponse(BAD_EXPORT_FILTER)
  @ApiTooManyRequestsResponse(TOO_MANY_LONG_READS)
  async export(@Query() q: AuditExportQuery, @Res() reply: FastifyReply): Promise<void> {
    const format = q.format ?? 'ndjson';
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const stream = await this.exporter.export(filtersOf(q), format, undefined, this.fhirSource);
    const type = format === 'csv' ? 'text/csv' : format === 'fhir-ndjson' ? 'application/fhir+ndjson' : 'application/x-ndjson';
    await reply
      .header('Content-Type', `${type}; charset=utf-8`)
      .header('Content-Disposition', `attachment; filename="hospiai-audit-${stamp}.${format === 'csv' ? 'csv' : 'ndjson'}"`)
      .header('Cache-Control', 'no-store')
      .send(stream);
  }

  @Get('stats')
  @ApiOperation({ summary: 'Counts per hour or day and outcome, and the IPs and tokens with the most failures' })
  @ApiOkResponse({
    type: AuditStatsView,
    example: {
      from: '2026-11-25T00:00:00.000Z',
      to: '2026-11-26T00:00:00.000Z',
      interval: 'hour',
      type: 'token.validate',
      buckets: [{ start: '2026-11-25T08:00:00.000Z', total: 1520, outcomes: { valid: 1490, revoked: 20, invalid: 10 } }],
      topFailingIps: [{ ip: '10.0.9.77', failures: 25 }],
      topFailingTokens: [{ tokenId: '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b', failures: 20 }],
    },
  })
  @ApiBadRequestResponse(BAD_STATS_FILTER)
  stats(@Query() q: AuditStatsQuery): Promise<AuditStatsView> {
    const to = q.to ? new Date(q.to) : new Date();
    // By default the 24 hours before `to`, but not before year 0001.
    const from = q.from ? new Date(q.from) : new Date(Math.max(to.getTime() - DAY_MS, MIN_TIME_MS));
    if (from > to) throw AppError.badRequest('Invalid request: from must not be after to', [{ field: 'from', message: 'from must not be after to' }]);
    if (to.getTime() - from.getTime() > MAX_STATS_SPAN_MS) {
      throw AppError.badRequest('Invalid request: the period may not exceed 400 days', [{ field: 'from', message: 'the period may not exceed 400 days' }]);
    }
    return this.statistics.stats(from, to, q.interval ?? 'hour', q.type);
  }

  @Get('verify')
  @ApiOperation({ summary: 'Walks the hash chain (over a range, or from the retention anchor to the head) and reports the first broken event' })
  @ApiOkResponse({ type: AuditVerifyView })
  @ApiBadRequestResponse(BAD_VERIFY_FILTER)
  @ApiTooManyRequestsResponse(TOO_MANY_LONG_READS)
  async verify(@Query() q: AuditVerifyQuery, @Res({ passthrough: true }) reply: FastifyReply): Promise<VerifyResult> {
    // A client that goes away ends the walk: it would hold a long read's place and a connection to its end, for nobody.
    const abandoned = new AbortController();
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) abandoned.abort();
    });
    // Checkpoints come from the file kept outside the database, each signature checked: never from the database alone.
    const checkpoints = await this.checkpointer.fromFile();
    return this.verifier.verify(range(q.from, q.to), undefined, abandoned.signal, checkpoints);
  }

  @Get('checkpoints')
  @ApiOperation({ summary: 'Signed checkpoints of the hash chain head, newest first (as recorded in the database; verify reads the checkpoint file)' })
  @ApiOkResponse({ type: AuditCheckpointPageView })
  @ApiBadRequestResponse({ type: ErrorBody, example: badRequest('limit', 'limit must not be greater than 1000') })
  checkpoints(@Query() q: AuditCheckpointListQuery): Promise<AuditCheckpointPageView> {
    return this.checkpointer.list(q.limit ?? 100, q.cursor === undefined ? undefined : Number(q.cursor));
  }

  @Get('checkpoints/public-key')
  @ApiOperation({ summary: 'The Ed25519 public key that verifies the checkpoints' })
  @ApiOkResponse({ type: AuditCheckpointKeyView })
  publicKey(): AuditCheckpointKeyView {
    return this.checkpointer.publicKeyView();
  }
}
