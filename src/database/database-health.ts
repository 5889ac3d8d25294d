import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';

/** What readiness asks of the database. */
@Injectable()
export class DatabaseHealth {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Resolves once the database has answered a query from the pool. */
  async ping(): Promise<void> {
    await this.dataSource.query('SELECT 1');
  }

  /** Whether a migration of the service is not applied yet. */
  migrationsPending(): Promise<boolean> {
    return this.dataSource.showMigrations();
  }
}
