/**
 * A Server-Sent Events parser (the HTML standard's "event stream
 * interpretation"), fed with text chunks as they arrive.
 */

export type SseMessage = {
  /** The `event` field, `message` when absent. */
  event: string;
  /** The `data` lines, joined with `\n`. */
  data: string;
  /** The last event id in force after this event (`id` field of this event or an earlier one). */
  lastEventId: string | undefined;
};

export type SseHandlers = {
  onMessage(message: SseMessage): void;
  /** A `retry` field: the reconnection delay the server suggests, in ms. */
  onRetry?(ms: number): void;
  /** A comment line (`: keep-alive`). */
  onComment?(text: string): void;
};

export class SseParser {
  private buffer = '';
  private started = false;
  private data: string[] = [];
  private event = '';
  private hasData = false;
  /** The last event id buffer (survives across events, as in the standard). */
  lastEventId: string | undefined;

  constructor(
    private readonly handlers: SseHandlers,
    lastEventId?: string,
  ) {
    this.lastEventId = lastEventId;
  }

  push(chunk: string): void {
    let text = this.buffer + chunk;
    if (!this.started && text.length > 0) {
      this.started = true;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      if (c !== '\n' && c !== '\r') continue;
      // A lone \r at the very end may be the first half of \r\n: wait for the next chunk.
      if (c === '\r' && i === text.length - 1) break;
      this.line(text.slice(start, i));
      if (c === '\r' && text[i + 1] === '\n') i++;
      start = i + 1;
    }
    this.buffer = text.slice(start);
  }

  private line(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) {
      this.handlers.onComment?.(line.slice(1).trimStart());
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.event = value;
        break;
      case 'data':
        this.data.push(value);
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.handlers.onRetry?.(Number(value));
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const event = this.event || 'message';
    const data = this.data.join('\n');
    const hasData = this.hasData;
    this.data = [];
    this.event = '';
    this.hasData = false;
    if (!hasData) return;
    this.handlers.onMessage({ event, data, lastEventId: this.lastEventId });
  }
}
