import { Injectable } from '@nestjs/common';

/**
 * The time the dispatcher goes by: when a reminder is due (7 days, 1 day before expiry, expiry) and
 * when a failed delivery is tried again. A provider of its own so that tests can move it
 * (`app.get(WebhookClock).now = () => …`). Signatures always carry the real time: receivers check it.
 */
@Injectable()
export class WebhookClock {
  now(): Date {
    return new Date();
  }
}
