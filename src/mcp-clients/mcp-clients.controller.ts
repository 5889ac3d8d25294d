import { Body, Controller, Delete, Get, HttpCode, Param, Post, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody, shownOnceHeaders } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import { CreatedMcpClientView, CreateMcpClientDto, McpClientList } from './mcp-clients.dto.js';
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
      'to `POST /api/oauth/introspect` and `GET /api/mcp/revocations`. Only a SHA-256 of the secret is stored.',
  })
  @ApiCreatedResponse({
    type: CreatedMcpClientView,
    example: { ...CLIENT_EXAMPLE, clientSecret: 'mcps_pW3q8R1v0yXo2bN5kLd7Jt4Hs9Gf6Ea1Zc3Vb8Nm0Qw' },
    headers: shownOnceHeaders('/api/mcp/clients/{id}'),
  })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: {
      error: 'Invalid request: name must be longer than or equal to 1 characters',
      code: 'validation_failed',
      requestId: 'req-7f3a2c',
      fields: [{ field: 'name', message: 'name must be longer than or equal to 1 characters' }],
    },
  })
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() dto: CreateMcpClientDto,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedMcpClientView> {
    const created = await this.clients.create(p, dto.name, ctx);
    void reply.header('Location', `/api/mcp/clients/${created.id}`).header('Cache-Control', 'no-store');
    return created;
  }

  @Get()
  @ApiOperation({ summary: 'Every registered MCP server, newest first (never a secret)' })
  @ApiOkResponse({ type: McpClientList, example: { items: [CLIENT_EXAMPLE] } })
  async list(): Promise<McpClientList> {
    return { items: await this.clients.list() };
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
