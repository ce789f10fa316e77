// Operators pass maintenance: by a token (header or cookie on the public port) or by their network.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { tokensEqual } from '../api/auth.js';
import type { parseCookies } from '../identity/cookies.js';

export const OPERATOR_HEADER = 'x-hub-guard-operator';
export const OPERATOR_COOKIE = 'hub-guard-operator';

export function parseCidrs(list: string[], flag = '--operator-cidr'): BlockList {
  const blocks = new BlockList();
  for (const entry of list) {
    const [addr, bits] = entry.split('/');
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
      throw new Error(`${flag} must be an address or address/bits, got '${entry}'`);
    }
    blocks.addSubnet(addr, prefix, type);
  }
  return blocks;
}

export function isOperator(req: IncomingMessage, cookies: ReturnType<typeof parseCookies>, tokens: string[], cidrs: BlockList | undefined): boolean {
  const header = req.headers[OPERATOR_HEADER];
  // never forwarded: the hub and user servers have no business seeing an operator's token
  delete req.headers[OPERATOR_HEADER];
  const given = (typeof header === 'string' ? header : undefined) ?? cookies.get(OPERATOR_COOKIE);
  if (given && tokens.some((t) => tokensEqual(given, t))) return true;
  const addr = req.socket.remoteAddress;
  if (!cidrs || !addr) return false;
  const v4 = addr.startsWith('::ffff:') ? addr.slice(7) : addr;
  return isIPv4(v4) ? cidrs.check(v4, 'ipv4') : cidrs.check(addr, 'ipv6');
}
