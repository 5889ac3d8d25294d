import { CreateUsers1795670000000 } from './1795670000000-CreateUsers.js';
import { CreateTokensAndAudit1795680000000 } from './1795680000000-CreateTokensAndAudit.js';
import { PartitionAudit1795690000000 } from './1795690000000-PartitionAudit.js';
import { RevocationEvents1795700000000 } from './1795700000000-RevocationEvents.js';
import { McpClients1795710000000 } from './1795710000000-McpClients.js';
import { AuditAppendFunction1795712000000 } from './1795712000000-AuditAppendFunction.js';
import { AuditTopFailingIndexes1795720000000 } from './1795720000000-AuditTopFailingIndexes.js';
import { AuditRollupsCatchUp1795730000000 } from './1795730000000-AuditRollupsCatchUp.js';
import { AuditRareTypeOutcomeIndexes1795740000000 } from './1795740000000-AuditRareTypeOutcomeIndexes.js';
import { AuditChainGuards1795750000000 } from './1795750000000-AuditChainGuards.js';

/** Every migration, in order. New migrations are added here (see README, "Migrations"). */
export const MIGRATIONS = [
  CreateUsers1795670000000,
  CreateTokensAndAudit1795680000000,
  PartitionAudit1795690000000,
  RevocationEvents1795700000000,
  McpClients1795710000000,
  AuditAppendFunction1795712000000,
  AuditTopFailingIndexes1795720000000,
  AuditRollupsCatchUp1795730000000,
  AuditRareTypeOutcomeIndexes1795740000000,
  AuditChainGuards1795750000000,
];
