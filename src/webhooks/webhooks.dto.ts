import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayNotEmpty,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Length,
  Matches,
  Max,
  Min,
} from 'class-validator';
import { PlainText } from '../common/plain-text.js';
import { FitsColumn } from '../common/text-length.js';
import { Trim } from '../common/transforms.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './webhook-address.js';

/**
 * `whsec_` and 24 to 64 random bytes in base64 (padded, as Standard Webhooks libraries take them):
 * 32 to 88 characters, a multiple of 4.
 */
export const SECRET_MESSAGE = 'secret must be whsec_ followed by 24 to 64 bytes in base64';
export const SECRET_FORMAT = /^whsec_(?=(?:[A-Za-z0-9+/=]{4}){8,22}$)[A-Za-z0-9+/]+={0,2}$/;

export class CreateWebhookDto {
  /**
   * Where events are POSTed: https (http, and loopback or private addresses, only with
   * WEBHOOK_ALLOW_PRIVATE_NETWORKS); no credentials or fragment in it.
   * @example "https://siem.chu-exemple.fr/hooks/hospiai"
   */
  @Trim()
  @IsString()
  @Length(1, 2048)
  @FitsColumn(2048)
  url: string;

  /**
   * The events to receive.
   * @example ["token.expiring", "token.revoked"]
   */
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique({ message: 'eventTypes must not contain duplicates' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true, message: `each value in eventTypes must be one of: ${WEBHOOK_EVENT_TYPES.join(', ')}` })
  eventTypes: WebhookEventType[];

  /**
   * The signing secret, `whsec_` and 24 to 64 bytes in base64; by default one is generated. Either
   * way it is in the creation's answer only.
   * @example "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
   */
  @IsOptional()
  @IsString()
  @Matches(SECRET_FORMAT, { message: SECRET_MESSAGE })
  secret?: string;

  /** Whether events are sent to it (default true). */
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  /**
   * A note for admins, up to 200 characters.
   * @example "SIEM de la DSI"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(0, 200)
  @FitsColumn(200)
  @PlainText()
  description?: string;
}

export class UpdateWebhookDto {
  /**
   * A new URL (same rules as on creation).
   * @example "https://siem.chu-exemple.fr/hooks/hospiai"
   */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(1, 2048)
  @FitsColumn(2048)
  url?: string;

  /** @example ["token.expiring", "token.expired"] */
  @IsOptional()
  @IsArray()
  @ArrayNotEmpty()
  @ArrayUnique({ message: 'eventTypes must not contain duplicates' })
  @ArrayMaxSize(WEBHOOK_EVENT_TYPES.length)
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true, message: `each value in eventTypes must be one of: ${WEBHOOK_EVENT_TYPES.join(', ')}` })
  eventTypes?: WebhookEventType[];

  /** @example false */
  @IsOptional()
  @IsBoolean()
  enabled?: boolean;

  /** @example "SIEM de la DSI" */
  @IsOptional()
  @Trim()
  @IsString()
  @Length(0, 200)
  @FitsColumn(200)
  @PlainText()
  description?: string;
}

export class WebhookView {
  /** @example "5f1c2d3e-4a5b-4c6d-8e7f-0a1b2c3d4e5f" */
  id: string;
  /** @example "https://siem.chu-exemple.fr/hooks/hospiai" */
  url: string;
  /** @example ["token.expiring", "token.revoked"] */
  @IsIn(WEBHOOK_EVENT_TYPES, { each: true })
  eventTypes: WebhookEventType[];
  /** @example true */
  enabled: boolean;
  /** @example "SIEM de la DSI" */
  description: string | null;
  /** @example "2026-11-26T09:00:00.000Z" */
  createdAt: string;
  /** @example "2026-11-26T09:00:00.000Z" */
  updatedAt: string;
}

export class CreatedWebhookView extends WebhookView {
  /**
   * The signing secret. Shown this once: it is never shown again nor written to the logs or the audit log.
   * @example "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
   */
  secret: string;
}

export class WebhookList {
  items: WebhookView[];
}

export class WebhookDeliveryQuery {
  /** How many, newest first, 1–500 (default 100). */
  @ApiProperty({ type: 'integer', required: false })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;
}

export class WebhookDeliveryView {
  /** @example "42" */
  id: string;
  /**
   * The event's id, the `webhook-id` header: the same on every attempt, for receivers to drop duplicates.
   * @example "evt_a1042"
   */
  eventId: string;
  /** @example "token.revoked" */
  @IsIn(WEBHOOK_EVENT_TYPES)
  eventType: WebhookEventType;
  /**
   * `pending` (not sent yet, or tried again at nextAttemptAt), `delivered` (a 2xx answer) or
   * `failed` (no 2xx answer after every attempt).
   * @example "delivered"
   */
  @IsIn(['pending', 'delivered', 'failed'])
  status: 'pending' | 'delivered' | 'failed';
  /** @example 1 */
  attempts: number;
  /** @example null */
  nextAttemptAt: string | null;
  /** @example "2026-11-26T09:00:01.000Z" */
  lastAttemptAt: string | null;
  /**
   * The HTTP status of the last answer; null when there was none.
   * @example 204
   */
  lastStatusCode: number | null;
  /**
   * Why the last attempt failed (`HTTP 500`, `ECONNREFUSED: …`); null when delivered.
   * @example null
   */
  lastError: string | null;
  /** @example "2026-11-26T09:00:00.000Z" */
  createdAt: string;
  /** @example "2026-11-26T09:00:01.000Z" */
  deliveredAt: string | null;
}

export class WebhookDeliveryList {
  items: WebhookDeliveryView[];
}
