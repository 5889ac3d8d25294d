import { Global, Module } from '@nestjs/common';
import { RevocationBus } from './revocation.bus.js';

@Global()
@Module({ providers: [RevocationBus], exports: [RevocationBus] })
export class RevocationModule {}
