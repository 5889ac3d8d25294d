import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Access } from '../access/access.decorator.js';
import { CurrentPrincipal, type Principal } from '../access/principal.js';
import { ErrorBody } from '../common/error-body.dto.js';
import { BAD_ID_BODY, UUID_ID } from '../common/validation.js';
import { TokenUsageQuery, TokenUsageView } from './token-usage.dto.js';
import { TokenUsageService } from './token-usage.service.js';

const DEFAULT_DAYS = 30;

@ApiTags('tokens')
@Controller('api/tokens')
@Access.session()
export class TokenUsageController {
  constructor(private readonly usage: TokenUsageService) {}

  @Get(':id/usage')
  @ApiOperation({
    summary:
      "A token's use per UTC day (validations and introspections accepted and refused), its last use and the addresses that used it most (owner, auditors and admins; another user's token is 404)",
  })
  @ApiOkResponse({ type: TokenUsageView })
  @ApiBadRequestResponse({
    type: ErrorBody,
    examples: {
      days: {
        summary: '`days` is not a whole number from 1 to 90',
        value: {
          error: 'Invalid request: days must not be greater than 90',
          code: 'validation_failed',
          requestId: 'req-7f3a2c',
          fields: [{ field: 'days', message: 'days must not be greater than 90' }],
        },
      },
      id: { summary: 'The id is not a UUID', value: BAD_ID_BODY },
    },
  })
  @ApiNotFoundResponse({ type: ErrorBody, example: { error: 'Token not found', code: 'not_found', requestId: 'req-7f3a2c' } })
  get(@CurrentPrincipal() p: Principal, @Param('id', UUID_ID) id: string, @Query() q: TokenUsageQuery): Promise<TokenUsageView> {
    return this.usage.usage(p, id, q.days ?? DEFAULT_DAYS);
  }
}
