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

  /**
   * Whether `password` matches. An account without a password hash, or whose hash is not Argon2's
   * (an account of single sign-on, src/sso), takes the same time as a wrong password and fails.
   */
  async verify(passwordHash: string | undefined, password: string): Promise<boolean> {
    if (!passwordHash || !passwordHash.startsWith('$argon2')) {
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
