import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { dirname } from 'node:path';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { AppConfig } from '../config/config.js';
import { InjectConfig } from '../config/config.module.js';
import { GENESIS_HASH } from './audit-hash.js';
import { checkCheckpointFile, checkpointLine, keyIdOf, signCheckpoint, type AuditCheckpoint, type CheckpointSet } from './audit-checkpoint.js';
import { AuditCheckpointsRepository } from './audit-checkpoints.repository.js';
import { AuditWriter } from './audit.writer.js';

const SHUTDOWN_CHECKPOINT_MS = 5000;

/** Reads a checkpoint file; a file that does not exist yet holds no checkpoint. */
export async function readCheckpointFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

/**
 * Signs the audit chain's head every AUDIT_CHECKPOINT_INTERVAL_SECONDS and at shutdown, with the
 * Ed25519 key of AUDIT_SIGNING_KEY (never stored in the database), and appends each checkpoint to
 * AUDIT_CHECKPOINT_FILE. Someone who can rewrite the database can rewrite the chain and its head,
 * but cannot sign: verification checks that the chain still passes through every signed head.
 *
 * With several instances, one signs at a time (a transaction-level advisory lock; the others skip
 * that round), and no checkpoint is signed while the head has not moved since the last one.
 */
@Injectable()
export class AuditCheckpointService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(AuditCheckpointService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<AuditCheckpoint | undefined> | undefined;
  private readonly publicKey: KeyObject;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly repository: AuditCheckpointsRepository,
    private readonly writer: AuditWriter,
    @InjectConfig() private readonly config: AppConfig,
  ) {
    this.publicKey = createPublicKey(config.auditCheckpoints.signingKey);
  }

  onApplicationBootstrap(): void {
    if (this.config.auditCheckpoints.signingKeySource === 'generated') {
      this.logger.warn(
        `AUDIT_SIGNING_KEY is not set: checkpoints are signed with a generated key kept in ${this.config.dataDir}/audit-signing-key.pem (set AUDIT_SIGNING_KEY in production)`,
      );
    }
    this.timer = setInterval(() => void this.checkpointLogged(), this.config.auditCheckpoints.intervalSeconds * 1000);
    this.timer.unref();
  }

  /**
   * The last checkpoint covers every event written before the shutdown. With the database out of
   * reach, the shutdown does not wait for it longer than SHUTDOWN_CHECKPOINT_MS.
   */
  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.logger.error('audit checkpoint at shutdown: the database did not answer in time, none signed');
        resolve();
      }, SHUTDOWN_CHECKPOINT_MS);
      timer.unref();
    });
    const last = (async () => {
      await this.writer.flush();
      await this.running?.catch(() => undefined);
      await this.checkpointLogged();
    })();
    await Promise.race([last, late]);
    clearTimeout(timer);
  }

  /** The public key that verifies the checkpoints, and its id. */
  publicKeyView(): { algorithm: 'Ed25519'; keyId: string; publicKey: string } {
    return { algorithm: 'Ed25519', keyId: keyIdOf(this.publicKey), publicKey: String(this.publicKey.export({ format: 'pem', type: 'spki' })) };
  }

  /** Checkpoints from the database's table, newest first (for reading; verification uses the file). */
  async list(limit: number, before?: number): Promise<{ items: AuditCheckpoint[]; nextCursor: string | null }> {
    const items = await this.repository.list(limit, before);
    return { items, nextCursor: items.length === limit && items.length > 0 ? String(items[items.length - 1].sequence) : null };
  }

  /** The checkpoints of this instance's file, each signature checked with this instance's key. */
  async fromFile(): Promise<CheckpointSet> {
    return checkCheckpointFile(await readCheckpointFile(this.config.auditCheckpoints.file), [this.publicKey]);
  }

  /**
   * Signs the chain head now, unless another instance is signing or the head has not moved since
   * the last checkpoint (then resolves undefined). The checkpoint is committed to the table (which
   * numbers it and links it to the previous one), then appended to the file.
   */
  checkpoint(): Promise<AuditCheckpoint | undefined> {
    this.running ??= this.sign().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkpointLogged(): Promise<void> {
    try {
      await this.checkpoint();
    } catch (err) {
      this.logger.error({ err }, 'audit checkpoint failed');
    }
  }

  private async sign(): Promise<AuditCheckpoint | undefined> {
    const signed = await this.dataSource.transaction(async (m) => {
      if (!(await this.repository.tryLockSigning(m))) return undefined;
      const head = await this.repository.headAndCount(m);
      const last = await this.repository.last(m);
      if (head.lastId === '0' || (last && last.lastId === head.lastId && last.lastHash === head.lastHash)) return undefined;
      const checkpoint = signCheckpoint(
        {
          sequence: (last?.sequence ?? 0) + 1,
          lastId: head.lastId,
          lastHash: head.lastHash,
          count: head.count,
          signedAt: new Date().toISOString(),
          previousHash: last?.hash ?? GENESIS_HASH,
        },
        this.config.auditCheckpoints.signingKey,
      );
      await this.repository.insert(checkpoint, m);
      return checkpoint;
    });
    if (!signed) return undefined;
    const file = this.config.auditCheckpoints.file;
    await mkdir(dirname(file), { recursive: true });
    await appendFile(file, checkpointLine(signed), { mode: 0o600 });
    return signed;
  }
}
