import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCreatedResponse,
  ApiForbiddenResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { SCOPES } from '../../libs/scopes/src/index.js';
import { Access, CSRF_FAILED, forbiddenResponse } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody, shownOnceHeaders } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import { CreatedTokenView, CreateTokenDto, RotateTokenDto, ScopeView, TokenList, TokenView, UpdateTokenDto } from './tokens.dto.js';
import { TokensService, toTokenView } from './tokens.service.js';

const BAD_ID = { type: ErrorBody, example: BAD_ID_BODY };
const NOT_FOUND = { type: ErrorBody, example: { error: 'Token not found', code: 'not_found', requestId: 'req-7f3a2c' } };
const BAD_BODY = {
  type: ErrorBody,
  example: {
    error: 'Invalid request: durationDays must not be greater than 365',
    code: 'validation_failed',
    requestId: 'req-7f3a2c',
    fields: [{ field: 'durationDays', message: 'durationDays must not be greater than 365' }],
  },
};
/** The 400s of a token refused by the admins' policy (docs/governance.md). */
const POLICY_BAD_REQUESTS = {
  policy_max_lifetime: {
    summary: "durationDays is above the policy's maximum lifetime",
    value: {
      error: 'La durée de validité dépasse le maximum fixé par la politique des tokens : 90 jours',
      code: 'policy_max_lifetime',
      requestId: 'req-7f3a2c',
      maxLifetimeDays: 90,
      fields: [{ field: 'durationDays', message: 'La durée de validité dépasse le maximum fixé par la politique des tokens : 90 jours' }],
    },
  },
  policy_allowlist_required: {
    summary: 'the policy requires an IP allowlist for a token with a write scope',
    value: {
      error: 'La politique des tokens exige une liste d’adresses IP autorisées pour un token avec une portée d’écriture (write:data)',
      code: 'policy_allowlist_required',
      requestId: 'req-7f3a2c',
      fields: [
        {
          field: 'allowedIps',
          message: 'La politique des tokens exige une liste d’adresses IP autorisées pour un token avec une portée d’écriture (write:data)',
        },
      ],
    },
  },
};
const POLICY_SCOPE_RESTRICTED = {
  summary: "the policy reserves one of the scopes to other roles than the caller's",
  value: {
    error: 'La politique des tokens réserve write:data aux rôles : admin',
    code: 'policy_scope_restricted',
    requestId: 'req-7f3a2c',
    fields: [{ field: 'scopes', message: 'La politique des tokens réserve write:data aux rôles : admin' }],
  },
};
const TOKEN_REVOKED_409 = {
  type: ErrorBody,
  example: { error: 'This token is revoked: create a new one instead', code: 'token_revoked', requestId: 'req-7f3a2c' },
};

const CREATED_EXAMPLE = {
  id: '0b6f9a8e-5c2d-4e1f-8a7b-3c4d5e6f7a8b',
  name: 'Serveur FastMCP production',
  scopes: ['read:data', 'write:bookings'],
  createdAt: '2026-11-26T09:00:00.000Z',
  expiresAt: '2027-02-24T09:00:00.000Z',
  token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLiJ9.eyJ0b2tlbl91c2UiOiJhcGkifQ.c2lnbmF0dXJl',
};

@ApiTags('tokens')
@Controller('api/tokens')
@Access.session()
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Get('scopes')
  @ApiOperation({ summary: 'The scopes a token can carry' })
  @ApiOkResponse({ type: [ScopeView] })
  scopes(): ScopeView[] {
    return SCOPES.map(({ scope, description }) => ({ scope, description }));
  }

  @Post()
  @ApiOperation({ summary: 'Create an API token; the token is in this answer only' })
  @ApiCreatedResponse({ type: CreatedTokenView, example: CREATED_EXAMPLE, headers: shownOnceHeaders('/api/tokens/{id}') })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      body: { summary: 'A field of the body is invalid', value: BAD_BODY.example },
      ...POLICY_BAD_REQUESTS,
    },
  })
  // Replaces the generic 403 of @Access (only `csrf_failed` on a route open to every session) with both of this route's.
  @ApiForbiddenResponse(
    forbiddenResponse({
      scope_not_allowed: {
        summary: 'a user (neither auditor nor admin) asked for `read:audit`',
        value: {
          error: 'Only auditors and admins may grant read:audit',
          code: 'scope_not_allowed',
          requestId: 'req-7f3a2c',
          fields: [{ field: 'scopes', message: 'read:audit may only be granted by auditors and admins' }],
        },
      },
      policy_scope_restricted: POLICY_SCOPE_RESTRICTED,
      csrf_failed: CSRF_FAILED,
    }),
  )
  async create(
    @CurrentPrincipal() p: Principal,
    @Body() dto: CreateTokenDto,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedTokenView> {
    const created = await this.tokens.create(p, dto, ctx);
    void reply.header('Location', `/api/tokens/${created.id}`).header('Cache-Control', 'no-store');
    return created;
  }

  @Get()
  @ApiOperation({ summary: "The caller's tokens, newest first (never the token itself)" })
  @ApiOkResponse({ type: TokenList })
  async list(@CurrentPrincipal() p: Principal): Promise<TokenList> {
    return { items: await this.tokens.list(p.userId) };
  }

  @Get(':id')
  @ApiOperation({ summary: "One token (owner or admin; another user's token is 404)" })
  @ApiOkResponse({ type: TokenView })
  @ApiBadRequestResponse(BAD_ID)
  @ApiNotFoundResponse(NOT_FOUND)
  async get(@CurrentPrincipal() p: Principal, @Param('id', UUID_ID) id: string): Promise<TokenView> {
    return toTokenView(await this.tokens.getFor(p, id));
  }

  @Patch(':id')
  @ApiOperation({
    summary: "Rename a token or change its IP allowlist (the owner only); its scopes and lifetime cannot change (400 token_immutable)",
  })
  @ApiOkResponse({ type: TokenView })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      body: {
        summary: 'A field of the body is invalid (an allowlist entry that is neither an address nor a CIDR range, more than 50 entries…)',
        value: {
          error: 'Invalid request: allowedIps : "intranet" n’est ni une adresse IPv4 ou IPv6 ni une plage CIDR (exemples : 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)',
          code: 'validation_failed',
          requestId: 'req-7f3a2c',
          fields: [
            {
              field: 'allowedIps',
              message: 'allowedIps : "intranet" n’est ni une adresse IPv4 ou IPv6 ni une plage CIDR (exemples : 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)',
            },
          ],
        },
      },
      token_immutable: {
        summary: 'the body names scopes, durationDays, expiresAt or createdAt',
        value: {
          error: 'Les portées et la durée de vie d’un token ne peuvent pas être modifiées : créez un nouveau token (ou renouvelez celui-ci)',
          code: 'token_immutable',
          requestId: 'req-7f3a2c',
          fields: [
            {
              field: 'scopes',
              message: 'Les portées et la durée de vie d’un token ne peuvent pas être modifiées : créez un nouveau token (ou renouvelez celui-ci)',
            },
          ],
        },
      },
      policy_allowlist_required: POLICY_BAD_REQUESTS.policy_allowlist_required,
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse(NOT_FOUND)
  @ApiConflictResponse({
    type: ErrorBody,
    example: { error: 'Ce token est révoqué : il ne peut plus être modifié', code: 'token_revoked', requestId: 'req-7f3a2c' },
  })
  @ApiForbiddenResponse(
    forbiddenResponse({
      not_token_owner: {
        summary: "an admin asked to change another user's token (an admin may revoke it)",
        value: { error: 'Seul le propriétaire d’un token peut le modifier', code: 'not_token_owner', requestId: 'req-7f3a2c' },
      },
      csrf_failed: CSRF_FAILED,
    }),
  )
  async update(
    @CurrentPrincipal() p: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: UpdateTokenDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<TokenView> {
    return this.tokens.update(p, id, dto, ctx);
  }

  @Delete(':id')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke a token: the very next validation refuses it; revoking twice is still 204' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiBadRequestResponse(BAD_ID)
  @ApiNotFoundResponse(NOT_FOUND)
  async revoke(@CurrentPrincipal() p: Principal, @Param('id', UUID_ID) id: string, @ReqContext() ctx: RequestContext): Promise<void> {
    await this.tokens.revoke(p, id, ctx);
  }

  @Post(':id/rotate')
  @ApiOperation({ summary: "A new token with the same name and scopes; the old one is revoked (the owner only: an admin gets 403 for another's token)" })
  @ApiCreatedResponse({ type: CreatedTokenView, example: CREATED_EXAMPLE, headers: shownOnceHeaders('/api/tokens/{id} of the new token') })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      body: { summary: 'A field of the body is invalid', value: BAD_BODY.example },
      ...POLICY_BAD_REQUESTS,
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse(NOT_FOUND)
  @ApiConflictResponse(TOKEN_REVOKED_409)
  @ApiForbiddenResponse(
    forbiddenResponse({
      scope_not_allowed: {
        summary: "the owner may no longer hold one of the token's scopes (read:audit after a demotion): a new token must be created",
        value: {
          error: 'The owner may no longer hold read:audit: create a new token instead',
          code: 'scope_not_allowed',
          requestId: 'req-7f3a2c',
        },
      },
      not_token_owner: {
        summary: "an admin asked to rotate another user's token: only the owner receives a token's text (an admin may revoke it)",
        value: {
          error: 'Only the owner of a token may rotate it: revoke it instead',
          code: 'not_token_owner',
          requestId: 'req-7f3a2c',
        },
      },
      policy_scope_restricted: POLICY_SCOPE_RESTRICTED,
      csrf_failed: CSRF_FAILED,
    }),
  )
  async rotate(
    @CurrentPrincipal() p: Principal,
    @Param('id', UUID_ID) id: string,
    @Body() dto: RotateTokenDto,
    @ReqContext() ctx: RequestContext,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<CreatedTokenView> {
    const created = await this.tokens.rotate(p, id, dto.durationDays, ctx);
    void reply.header('Location', `/api/tokens/${created.id}`).header('Cache-Control', 'no-store');
    return created;
  }
}
