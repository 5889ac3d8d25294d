import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody, shownOnceHeaders } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import {
  CreatedWebhookView,
  CreateWebhookDto,
  UpdateWebhookDto,
  WebhookDeliveryList,
  WebhookDeliveryQuery,
  WebhookList,
  WebhookView,
} from './webhooks.dto.js';
import { WebhooksService } from './webhooks.service.js';

const WEBHOOK_EXAMPLE = {
  id: '5f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f',
  url: 'https://siem.chu-exemple.fr/hooks/hospiai',
  eventTypes: ['token.expiring', 'token.revoked'],
  enabled: true,
  description: 'SIEM de la DSI',
  createdAt: '2026-11-26T09:00:00.000Z',
  updatedAt: '2026-11-26T09:00:00.000Z',
};
const NOT_FOUND = { type: ErrorBody, example: { error: 'Webhook not found', code: 'not_found', requestId: 'req-7f3a2c' } };
const BAD_URL = {
  summary:
    'The URL is refused: not https, credentials or a fragment in it, or a loopback or private address without WEBHOOK_ALLOW_PRIVATE_NETWORKS',
  value: {
    error: "Invalid request: url: l'URL doit commencer par https://",
    code: 'validation_failed',
    requestId: 'req-7f3a2c',
    fields: [{ field: 'url', message: "l'URL doit commencer par https://" }],
  },
};

@ApiTags('webhooks')
@Controller('api/admin/webhooks')
@Access({ roles: ['admin'] })
export class WebhooksController {
  constructor(private readonly webhooks: WebhooksService) {}

  @Post()
  @ApiOperation({
    summary: 'Register a webhook endpoint; its signing secret is in this answer only',
    description:
      'Events are POSTed to it by the Standard Webhooks convention (`webhook-id`, `webhook-timestamp`, `webhook-signature`: ' +
      'HMAC-SHA256 with the secret), retried with exponential backoff. See docs/api.md, "Webhooks".',
  })
  @ApiCreatedResponse({
    type: CreatedWebhookView,
    example: { ...WEBHOOK_EXAMPLE, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
    headers: shownOnceHeaders('/api/admin/webhooks/{id}'),
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      url: BAD_URL,
      eventTypes: {
        summary: 'An unknown event type',
        value: {
          error:
            'Invalid request: each value in eventTypes must be one of: token.created, token.revoked, token.expiring, token.expired, policy.changed',
          code: 'validation_failed',
          requestId: 'req-7f3a2c',
          fields: [
            {
              field: 'eventTypes',
              message:
                'each value in eventTypes must be one of: token.created, token.revoked, token.expiring, token.expired, policy.changed',
            },
          ],
        },
      },
    },
  })
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() dto: CreateWebhookDto,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedWebhookView> {
    const created = await this.webhooks.create(p, dto, ctx);
    void reply.header('Location', `/api/admin/webhooks/${created.id}`).header('Cache-Control', 'no-store');
    return created;
  }

  @Get()
  @ApiOperation({ summary: 'Every webhook endpoint, newest first (never a secret)' })
  @ApiOkResponse({ type: WebhookList, example: { items: [WEBHOOK_EXAMPLE] } })
  async list(): Promise<WebhookList> {
    return { items: await this.webhooks.list() };
  }

  @Get(':id')
  @ApiOperation({ summary: 'One webhook endpoint (never its secret)' })
  @ApiOkResponse({ type: WebhookView, example: WEBHOOK_EXAMPLE })
  @ApiBadRequestResponse({ type: ErrorBody, example: BAD_ID_BODY })
  @ApiNotFoundResponse(NOT_FOUND)
  get(@Param('id', UUID_ID) id: string): Promise<WebhookView> {
    return this.webhooks.get(id);
  }

  @Patch(':id')
  @ApiOperation({ summary: "Change a webhook endpoint's URL, event types, description, or turn it on or off (the secret stays)" })
  @ApiOkResponse({ type: WebhookView, example: WEBHOOK_EXAMPLE })
  @ApiBadRequestResponse({ type: ErrorBody, examples: { url: BAD_URL, id: { summary: 'The id is not a UUID', value: BAD_ID_BODY } } })
  @ApiNotFoundResponse(NOT_FOUND)
  update(
    @CurrentPrincipal() p: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: UpdateWebhookDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<WebhookView> {
    return this.webhooks.update(p, id, dto, ctx);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Delete a webhook endpoint and its delivery log; nothing more is sent to it' })
  @ApiNoContentResponse({ description: 'Deleted' })
  @ApiBadRequestResponse({ type: ErrorBody, example: BAD_ID_BODY })
  @ApiNotFoundResponse(NOT_FOUND)
  async remove(@CurrentPrincipal() p: Principal, @Param('id', UUID_ID) id: string, @ReqContext() ctx: RequestContext): Promise<void> {
    await this.webhooks.remove(p, id, ctx);
  }

  @Get(':id/deliveries')
  @ApiOperation({
    summary: "A webhook endpoint's delivery log, newest first: each event's status, attempts and last answer (never its payload)",
  })
  @ApiOkResponse({ type: WebhookDeliveryList })
  @ApiBadRequestResponse({ type: ErrorBody, example: BAD_ID_BODY })
  @ApiNotFoundResponse(NOT_FOUND)
  async deliveries(@Param('id', UUID_ID) id: string, @Query() q: WebhookDeliveryQuery): Promise<WebhookDeliveryList> {
    return { items: await this.webhooks.deliveries(id, q.limit ?? 100) };
  }
}
