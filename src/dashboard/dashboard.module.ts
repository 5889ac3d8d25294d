import { Module } from '@nestjs/common';
import { DashboardAssets, defaultDashboardDir } from './dashboard-assets.js';
import { DashboardController } from './dashboard.controller.js';

/** /dashboard/*: the token dashboard's pages and assets, built into dist/dashboard. */
@Module({
  controllers: [DashboardController],
  providers: [{ provide: DashboardAssets, useFactory: () => new DashboardAssets(defaultDashboardDir()) }],
})
export class DashboardModule {}
