import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { AuditWriter } from '../audit/audit.writer.js';
import type { Principal } from '../access/principal.js';
import { AppError } from '../common/app-error.js';
import type { RequestContext } from '../common/request-context.js';
import { RevocationBus } from '../revocation/revocation.bus.js';
import type { GrantView } from './grants.dto.js';
import { OAuthModelsRepository, type GrantRow } from './oauth-models.repository.js';
import { OAuthProviderService } from './oauth-provider.service.js';

/** The models of oidc-provider that belong to a grant (revoked with it). */
const GRANT_MODELS = ['AccessToken', 'AuthorizationCode', 'RefreshToken'];

/** The applications a person authorized (oidc-provider grants): listed and revoked on "Applications autorisées". */
@Injectable()
export class GrantsService {
  constructor(
    private readonly models: OAuthModelsRepository,
    private readonly oauth: OAuthProviderService,
    private readonly audit: AuditWriter,
    private readonly revocations: RevocationBus,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  private async view(row: GrantRow): Promise<GrantView> {
    const p = row.payload as { clientId?: string; resources?: Record<string, string>; iat?: number };
    const clientId = p.clientId ?? '';
    const resources = p.resources ?? {};
    const [resource = ''] = Object.keys(resources);
    const server = resource ? await this.oauth.resourceServer(resource).catch(() => undefined) : undefined;
    const clientName = (await this.models.clientNameOf(row.id, clientId)) ?? clientId;
    return {
      id: row.id,
      clientId,
      clientName,
      resource,
      serverName: server?.name ?? null,
      scopes: (resources[resource] ?? '').split(' ').filter((s) => s !== ''),
      createdAt: new Date((p.iat ?? 0) * 1000).toISOString(),
      expiresAt: row.expires_at ? row.expires_at.toISOString() : null,
    };
  }

  async list(p: Principal): Promise<GrantView[]> {
    const rows = await this.models.grantsOf(p.userId);
    return Promise.all(rows.map((r) => this.view(r)));
  }

  /**
   * Revokes a grant of the caller: the grant, its codes and refresh tokens, and its access tokens
   * (rows revoked and published, so MCP servers refuse them at once), with the audit event, in one transaction.
   */
  async revoke(p: Principal, id: string, ctx: RequestContext): Promise<void> {
    const row = await this.models.grant(id);
    if (!row || row.payload.accountId !== p.userId) throw AppError.notFound('Grant');
    const clientId = String(row.payload.clientId ?? '');
    const events = await this.dataSource.transaction(async (m) => {
      for (const model of GRANT_MODELS) await this.models.destroyByGrant(model, id, m);
      await this.models.destroy('Grant', id, m);
      const revoked = await this.models.revokeTokensOfGrant(id, m);
      const published = [];
      for (const tokenId of revoked) published.push(await this.revocations.publish(m, 'token', tokenId));
      await this.audit.recordWithin(m, {
        type: 'oauth.grant_revoke',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: { grantId: id, clientId, resources: Object.keys((row.payload.resources as Record<string, string>) ?? {}), revokedTokens: revoked },
      });
      return published;
    });
    for (const e of events) await this.revocations.settled(e);
  }
}
