import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { AuditSyslogConfig } from '../config/config.js';

const CONNECT_TIMEOUT_MS = 10_000;
/** A write the receiver does not take within this time (it stopped reading) breaks the connection. */
const WRITE_TIMEOUT_MS = 30_000;

/** A failure of the connection to the receiver (as opposed to the database's). */
export class SyslogTransportError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SyslogTransportError';
  }
}

/**
 * One connection to the syslog receiver: RFC 5425 (TLS, the receiver's certificate checked against
 * AUDIT_SYSLOG_CA_FILE or the system's CAs, with a client certificate when given) or plain TCP
 * (RFC 6587), carrying octet-counted frames. Syslog has no acknowledgement: a write completes when
 * the bytes are handed to the kernel, and a broken connection shows later (`broken`). Node's TLS
 * comes from OpenSSL.
 */
export class SyslogConnection {
  private failure: Error | undefined;

  private constructor(private readonly socket: Socket | TLSSocket) {
    socket.on('error', (err) => (this.failure ??= new SyslogTransportError(`syslog connection failed: ${err.message}`, { cause: err })));
    socket.on('close', () => (this.failure ??= new SyslogTransportError('syslog connection closed by the receiver')));
    // The receiver never speaks on this connection: anything it sends is read and dropped.
    socket.on('data', () => undefined);
  }

  static open(config: AuditSyslogConfig): Promise<SyslogConnection> {
    return new Promise((resolve, reject) => {
      const socket =
        config.transport === 'tls'
          ? tlsConnect({
              host: config.host,
              port: config.port,
              ...(isIP(config.host) === 0 ? { servername: config.host } : {}),
              ca: config.ca,
              cert: config.cert,
              key: config.key,
              rejectUnauthorized: true,
              minVersion: 'TLSv1.2',
            })
          : netConnect({ host: config.host, port: config.port });
      const ready = config.transport === 'tls' ? 'secureConnect' : 'connect';
      const fail = (err: Error): void => {
        socket.destroy();
        reject(new SyslogTransportError(`syslog receiver ${config.host}:${config.port}: ${err.message}`, { cause: err }));
      };
      socket.setTimeout(CONNECT_TIMEOUT_MS, () => fail(new Error('connection timed out')));
      socket.once('error', fail);
      socket.once(ready, () => {
        socket.setTimeout(0);
        socket.removeListener('error', fail);
        socket.setKeepAlive(true, 30_000);
        socket.setNoDelay(true);
        resolve(new SyslogConnection(socket));
      });
    });
  }

  /** Why the connection broke, if it did. */
  get broken(): Error | undefined {
    return this.failure;
  }

  /** Writes the frames; resolves once the kernel has them, rejects when the connection is or becomes broken. */
  send(frames: readonly Buffer[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.failure ??= new SyslogTransportError('syslog receiver stopped reading');
        this.socket.destroy();
      }, WRITE_TIMEOUT_MS);
      this.socket.write(Buffer.concat(frames), (err) => {
        clearTimeout(timer);
        const failure = this.failure ?? (err ? new SyslogTransportError(`syslog write failed: ${err.message}`, { cause: err }) : undefined);
        if (failure) reject(failure);
        else resolve();
      });
    });
  }

  /** Ends the connection: pending bytes are sent first, then the receiver sees the end. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) {
        resolve();
        return;
      }
      const timer = setTimeout(() => this.socket.destroy(), 2000);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
