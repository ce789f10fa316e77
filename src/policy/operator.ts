// Operators pass maintenance: by a token (header or cookie on the public port) or by their network.
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import { matchesAnyToken } from '../tokens.js';
import { ConfigError } from '../errors.js';

export const OPERATOR_HEADER = 'x-hub-guard-operator';
export const OPERATOR_COOKIE = 'hub-guard-operator';
/**
 * The operator console's session, set by the API port. Browsers keep cookies by host, not by port, so a browser
 * would send it to the public port as well: it is a credential that goes nowhere from there.
 */
export const CONSOLE_COOKIE = 'hub-guard-console';

export function parseCidrs(list: string[], flag = '--operator-cidr'): BlockList {
  const blocks = new BlockList();
  for (const entry of list) {
    const [addr, bits] = entry.split('/');
    const type = isIPv4(addr) ? 'ipv4' : isIPv6(addr) ? 'ipv6' : undefined;
    const prefix = bits === undefined ? (type === 'ipv4' ? 32 : 128) : Number(bits);
    if (!type || !Number.isInteger(prefix) || prefix < 0 || prefix > (type === 'ipv4' ? 32 : 128)) {
      throw new ConfigError(`${flag} must be an address or address/bits, got '${entry}'`, flag);
    }
    blocks.addSubnet(addr, prefix, type);
  }
  return blocks;
}

/** Whether the caller proved to be an operator: the token (header, else cookie), or an operator network. */
export function isOperator(
  headers: IncomingHttpHeaders, cookies: ReadonlyMap<string, string>, remoteAddress: string | undefined, tokens: string[], cidrs: BlockList | undefined,
): boolean {
  const header = headers[OPERATOR_HEADER];
  const given = (typeof header === 'string' ? header : undefined) ?? cookies.get(OPERATOR_COOKIE);
  if (given && matchesAnyToken(given, tokens)) return true;
  if (!cidrs || !remoteAddress) return false;
  const v4 = remoteAddress.startsWith('::ffff:') ? remoteAddress.slice(7) : remoteAddress;
  return isIPv4(v4) ? cidrs.check(v4, 'ipv4') : cidrs.check(remoteAddress, 'ipv6');
}
