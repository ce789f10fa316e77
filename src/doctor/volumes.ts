// Reads who owned which home volume from `kubectl get pvc -o json`: the evidence left when the hub database is
// gone. Claim names carry the user name (and, in the 2017 scheme, the user id) in one of kubespawner's three
// naming schemes; the annotation hub.jupyter.org/username carries the raw name and wins when present.
import { lossySlug } from '../hubdb/checks.js';
import { HubGuardError } from '../errors.js';
import { guessSafeSlugNames, safeSlug, unescapeSlug } from './slugs.js';

export interface PvcItem {
  claim: string;
  /** ISO 8601 from metadata.creationTimestamp, or null. */
  created: string | null;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export class VolumeListError extends HubGuardError {
  readonly code = 'bad-volume-list';
}

const USERNAME_KEY = 'hub.jupyter.org/username';

function stringMap(v: unknown): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
  return Object.fromEntries(Object.entries(v).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/**
 * Parses `kubectl get pvc -o json` (a List) or a single claim (`kubectl get pvc NAME -o json`). Items that are not
 * claims or have no name come back in `skipped` with the reason, rather than failing the whole list.
 */
export function parsePvcList(text: string): { items: PvcItem[]; skipped: Unmapped[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new VolumeListError(`not JSON (${(e as Error).message}); use the output of: kubectl get pvc -o json`);
  }
  const d = doc as { kind?: unknown; items?: unknown } | null;
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new VolumeListError('expected a JSON object from: kubectl get pvc -o json');
  const raw = d.kind === 'PersistentVolumeClaim' ? [d] : d.items;
  if (!Array.isArray(raw)) throw new VolumeListError('no "items" list; use the output of: kubectl get pvc -o json');
  const items: PvcItem[] = [];
  const skipped: Unmapped[] = [];
  raw.forEach((item: unknown, i) => {
    const it = item as { kind?: unknown; metadata?: { name?: unknown; creationTimestamp?: unknown; labels?: unknown; annotations?: unknown } } | null;
    const name = it?.metadata?.name;
    if (typeof name !== 'string' || name === '') {
      skipped.push({ claim: `items[${i}]`, reason: 'has no metadata.name' });
      return;
    }
    if (it?.kind !== undefined && it.kind !== 'PersistentVolumeClaim') {
      skipped.push({ claim: name, reason: `is a ${String(it.kind)}, not a PersistentVolumeClaim` });
      return;
    }
    const ts = it?.metadata?.creationTimestamp;
    items.push({
      claim: name,
      created: typeof ts === 'string' && Number.isFinite(Date.parse(ts)) ? new Date(Date.parse(ts)).toISOString() : null,
      labels: stringMap(it?.metadata?.labels),
      annotations: stringMap(it?.metadata?.annotations),
    });
  });
  return { items, skipped };
}

/** A user the hub database or the baseline knows, used to tell apart names a claim alone cannot. */
export interface KnownUser {
  name: string;
  id: number;
  source: 'database' | 'baseline';
}

export type Scheme = 'annotation' | 'legacy' | 'escape' | 'safe';

export interface ClaimReading {
  claim: string;
  created: string | null;
  scheme: Scheme;
  /** null when several names fit equally (see candidates). */
  name: string | null;
  /** The names that fit when it cannot choose; empty when name is set. */
  candidates: string[];
  /** The hub's user id, which only the 2017 scheme put into the name. */
  id: number | null;
  /**
   * False when the 2017 slug fits the name only by its letters and the known id differs: the id is reported, but
   * never used to give a user an id (it may have been another spelling's volume).
   */
  idTrusted: boolean;
  /** For a named server's volume: the server part of the name as it appears in the claim. */
  server: string | null;
  /** How the name was found, for the report. */
  how: string;
}

export interface Unmapped {
  claim: string;
  reason: string;
}

export interface Ambiguity {
  claims: string[];
  message: string;
}

export interface VolumeUser {
  name: string;
  /** From the oldest claim that carries an id. */
  id: number | null;
  /** creationTimestamp of the user's oldest claim: close to when the user first started a server. */
  created: string | null;
  claims: string[];
}

export interface VolumeReading {
  claims: ClaimReading[];
  unmapped: Unmapped[];
  ambiguities: Ambiguity[];
  /** One per user name the claims establish. */
  users: VolumeUser[];
  /** Claims with an id whose name could not be settled: the operator picks one of the candidates. */
  undecided: ClaimReading[];
}

interface Reading {
  scheme: Scheme;
  /** A definite name, or null for the 2017 scheme whose slug only matches names. */
  name: string | null;
  slug?: string;
  id: number | null;
  server: string | null;
}

/** Every syntactic reading of the part after `claim-`. */
function readingsOf(rest: string): Reading[] {
  const out: Reading[] = [];
  const legacy = /^(.+)-([1-9]\d{0,15})$/.exec(rest);
  if (legacy && Number.isSafeInteger(Number(legacy[2]))) out.push({ scheme: 'legacy', name: null, slug: legacy[1], id: Number(legacy[2]), server: null });
  // The escape scheme joins a named server with '--', which escaping itself never produces.
  const [userPart, ...serverParts] = rest.split('--');
  const escaped = unescapeSlug(userPart);
  if (escaped !== null && escaped !== '' && serverParts.every((p) => p !== '')) {
    out.push({ scheme: 'escape', name: escaped, id: null, server: serverParts.length ? serverParts.join('--') : null });
  }
  return out;
}

/** A user name as authenticators normally produce it: lower case, starting and ending with a letter or digit. */
const PLAUSIBLE_NAME = /^[a-z0-9](?:[a-z0-9._@+-]*[a-z0-9])?$/;

function interpret(item: PvcItem, known: KnownUser[], safeSchemeSeen: boolean): { reading: ClaimReading } | { unmapped: Unmapped } | { notes: Ambiguity; reading: ClaimReading } {
  const base = { claim: item.claim, created: item.created, candidates: [] as string[], idTrusted: true };
  const annotated = item.annotations[USERNAME_KEY];
  if (annotated) {
    const legacy = new RegExp(`^claim-${lossySlug(annotated).replace(/[-]/g, '\\-')}-([1-9]\\d{0,15})$`).exec(item.claim);
    return {
      reading: {
        ...base, scheme: 'annotation', name: annotated, id: legacy ? Number(legacy[1]) : null,
        server: item.annotations['hub.jupyter.org/servername'] || null, how: `annotation ${USERNAME_KEY}`,
      },
    };
  }
  if (!item.claim.startsWith('claim-')) {
    return { unmapped: { claim: item.claim, reason: 'not a user volume (kubespawner names them claim-…) and no hub.jupyter.org/username annotation' } };
  }
  const rest = item.claim.slice('claim-'.length);

  // The safe scheme's hash form is unmistakable; the hash confirms a guessed or known name.
  const hashed = /^(.+?---[0-9a-f]{8})(?:--(.+))?$/.exec(rest);
  if (hashed) {
    const fits = (name: string) => rest === safeSlug(name) || rest.startsWith(`${safeSlug(name)}--`);
    const byKnown = [...new Set(known.map((k) => k.name).filter(fits))];
    const names = byKnown.length ? byKnown : guessSafeSlugNames(hashed[1]);
    if (names.length === 1) {
      const slug = safeSlug(names[0]);
      return {
        reading: {
          ...base, scheme: 'safe', name: names[0], id: null, server: rest.length > slug.length ? rest.slice(slug.length + 2) : null,
          how: byKnown.length ? `safe-scheme slug of the known user ${JSON.stringify(names[0])}` : 'safe-scheme slug; its hash confirms the name',
        },
      };
    }
    return {
      unmapped: {
        claim: item.claim,
        reason: names.length > 1
          ? `safe-scheme slug that fits several users: ${names.map((n) => JSON.stringify(n)).join(', ')}`
          : 'safe-scheme slug whose hash matches no known user and no likely spelling; only the hub.jupyter.org/username annotation can name it',
      },
    };
  }

  const readings = readingsOf(rest);
  const legacy = readings.find((r) => r.scheme === 'legacy');
  const escape = readings.find((r) => r.scheme === 'escape');

  // The 2017 slug may also be escapism's code of the name, from kubespawners that escaped names but kept the id:
  // claim-john-2edoe-7 may be "john.doe" (id 7) as well as a lossy "john-2edoe". Only text that decodes to UTF-8.
  const decoded = legacy ? unescapeSlug(legacy.slug!) : null;
  const escapedName = decoded !== null && decoded !== legacy?.slug ? decoded : null;

  // Known users settle what the name alone cannot: first by slug (either reading) and id, then by slug.
  if (legacy) {
    const matching = known.filter((k) => lossySlug(k.name) === legacy.slug || k.name === escapedName);
    const sameId = [...new Set(matching.filter((k) => k.id === legacy.id).map((k) => k.name))];
    const names = sameId.length ? sameId : [...new Set(matching.map((k) => k.name))];
    if (names.length === 1) {
      const k = matching.find((m) => m.name === names[0])!;
      const reading: ClaimReading = {
        ...base, scheme: 'legacy', name: names[0], id: legacy.id, server: null, idTrusted: sameId.length > 0 || !legacy.slug!.includes('-'),
        how: `${names[0] === escapedName ? 'claim-{escaped name}-{id}' : '2017 scheme claim-{name}-{id}'}; the ${k.source} knows ${JSON.stringify(names[0])}${sameId.length ? ` with id ${legacy.id}` : ''}`,
      };
      if (sameId.length) return { reading };
      return {
        reading,
        notes: {
          claims: [item.claim],
          message: `${item.claim}: taken as ${JSON.stringify(names[0])}, the only known user whose name fits, though the ${k.source} gives it id ${k.id}, not ${legacy.id}. ` +
            (reading.idTrusted
              ? 'Its id probably changed: users re-created after a wipe look like this.'
              : `Either its id changed or another spelling of the name owned this volume, so id ${legacy.id} is not given back to ${JSON.stringify(names[0])}; decide by hand.`),
        },
      };
    }
    if (names.length > 1) {
      const reading: ClaimReading = { ...base, scheme: 'legacy', name: null, candidates: names, id: legacy.id, server: null, how: '2017 scheme claim-{name}-{id}' };
      return { reading, notes: { claims: [item.claim], message: `${item.claim}: user ${legacy.id} could be any of ${names.map((n) => JSON.stringify(n)).join(', ')} (all known; the 2017 scheme turned every character outside a-z0-9 into '-')` } };
    }
  }
  if (escape && known.some((k) => k.name === escape.name)) {
    return { reading: { ...base, scheme: 'escape', name: escape.name, id: null, server: escape.server, how: `escape-scheme slug of the known user ${JSON.stringify(escape.name)}` } };
  }
  const plainSafe = PLAUSIBLE_NAME.test(rest) && safeSlug(rest) === rest ? rest : null;
  if (plainSafe && known.some((k) => k.name === plainSafe)) {
    return { reading: { ...base, scheme: 'safe', name: plainSafe, id: null, server: null, how: `the known user ${JSON.stringify(plainSafe)}` } };
  }

  if (legacy) {
    const slug = legacy.slug!;
    const alsoSafe = safeSchemeSeen && plainSafe !== null;
    const alsoNote = alsoSafe ? ` It could also be the safe scheme's volume of a user named ${JSON.stringify(rest)}, since this list has safe-scheme claims too.` : '';
    if (!slug.includes('-')) {
      const reading: ClaimReading = { ...base, scheme: 'legacy', name: slug, id: legacy.id, server: null, how: '2017 scheme claim-{name}-{id}' };
      return alsoSafe ? { reading, notes: { claims: [item.claim], message: `${item.claim}: read as user ${JSON.stringify(slug)} with id ${legacy.id}.${alsoNote}` } } : { reading };
    }
    // Each '-' may have been '.', '_' or '-' (or any other character); list the usual spellings, the escape
    // scheme's reading first when there is one: the 2017 scheme leaves hex codes only where a name had them.
    const candidates = [...new Set([...(escapedName !== null ? [escapedName] : []), slug, slug.replace(/-/g, '.'), slug.replace(/-/g, '_')])];
    const escapeNote = escapedName !== null
      ? ` Read as the escape scheme with the id kept (every character outside a-z0-9 written as '-' and the hex of its UTF-8 bytes), it is ${JSON.stringify(escapedName)}.`
      : '';
    const reading: ClaimReading = { ...base, scheme: 'legacy', name: null, candidates, id: legacy.id, server: null, how: '2017 scheme claim-{name}-{id}' };
    return {
      reading,
      notes: {
        claims: [item.claim],
        message: `${item.claim}: user ${legacy.id} is one of ${candidates.map((n) => JSON.stringify(n)).join(', ')} or another spelling: the 2017 scheme turned every character outside a-z0-9 into '-'.${escapeNote} The hub's login name decides; nothing is inserted for it.${alsoNote}`,
      },
    };
  }
  if (escape && PLAUSIBLE_NAME.test(escape.name!) && (escape.name !== rest || escape.server !== null)) {
    return { reading: { ...base, scheme: 'escape', name: escape.name, id: null, server: escape.server, how: 'escape-scheme slug, decoded' } };
  }
  if (plainSafe) {
    // Plain lower-case names read the same in the escape and the safe scheme.
    return { reading: { ...base, scheme: escape ? 'escape' : 'safe', name: plainSafe, id: null, server: null, how: 'the name as it stands (escape and safe schemes keep plain names)' } };
  }
  const [userPart, ...server] = rest.split('--');
  if (server.length && server.every((s) => s !== '') && PLAUSIBLE_NAME.test(userPart) && safeSlug(userPart) === userPart) {
    return { reading: { ...base, scheme: 'safe', name: userPart, id: null, server: server.join('--'), how: 'named-server volume {user}--{server}' } };
  }
  if (escape) {
    return { unmapped: { claim: item.claim, reason: `decodes (escape scheme) to ${JSON.stringify(escape.name)}, which is not a name the hub normally produces (upper case or unusual characters); check it by hand` } };
  }
  return { unmapped: { claim: item.claim, reason: 'fits none of kubespawner\'s naming schemes' } };
}

// Oldest first; a claim without a timestamp counts as newest, and the lower id breaks ties.
const byAge = (a: ClaimReading, b: ClaimReading) =>
  (a.created ?? '9999').localeCompare(b.created ?? '9999') || (a.id ?? Number.MAX_SAFE_INTEGER) - (b.id ?? Number.MAX_SAFE_INTEGER);

/** Reads every claim and settles, per user, which volume and which old id are the real ones. */
export function readVolumes(items: PvcItem[], known: KnownUser[], skipped: Unmapped[] = []): VolumeReading {
  const claims: ClaimReading[] = [];
  const unmapped = [...skipped];
  const ambiguities: Ambiguity[] = [];
  const safeSchemeSeen = items.some((i) => /^claim-.*---[0-9a-f]{8}(--|$)/.test(i.claim));
  for (const item of items) {
    const r = interpret(item, known, safeSchemeSeen);
    if ('unmapped' in r) unmapped.push(r.unmapped);
    else {
      claims.push(r.reading);
      if ('notes' in r) ambiguities.push(r.notes);
    }
  }

  const perUser = new Map<string, ClaimReading[]>();
  for (const c of claims) if (c.name !== null) perUser.set(c.name, [...(perUser.get(c.name) ?? []), c]);

  const users: VolumeUser[] = [];
  for (const [name, list] of perUser) {
    list.sort(byAge);
    const withId = list.filter((c) => c.id !== null && c.idTrusted);
    const ids = [...new Set(withId.map((c) => c.id))];
    if (ids.length > 1) {
      const shown = withId.map((c) => `${c.claim} (id ${c.id}, created ${c.created ?? 'unknown'})`).join(', ');
      ambiguities.push({
        claims: withId.map((c) => c.claim),
        message: `${JSON.stringify(name)} has volumes under different ids: ${shown}. The oldest (${withId[0].claim}) is taken as the real one; ` +
          'the newer ones were most likely created empty after the database was lost. Check them before deleting anything.',
      });
    }
    users.push({ name, id: withId[0]?.id ?? null, created: list[0].created, claims: list.map((c) => c.claim) });
  }

  // Two names claiming one id cannot both be right; the older claim keeps it.
  const byId = new Map<number, VolumeUser[]>();
  for (const u of users) if (u.id !== null) byId.set(u.id, [...(byId.get(u.id) ?? []), u]);
  for (const [id, holders] of byId) {
    if (holders.length < 2) continue;
    holders.sort((a, b) => (a.created ?? '9999').localeCompare(b.created ?? '9999'));
    ambiguities.push({
      claims: holders.flatMap((h) => h.claims),
      message: `id ${id} appears in the volumes of ${holders.map((h) => JSON.stringify(h.name)).join(' and ')}; ` +
        `${JSON.stringify(holders[0].name)} (oldest volume) keeps it, the others get new ids.`,
    });
    for (const h of holders.slice(1)) h.id = null;
  }

  const undecided = claims.filter((c) => c.name === null && c.id !== null && !users.some((u) => u.id === c.id));
  users.sort((a, b) => (a.id ?? Number.MAX_SAFE_INTEGER) - (b.id ?? Number.MAX_SAFE_INTEGER) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { claims, unmapped, ambiguities, users, undecided };
}
