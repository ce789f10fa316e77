// Raw-socket clients: requests written byte for byte, answers read as the bytes that came back.
import { connect } from 'node:net';

export interface RawResult {
  /** Everything the server sent. */
  text: string;
  /** Status codes of every response in `text`, in order. */
  statuses: number[];
  /** The server ended or reset the connection (rather than the client giving up after waitMs). */
  closedByServer: boolean;
}

/**
 * Writes `data` on a fresh connection and collects the answer until the server closes the connection (or, with
 * `untilHead`, until a response head is complete), or until waitMs passes without that.
 */
export function raw(port: number, data: string | Buffer, waitMs = 10_000, untilHead = false): Promise<RawResult> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ text, statuses: statusesOf(text), closedByServer });
    };
    const timer = setTimeout(() => finish(false), waitMs);
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      if (untilHead && Buffer.concat(chunks).includes('\r\n\r\n')) finish(false);
    });
    s.on('end', () => finish(true));
    s.on('close', () => finish(true));
    s.on('error', () => finish(true));
    s.on('connect', () => s.write(data));
  });
}

/** Status codes of the responses in `text`, walked one after the other by their framing (length, chunks, or close). */
export function statusesOf(text: string): number[] {
  const out: number[] = [];
  let pos = 0;
  while (pos < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', pos);
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(text.slice(pos, pos + 12));
    if (!m || headEnd === -1) break;
    const status = Number(m[1]);
    out.push(status);
    const head = text.slice(pos, headEnd).toLowerCase();
    pos = headEnd + 4;
    if (status === 101) break;
    if ((status >= 100 && status < 200) || status === 204 || status === 304) continue;
    const length = /\r\ncontent-length: *(\d+)/.exec(head);
    if (/\r\ntransfer-encoding: *chunked/.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', pos);
        if (lineEnd === -1) return out;
        const size = parseInt(text.slice(pos, lineEnd), 16);
        if (Number.isNaN(size)) return out;
        pos = lineEnd + 2 + size + 2;
        if (size === 0) break;
      }
    } else if (length) {
      pos += Number(length[1]);
    } else {
      break;
    }
  }
  return out;
}
