// The current definition of every database function and trigger (audit_append, the guards, the
// rollups…) is in src/database/sql/, one file per function with its triggers: read those rather than
// the migrations, which redefine some functions several times. A migration that changes a function
// or trigger updates its file too: test/e2e/schema-sql.e2e-spec.ts compares the files with the
// migrated schema.
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
import { DisableEndsCredentials1795760000000 } from './1795760000000-DisableEndsCredentials.js';
import { AuditCheckpoints1795770000000 } from './1795770000000-AuditCheckpoints.js';
import { AuditDefinerFunctions1795780000000 } from './1795780000000-AuditDefinerFunctions.js';
import { AudienceBinding1795790000000 } from './1795790000000-AudienceBinding.js';
import { OAuthServer1795795000000 } from './1795795000000-OAuthServer.js';
import { UserIdentities1795800000000 } from './1795800000000-UserIdentities.js';
import { AuditForwardCursor1795810000000 } from './1795810000000-AuditForwardCursor.js';
import { TokenGovernance1795820000000 } from './1795820000000-TokenGovernance.js';
import { WebhooksAndTokenUsage1795825000000 } from './1795825000000-WebhooksAndTokenUsage.js';

/** Every migration, in order. New migrations are added here (see docs/operations.md, "Database and migrations"). */
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
  DisableEndsCredentials1795760000000,
  AuditCheckpoints1795770000000,
  AuditDefinerFunctions1795780000000,
  AudienceBinding1795790000000,
  OAuthServer1795795000000,
  UserIdentities1795800000000,
  AuditForwardCursor1795810000000,
  TokenGovernance1795820000000,
  WebhooksAndTokenUsage1795825000000,
];
