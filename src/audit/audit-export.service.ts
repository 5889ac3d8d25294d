import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Injectable } from '@nestjs/common';
import type { FhirSource } from './audit-fhir.js';
import { CopyTextToNdjson, CsvRecordEnds, NdjsonToFhir } from './audit-export.streams.js';
import { AuditRepository } from './audit.repository.js';
import type { AuditFilters, ExportFormat } from './audit.types.js';
import { LongReadLimiter } from './long-read-limiter.js';

export { CSV_HEADER } from './audit.repository.js';

/** Streams the audit log out, as NDJSON or CSV, for security teams (the API and the audit CLI). */
@Injectable()
export class AuditExportService {
  constructor(
    private readonly repository: AuditRepository,
    private readonly limiter: LongReadLimiter,
  ) {}

  /**
   * Streams every matching event, newest first. PostgreSQL formats each row
   * (COPY … TO STDOUT) and the bytes flow to the caller with back-pressure:
   * memory stays flat whatever the size. `onRows` receives the running count.
   * Throws the 429 answer when too many long reads are under way. `fhir-ndjson` writes each event
   * as a FHIR R4 AuditEvent recorded by `source`.
   */
  async export(f: AuditFilters, format: ExportFormat | 'fhir-ndjson', onRows?: (n: number) => void, source?: FhirSource): Promise<Readable> {
    // An export runs as long as it takes, on a connection of its own, closed when it ends; its
    // place among the long reads is given back when that connection has ended.
    const read = await this.repository.openLongRead('export', this.limiter.acquire());
    const copy = read.copyEvents(f, format === 'csv' ? 'csv' : 'ndjson');
    const count = format === 'csv' ? new CsvRecordEnds(onRows) : new CopyTextToNdjson(onRows);
    const body = new PassThrough();
    const stages = format === 'fhir-ndjson' ? [copy, count, new NdjsonToFhir(source ?? { observer: 'HospiAI token service', site: 'hospiai' }), body] : [copy, count, body];
    pipeline(stages).then(
      () => read.close(),
      (err: unknown) => {
        // A client that goes away mid-export: closing the connection cancels the COPY.
        void read.close();
        body.destroy(err instanceof Error ? err : undefined);
      },
    );
    return body;
  }
}
