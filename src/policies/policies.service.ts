import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { Principal } from '../access/principal.js';
import { AuditWriter } from '../audit/audit.writer.js';
import type { RequestContext } from '../common/request-context.js';
import { PoliciesRepository, type StoredPolicy } from './policies.repository.js';
import type { TokenPolicy } from './token-policy.js';

/**
 * Revokes the tokens that do not comply with `policy`, in the policy change's transaction `m`
 * (each revocation published and audited with reason `policy`); `afterCommit` waits until every
 * instance has applied the revocations. Registered by the tokens module.
 */
export type ApplyToExisting = (
  m: EntityManager,
  policy: TokenPolicy,
  actorUserId: string,
  ctx: RequestContext,
) => Promise<{ revokedTokens: number; afterCommit: () => Promise<void> }>;

/** A policy as stored and described in audit events: its rules only. */
function rules(p: TokenPolicy): TokenPolicy {
  return {
    maxLifetimeDays: p.maxLifetimeDays,
    restrictedScopes: p.restrictedScopes,
    allowlistRequiredForWrite: p.allowlistRequiredForWrite,
  };
}

/**
 * The admins' token policy (docs/governance.md): read in the transaction of every token create or
 * rotation (they are rare; no cache to keep in step across instances), changed by admins with a
 * `policy.change` audit event holding the rules before and after.
 */
@Injectable()
export class PoliciesService {
  private applier: ApplyToExisting | undefined;

  constructor(
    private readonly policies: PoliciesRepository,
    private readonly audit: AuditWriter,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Registers what "apply to the existing tokens" does (the tokens module's revocations). */
  onApplyToExisting(applier: ApplyToExisting): void {
    this.applier = applier;
  }

  get(): Promise<StoredPolicy> {
    return this.policies.get();
  }

  /**
   * The policy for a token being issued in `m`: its row is held FOR SHARE until `m` ends, so that a
   * change (which takes it FOR UPDATE) waits for the tokens issued under the previous rules, and
   * applying it to the existing tokens sees them.
   */
  forIssue(m: EntityManager): Promise<StoredPolicy> {
    return this.policies.get(m, 'share');
  }

  async update(
    p: Principal,
    input: TokenPolicy & { applyToExisting?: boolean },
    ctx: RequestContext,
  ): Promise<{ policy: StoredPolicy; revokedTokens: number }> {
    const next = rules(input);
    const { policy, revokedTokens, afterCommit } = await this.dataSource.transaction(async (m) => {
      const before = await this.policies.get(m, 'update');
      const policy = await this.policies.save(next, p.userId, m);
      let applied = { revokedTokens: 0, afterCommit: async (): Promise<void> => undefined };
      if (input.applyToExisting) {
        if (!this.applier) throw new Error('no handler applies a policy to the existing tokens');
        applied = await this.applier(m, next, p.userId, ctx);
      }
      await this.audit.recordWithin(m, {
        type: 'policy.change',
        outcome: 'success',
        actorUserId: p.userId,
        ...ctx,
        details: {
          before: rules(before),
          after: next,
          applyToExisting: input.applyToExisting === true,
          revokedTokens: applied.revokedTokens,
        },
      });
      return { policy, ...applied };
    });
    await afterCommit();
    return { policy, revokedTokens };
  }
}
