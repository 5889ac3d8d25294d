import { Injectable } from '@nestjs/common';
import { Algorithm, hash, verify } from '@node-rs/argon2';

/** Argon2id with the library's defaults (OWASP: m=19 MiB, t=2, p=1). */
const OPTIONS = { algorithm: Algorithm.Argon2id } as const;

@Injectable()
export class PasswordHasher {
  /** Hash checked when the email is unknown, so that both cases take about the same time. */
  private readonly dummy: Promise<string> = hash('hospiai-dummy-password-for-timing', OPTIONS);

  hash(password: string): Promise<string> {
    return hash(password, OPTIONS);
  }

  async verify(passwordHash: string | undefined, password: string): Promise<boolean> {
    if (!passwordHash) {
      await verify(await this.dummy, password).catch(() => false);
      return false;
    }
    try {
      return await verify(passwordHash, password);
    } catch {
      return false;
    }
  }
}
