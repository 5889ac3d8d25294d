import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
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
import { CreatedMcpClientView, CreateMcpClientDto, McpClientList, McpClientView, UpdateMcpClientDto } from './mcp-clients.dto.js';
import { McpClientsService } from './mcp-clients.service.js';

const CLIENT_EXAMPLE = {
  id: '3d2c1b0a-9f8e-4d7c-8b6a-5f4e3d2c1b0a',
  clientId: 'mcp_Q2hVZ0x3bWJkR1px',
  name: 'Serveur FastMCP rendez-vous (production)',
  createdBy: '6f1c2a8e-3b4d-4c5e-9f60-718293a4b5c6',
  createdAt: '2026-11-26T09:00:00.000Z',
  revokedAt: null,
  lastUsedAt: null,
  status: 'active',
  resourceUri: 'https://mcp-rdv.chu-exemple.fr/mcp',
  acceptedScopes: ['read:bookings', 'write:bookings'],
};

const BAD_RESOURCE_URI = {
  error: 'URI de ressource invalide : une URL https absolue (http seulement sur la boucle locale), sans fragment',
  code: 'validation_failed',
  requestId: 'req-7f3a2c',
  fields: [{ field: 'resourceUri', message: 'resourceUri must be an absolute https URL (http only on loopback), without fragment or credentials' }],
};

const RESOURCE_TAKEN = {
  type: ErrorBody,
  description: '`resource_uri_taken`: another active server has this resource URI',
  example: {
    error: 'Cette URI de ressource est déjà celle d’un autre serveur MCP actif',
    code: 'resource_uri_taken',
    requestId: 'req-7f3a2c',
    fields: [{ field: 'resourceUri', message: 'Cette URI de ressource est déjà celle d’un autre serveur MCP actif' }],
  },
};

@ApiTags('mcp')
@Controller('api/mcp/clients')
@Access({ roles: ['admin'] })
export class McpClientsController {
  constructor(private readonly clients: McpClientsService) {}

  @Post()
  @ApiOperation({
    summary: 'Register an MCP server; its secret is in this answer only',
    description:
      'The MCP server then authenticates with `clientId` and `clientSecret` (HTTP Basic, or `client_id`/`client_secret` in the form) ' +
      'to `POST /api/oauth/introspect` and `GET /api/mcp/revocations`. Only a SHA-256 of the secret is stored. ' +
      '`resourceUri` (optional) makes it a protected resource that tokens can be bound to; `acceptedScopes` defaults to the whole catalogue.',
  })
  @ApiCreatedResponse({
    type: CreatedMcpClientView,
    example: { ...CLIENT_EXAMPLE, clientSecret: 'mcps_pW3q8R1v0yXo2bN5kLd7Jt4Hs9Gf6Ea1Zc3Vb8Nm0Qw' },
    headers: shownOnceHeaders('/api/mcp/clients/{id}'),
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      name: {
        summary: 'A field breaks its rule',
        value: {
          error: 'Invalid request: name must be longer than or equal to 1 characters',
          code: 'validation_failed',
          requestId: 'req-7f3a2c',
          fields: [{ field: 'name', message: 'name must be longer than or equal to 1 characters' }],
        },
      },
      resourceUri: { summary: 'The resource URI is not an absolute https URL (http only on loopback)', value: BAD_RESOURCE_URI },
    },
  })
  @ApiConflictResponse(RESOURCE_TAKEN)
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() dto: CreateMcpClientDto,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedMcpClientView> {
    const created = await this.clients.create(p, dto, ctx);
    void reply.header('Location', `/api/mcp/clients/${created.id}`).header('Cache-Control', 'no-store');
    return created;
  }

  @Get()
  @ApiOperation({ summary: 'Every registered MCP server, newest first (never a secret)' })
  @ApiOkResponse({ type: McpClientList, example: { items: [CLIENT_EXAMPLE] } })
  async list(): Promise<McpClientList> {
    return { items: await this.clients.list() };
  }

  @Patch(':id')
  @ApiOperation({
    summary: "Change a registered MCP server's name, resource URI or accepted scopes (audited)",
    description:
      'Only the fields given change; `resourceUri: null` removes the resource URI. Tokens already bound to the old resource URI stay bound to it. ' +
      'A revoked server cannot be changed (409 `mcp_client_revoked`).',
  })
  @ApiOkResponse({ type: McpClientView, example: CLIENT_EXAMPLE })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      resourceUri: { summary: 'The resource URI is not an absolute https URL (http only on loopback)', value: BAD_RESOURCE_URI },
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'MCP client not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  @ApiConflictResponse({
    type: ErrorBody,
    description: '`resource_uri_taken`, or `mcp_client_revoked`: a revoked server cannot be changed',
    examples: {
      resource_uri_taken: { summary: 'Another active server has this resource URI', value: RESOURCE_TAKEN.example },
      mcp_client_revoked: {
        summary: 'The server is revoked',
        value: { error: 'Ce serveur MCP est révoqué : enregistrez-en un nouveau', code: 'mcp_client_revoked', requestId: 'req-7f3a2c' },
      },
    },
  })
  async update(
    @CurrentPrincipal() p: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: UpdateMcpClientDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<McpClientView> {
    return this.clients.update(p, id, dto, ctx);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({
    summary: 'Revoke an MCP server: its credentials stop working at once; revoking twice is still 204',
    description: 'Its open revocation streams are closed (at once on this instance, within about 15 s on the others).',
  })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiBadRequestResponse({ type: ErrorBody, example: BAD_ID_BODY })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'MCP client not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  async revoke(@CurrentPrincipal() p: Principal, @Param('id', UUID_ID) id: string, @ReqContext() ctx: RequestContext): Promise<void> {
    await this.clients.revoke(p, id, ctx);
  }
}
