import { Controller, Delete, Get, HttpCode, Param, PipeTransform } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { AppError } from '../common/app-error.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { GrantList } from './grants.dto.js';
import { GrantsService } from './grants.service.js';

/** A grant id as oidc-provider makes them (nanoid: letters, digits, `_` and `-`). */
const GRANT_ID: PipeTransform<unknown, string> = {
  transform(value: unknown): string {
    if (typeof value !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(value)) {
      throw AppError.badRequest('Invalid request: grantId must be a grant id', [{ field: 'grantId', message: 'grantId must be a grant id' }]);
    }
    return value;
  },
};

@ApiTags('oauth-server')
@Controller('api/oauth/grants')
@Access.session()
export class GrantsController {
  constructor(private readonly grants: GrantsService) {}

  @Get()
  @ApiOperation({ summary: 'The applications the caller authorized (OAuth consents): client, MCP server, scopes, date' })
  @ApiOkResponse({ type: GrantList })
  async list(@CurrentPrincipal() p: Principal): Promise<GrantList> {
    return { grants: await this.grants.list(p) };
  }

  @Delete(':grantId')
  @HttpCode(204)
  @ApiOperation({ summary: 'Revoke an authorization: its refresh tokens and its access tokens are revoked at once (audited as oauth.grant_revoke)' })
  @ApiNoContentResponse({ description: 'Revoked' })
  @ApiBadRequestResponse({ type: ErrorBody, example: { error: 'Invalid request: grantId must be a grant id', code: 'validation_failed', requestId: 'req-7f3a2c' } })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'Grant not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  async revoke(@CurrentPrincipal() p: Principal, @Param('grantId', GRANT_ID) id: string, @ReqContext() ctx: RequestContext): Promise<void> {
    await this.grants.revoke(p, id, ctx);
  }
}
