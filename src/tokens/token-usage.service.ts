import { Injectable } from '@nestjs/common';
import type { Principal } from '../access/principal.js';
import { AuditStatsService } from '../audit/audit-stats.service.js';
import { AppError } from '../common/app-error.js';
import type { TokenUsageView } from './token-usage.dto.js';
import { TokensRepository } from './tokens.repository.js';

/** A token's use at a glance, from the audit log's per-token daily rollup. */
@Injectable()
export class TokenUsageService {
  constructor(
    private readonly tokens: TokensRepository,
    private readonly stats: AuditStatsService,
  ) {}

  /** For its owner, admins and auditors; another user's token is 404, as everywhere else. */
  async usage(p: Principal, id: string, days: number): Promise<TokenUsageView> {
    const token = await this.tokens.findById(id);
    if (!token || (token.userId !== p.userId && p.role !== 'admin' && p.role !== 'auditor')) throw AppError.notFound('Token');
    const usage = await this.stats.tokenUsage(token.id, days);
    return {
      tokenId: token.id,
      from: usage.days[0].day,
      to: usage.days[usage.days.length - 1].day,
      days: usage.days,
      totalOk: usage.days.reduce((n, d) => n + d.ok, 0),
      totalRefused: usage.days.reduce((n, d) => n + d.refused, 0),
      lastUsedAt: token.lastUsedAt ? token.lastUsedAt.toISOString() : null,
      lastUsedIp: token.lastUsedIp,
      topAddresses: usage.topAddresses,
    };
  }
}
