import { ApiProperty } from '@nestjs/swagger';

/** An application the person authorized (a consent), as "Applications autorisées" shows it. */
export class GrantView {
  @ApiProperty({ description: 'The grant id', example: 'Yk9w2c0b4TQ3W6mOq1e8n' })
  id: string;

  @ApiProperty({ description: "The client's id (for a Client ID Metadata Document, its URL)", example: 'https://agent.exemple.fr/client.json' })
  clientId: string;

  @ApiProperty({ example: 'Agent de planification' })
  clientName: string;

  @ApiProperty({ description: 'The MCP server (resource) the consent is for', example: 'https://mcp.chu-exemple.fr/mcp' })
  resource: string;

  @ApiProperty({ type: String, nullable: true, description: 'The MCP server\'s name; null when it is no longer registered', example: 'Rendez-vous' })
  serverName: string | null;

  @ApiProperty({ type: [String], example: ['read:bookings'] })
  scopes: string[];

  @ApiProperty({ example: '2026-12-08T09:00:00.000Z' })
  createdAt: string;

  @ApiProperty({ type: String, nullable: true, example: '2027-12-08T09:00:00.000Z' })
  expiresAt: string | null;
}

export class GrantList {
  @ApiProperty({ type: [GrantView] })
  grants: GrantView[];
}
