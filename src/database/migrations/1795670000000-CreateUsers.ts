import type { MigrationInterface, QueryRunner } from 'typeorm';

export class CreateUsers1795670000000 implements MigrationInterface {
  name = 'CreateUsers1795670000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TYPE "user_role" AS ENUM ('user', 'auditor', 'admin')`);
    await q.query(`
      CREATE TABLE "users" (
        "id" uuid NOT NULL DEFAULT gen_random_uuid(),
        "email" varchar(254) NOT NULL,
        "password_hash" text NOT NULL,
        "firstname" varchar(100) NOT NULL,
        "surname" varchar(100) NOT NULL,
        "phone_number" varchar(32),
        "profile_completed_at" timestamptz,
        "role" "user_role" NOT NULL DEFAULT 'user',
        "disabled_at" timestamptz,
        "created_at" timestamptz NOT NULL DEFAULT now(),
        "updated_at" timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT "PK_users" PRIMARY KEY ("id"),
        CONSTRAINT "UQ_users_email" UNIQUE ("email"),
        CONSTRAINT "CHK_users_email_lower" CHECK ("email" = lower("email"))
      )`);
    await q.query(`CREATE INDEX "IDX_users_created" ON "users" ("created_at" DESC, "id" DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE "users"`);
    await q.query(`DROP TYPE "user_role"`);
  }
}
