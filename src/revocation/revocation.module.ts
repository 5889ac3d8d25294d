import { Global, Module } from '@nestjs/common';
import { NotificationChannels } from '../database/notification-listener.js';
import { RevocationEventsRepository } from './revocation-events.repository.js';
import { RevocationBus } from './revocation.bus.js';

@Global()
@Module({
  providers: [RevocationBus, RevocationEventsRepository, NotificationChannels],
  // The repository for the revocation stream, which replays the events a client missed.
  exports: [RevocationBus, RevocationEventsRepository],
})
export class RevocationModule {}
