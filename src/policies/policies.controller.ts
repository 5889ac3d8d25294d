import { Body, Controller, Get, Put } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { ReqContext, type RequestContext } from '../common/request-context.js';
import { PolicyChangeView, PolicyView, UpdatePolicyDto } from './policies.dto.js';
import type { StoredPolicy } from './policies.repository.js';
import { PoliciesService } from './policies.service.js';
import { WRITE_SCOPES } from './token-policy.js';

function toView(p: StoredPolicy): PolicyView {
  return {
    maxLifetimeDays: p.maxLifetimeDays,
    restrictedScopes: p.restrictedScopes,
    allowlistRequiredForWrite: p.allowlistRequiredForWrite,
    writeScopes: [...WRITE_SCOPES],
    updatedAt: p.updatedAt.toISOString(),
    updatedBy: p.updatedBy,
  };
}

@ApiTags('admin')
@Controller('api/admin/policies')
@Access({ roles: ['admin'] })
export class PoliciesController {
  constructor(private readonly policies: PoliciesService) {}

  @Get()
  @ApiOperation({ summary: 'The token policy: maximum lifetime, restricted scopes, allowlist required for write scopes (admin)' })
  @ApiOkResponse({ type: PolicyView })
  async get(): Promise<PolicyView> {
    return toView(await this.policies.get());
  }

  @Put()
  @ApiOperation({
    summary:
      'Replace the token policy (admin); with applyToExisting, the active tokens that do not comply are revoked now (reason `policy`)',
  })
  @ApiOkResponse({ type: PolicyChangeView })
  @ApiBadRequestResponse({
    type: ErrorBody,
    example: {
      error: 'Invalid request: maxLifetimeDays must not be greater than 365',
      code: 'validation_failed',
      requestId: 'req-7f3a2c',
      fields: [{ field: 'maxLifetimeDays', message: 'maxLifetimeDays must not be greater than 365' }],
    },
  })
  async update(
    @CurrentPrincipal() p: Principal,
    @Body() dto: UpdatePolicyDto,
    @ReqContext() ctx: RequestContext,
  ): Promise<PolicyChangeView> {
    const { policy, revokedTokens } = await this.policies.update(p, dto, ctx);
    return { ...toView(policy), revokedTokens };
  }
}
