import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Staff single sign-on (docs/sso.md): the accounts' identities at OpenID Connect providers, one row
 * per (issuer, subject). An account is found by its identity, never by its email alone.
 *
 * - `provider` is the configured provider's id (OIDC_PROVIDER_ID, or `id` in OIDC_PROVIDERS);
 *   `issuer` and `subject` are the ID token's `iss` and `sub`.
 * - `professional_id` is the professional identifier the provider gives (Pro Santé Connect's
 *   SubjectNameID, the RPPS number), shown to auditors and admins.
 * - `session_id` is the provider's `sid` of the last login, so that a back-channel logout that
 *   names only the session finds the account.
 * - `linked_by` is the admin who linked an existing account to the identity (null when the login
 *   created or linked it).
 */
export class UserIdentities1795800000000 implements MigrationInterface {
  name = 'UserIdentities1795800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE "user_identities" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "user_id" uuid NOT NULL,
        "provider" varchar(32) NOT NULL,
        "issuer" varchar(500) NOT NULL,
        "subject" varchar(255) NOT NULL,
        "professional_id" varchar(100),
        "session_id" varchar(255),
        "linked_by" uuid,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "last_login_at" timestamptz,
        CONSTRAINT "PK_user_identities" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_user_identities_issuer_subject" UNIQUE ("issuer", "subject"),
        CONSTRAINT "FK_user_identities_user" FOREIGN KEY ("user_id") REFERENCES "users"("id") ON DELETE CASCADE
      )`);
    await q.query(`CREATE INDEX "IDX_user_identities_user" ON "user_identities" ("user_id")`);
    await q.query(
      `CREATE INDEX "IDX_user_identities_session" ON "user_identities" ("issuer", "session_id") WHERE "session_id" IS NOT NULL`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "user_identities"`);
  }
}
