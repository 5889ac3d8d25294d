import { Controller, Get, Headers, Logger, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiBasicAuth,
  ApiExtension,
  ApiHeader,
  ApiOkResponse,
  ApiOperation,
  ApiProduces,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Public } from '../access/access.decorator.js';
import { AppError, ErrorCode } from '../common/app-error.js';
import { DATABASE_UNAVAILABLE, ErrorBody } from '../common/error-body.dto.js';
import { basicCredentials, CLIENT_CHALLENGE, MCP_CLIENT_SCHEME, recordableClientId } from './client-credentials.js';
import { McpClientsService } from './mcp-clients.service.js';
import { RevocationStreamService, TooManyStreamsError } from './revocation-stream.service.js';

const EXAMPLE_STREAM = [
  'retry: 2000',
  '',
  'id: 41',
  'event: ready',
  'data: {"lastEventId":"41"}',
  '',
  'id: 42',
  'event: revoked',
  'data: {"tokenIds":["0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b"]}',
  '',
  ': keep-alive',
  '',
].join('\n');

function invalidClient(): AppError {
  return new AppError(401, 'invalid_client', 'Client authentication failed', {}, { 'WWW-Authenticate': CLIENT_CHALLENGE });
}

@ApiTags('mcp')
@Controller('api/mcp/revocations')
export class RevocationStreamController {
  private readonly logger = new Logger(RevocationStreamController.name);

  constructor(
    private readonly clients: McpClientsService,
    private readonly streams: RevocationStreamService,
  ) {}

  @Get()
  @Public()
  @ApiBasicAuth(MCP_CLIENT_SCHEME)
  @ApiExtension('x-access', 'public (a registered MCP server: its client id and secret as HTTP Basic credentials)')
  @ApiOperation({
    summary: 'Follow revocations as Server-Sent Events (for MCP servers that cache validations)',
    description: [
      'A `text/event-stream` that stays open. Each revocation (a token revoked or rotated, or its owner disabled or changed) is one event:',
      '`id: <sequence>`, `event: revoked`, `data: {"tokenIds": [...]}` — token ids (`jti`) only, never a token or a user.',
      'An MCP server drops its cached validations of those tokens at once.',
      '',
      '- After the replay (if any), `event: ready` says the stream is live; its `id` is the current position.',
      '- Send `Last-Event-ID` when reconnecting: every revocation after that id is replayed first, so none is missed.',
      '- `event: reset` (a `Last-Event-ID` the service never issued, as after restoring a backup): drop every cached validation.',
      '- A comment line (`: keep-alive`) every 15 s; the stream ends when the service shuts down or the client is revoked: reconnect with backoff.',
    ].join('\n'),
  })
  @ApiHeader({ name: 'Last-Event-ID', required: false, description: 'The id of the last event received, to resume after it', example: '41' })
  @ApiProduces('text/event-stream')
  @ApiOkResponse({ description: 'The event stream', content: { 'text/event-stream': { schema: { type: 'string' }, example: EXAMPLE_STREAM } } })
  @ApiBadRequestResponse({ type: ErrorBody, example: { error: 'Last-Event-ID must be a whole number', code: 'validation_failed', requestId: 'req-7f3a2c' } })
  @ApiUnauthorizedResponse({
    type: ErrorBody,
    description: 'No, unknown, wrong or revoked client credentials; with `WWW-Authenticate: Basic`',
    example: { error: 'Client authentication failed', code: 'invalid_client', requestId: 'req-7f3a2c' },
  })
  @ApiServiceUnavailableResponse({
    ...DATABASE_UNAVAILABLE,
    description: 'The database cannot be reached (Retry-After: 5), or this instance follows as many streams as it can (Retry-After: 30)',
  })
  async follow(
    @Headers('authorization') authorization: string | undefined,
    @Headers('last-event-id') lastEventId: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const creds = basicCredentials(authorization);
    if (creds.kind !== 'credentials') throw invalidClient();
    const client = await this.clients.authenticate(creds.credentials);
    if (!client) {
      this.logger.warn(
        { clientId: recordableClientId(creds.credentials.clientId) ?? '(malformed)' },
        'revocation stream refused: bad client credentials',
      );
      throw invalidClient();
    }
    const resumeFrom = lastEventId === undefined || lastEventId.trim() === '' ? undefined : lastEventId.trim();
    if (resumeFrom !== undefined && !/^\d{1,18}$/.test(resumeFrom)) {
      throw AppError.badRequest('Last-Event-ID must be a whole number', [{ field: 'Last-Event-ID', message: 'must be a whole number' }]);
    }
    let out;
    try {
      out = this.streams.open(client, resumeFrom);
    } catch (err) {
      if (err instanceof TooManyStreamsError) throw new AppError(503, ErrorCode.ServiceUnavailable, 'Service indisponible', {}, { 'Retry-After': '30' });
      throw err;
    }
    reply.raw.on('close', () => out.destroy());
    await reply
      .status(200)
      .headers({
        'Content-Type': 'text/event-stream; charset=utf-8',
        'Cache-Control': 'no-store',
        'X-Accel-Buffering': 'no',
      })
      .send(out);
  }
}
