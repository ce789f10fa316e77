// The zero-to-jupyterhub 4.4.0 chart as data, for the tests of deploy/: its defaults and JSON schema
// (../shared/z2jh-4.4.0), Helm's merge of values files over them, and what the chart's templates make of merged
// values (the facts in ../shared/z2jh-4.4.0/README.md): the pods with their labels and ports, the proxy container's
// command line and environment, the Services, and the NetworkPolicies. YAML is read with Debian's PyYAML and the
// schema checked with Debian's python3-jsonschema (Draft 7), both through /usr/bin/python3.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Obj = Record<string, any>;
export type Labels = Record<string, string>;

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const DEPLOY = join(ROOT, 'deploy');
export const CHART_DIR = join(ROOT, '..', 'shared', 'z2jh-4.4.0');
export const CHART_VERSION = '4.4.0';
export const PYTHON = '/usr/bin/python3';

/** The Helm release name and namespace deploy/ assumes. */
export const RELEASE = 'jhub';
export const NAMESPACE = 'jhub';
/** kubelet expands $(HUB_SERVICE_PORT) from the Service "hub", whose port is the hub's http port. */
export const HUB_PORT = 8081;

export const rel = (f: string) => relative(ROOT, f);

/** Why the YAML-based tests cannot run here, or false. */
export function pythonMissing(modules: string[]): string | false {
  for (const m of modules) {
    const r = spawnSync(PYTHON, ['-c', `import ${m}`], { encoding: 'utf8' });
    if (r.status !== 0) return `${PYTHON} cannot import ${m} (scripts/setup.sh installs it with apt); skipped`;
  }
  return false;
}

export function deployFiles(dir = DEPLOY): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? deployFiles(path) : [path];
  });
}

const PARSE = String.raw`
import json, sys, yaml
out = {}
for path in sys.argv[1:]:
    try:
        with open(path, encoding='utf-8') as f:
            out[path] = {'docs': list(yaml.safe_load_all(f))}
    except Exception as e:
        out[path] = {'error': '%s: %s' % (type(e).__name__, e)}
print(json.dumps(out, default=str))
`;

export interface Parsed { docs?: unknown[]; error?: string }

/** file → its documents (YAML may hold several), parsed by PyYAML's safe loader, or the parse error. */
export function parseYaml(files: string[]): Map<string, Parsed> {
  const out = new Map<string, Parsed>();
  if (!files.length) return out;
  const parsed = JSON.parse(execFileSync(PYTHON, ['-c', PARSE, ...files], { encoding: 'utf8', maxBuffer: 64 << 20 })) as Record<string, Parsed>;
  for (const f of files) out.set(f, parsed[f]!);
  return out;
}

export function loadYaml(file: string): Obj {
  const r = parseYaml([file]).get(file)!;
  if (r.error) throw new Error(`${rel(file)}: ${r.error}`);
  return r.docs![0] as Obj;
}

// ------------------------------------------------------------------ values

const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `helm -f a.yaml -f b.yaml` over the chart's defaults: maps merge key by key, a list or a scalar replaces what was
 * there, and null removes the key.
 */
export function helmMerge(base: unknown, over: unknown): unknown {
  if (!isMap(base) || !isMap(over)) return structuredClone(over);
  const out: Obj = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    if (v === null) delete out[k];
    else out[k] = k in out ? helmMerge(out[k], v) : structuredClone(v);
  }
  return out;
}

let defaults: Obj | undefined;
export function chartDefaults(): Obj {
  defaults ??= loadYaml(join(CHART_DIR, 'values.yaml'));
  return defaults;
}

export function merged(...values: Obj[]): Obj {
  return values.reduce((acc, v) => helmMerge(acc, v) as Obj, chartDefaults());
}

const VALIDATE = String.raw`
import json, sys, yaml
from jsonschema import Draft7Validator
with open(sys.argv[1], encoding='utf-8') as f:
    schema = yaml.safe_load(f)
Draft7Validator.check_schema(schema)
validator = Draft7Validator(schema)
out = {}
for name, instance in json.load(sys.stdin).items():
    errors = validator.iter_errors(instance)
    out[name] = sorted('%s: %s' % ('.'.join(str(p) for p in e.absolute_path) or '(top)', e.message) for e in errors)
print(json.dumps(out))
`;

/** name → the schema's complaints about those (already merged) values; none means valid. */
export function validateAgainstSchema(instances: Record<string, Obj>): Record<string, string[]> {
  const out = execFileSync(PYTHON, ['-c', VALIDATE, join(CHART_DIR, 'values.schema.yaml')], {
    input: JSON.stringify(instances), encoding: 'utf8', maxBuffer: 64 << 20,
  });
  return JSON.parse(out) as Record<string, string[]>;
}

// ------------------------------------------------------------------ what the chart makes of the values

export interface EnvVar { name: string; value?: string; secret?: { name: string; key: string } }

export function envList(env: unknown): EnvVar[] {
  const one = (name: string, v: Obj): EnvVar => ({
    name, value: v.value === undefined ? undefined : String(v.value),
    secret: v.valueFrom?.secretKeyRef && { name: v.valueFrom.secretKeyRef.name, key: v.valueFrom.secretKeyRef.key },
  });
  if (Array.isArray(env)) return env.map((e: Obj) => one(e.name, e));
  if (!isMap(env)) return [];
  // the chart's object notation: a literal value, or an EnvVar whose name is implied by the key
  return Object.entries(env).map(([k, v]) => (isMap(v) ? one(v.name ?? k, v) : { name: k, value: String(v) }));
}

/** proxy.https as the chart's proxy container sees it: TLS in the proxy itself only for manual and secret. */
export function proxyTerminatesTls(values: Obj): boolean {
  const https = values.proxy?.https ?? {};
  return https.enabled === true && (https.type === 'manual' || https.type === 'secret');
}

/**
 * The proxy container's command line as the chart renders it, with kubelet's $(HUB_SERVICE_PORT) expanded; the
 * TLS files at `tls` when proxy.https terminates TLS in the proxy.
 */
export function chartProxyCommand(values: Obj, tls?: { key: string; cert: string }): string[] {
  const chp = values.proxy?.chp ?? {};
  const hub = `http://hub:${HUB_PORT}`;
  const argv = [
    'configurable-http-proxy', '--ip=', '--api-ip=', '--api-port=8001',
    `--default-target=${chp.defaultTarget ?? hub}`, `--error-target=${chp.errorTarget ?? `${hub}/hub/error`}`,
  ];
  if (proxyTerminatesTls(values)) {
    if (!tls) throw new Error('proxy.https terminates TLS in the proxy: give the key and certificate files');
    argv.push('--port=8443', '--redirect-port=8000', '--redirect-to=443', `--ssl-key=${tls.key}`, `--ssl-cert=${tls.cert}`);
  } else {
    argv.push('--port=8000');
  }
  if (values.hub?.config?.JupyterHub?.subdomain_host) argv.push('--host-routing');
  return [...argv, ...(chp.extraCommandLineFlags ?? []).map(String)];
}

export const CHART_SECRET = 'hub';
export const CHART_SECRET_KEYS = ['hub.config.JupyterHub.cookie_secret', 'hub.config.ConfigurableHTTPProxy.auth_token', 'hub.db.password'];

export function chartProxyEnv(values: Obj): EnvVar[] {
  return [
    { name: 'CONFIGPROXY_AUTH_TOKEN', secret: { name: CHART_SECRET, key: 'hub.config.ConfigurableHTTPProxy.auth_token' } },
    ...envList(values.proxy?.chp?.extraEnv),
  ];
}

const ACCESS = (what: string) => `hub.jupyter.org/network-access-${what}`;
export const CHART_SELECTOR = {
  hub: { app: 'jupyterhub', component: 'hub', release: RELEASE },
  proxy: { app: 'jupyterhub', component: 'proxy', release: RELEASE },
  singleuser: { app: 'jupyterhub', component: 'singleuser-server', release: RELEASE },
} as const;

/** A pod (or a client outside the cluster) as the network sees it. */
export interface Endpoint {
  id: string;
  /** Undefined for a client outside the cluster. */
  namespace?: string;
  labels: Labels;
  /** Container port names → numbers (NetworkPolicies and Services may name ports). */
  ports: Record<string, number>;
  /** Ports something listens on from other pods. */
  listens: Set<number>;
  /** Ports that listen on the pod's loopback only. */
  loopback: Set<number>;
}

export function containerPorts(containers: Obj[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of containers) for (const p of c.ports ?? []) if (p.name) out[p.name] = p.containerPort;
  return out;
}

/** The chart's pods for these merged values: the hub pod (with hub.extraContainers), the proxy pod, a user pod. */
export function chartPods(values: Obj): { hub: Endpoint; proxy: Endpoint; user: Endpoint } {
  const hubPorts = { http: HUB_PORT, ...containerPorts(values.hub?.extraContainers ?? []) };
  const proxyPorts: Record<string, number> = { http: 8000, api: 8001 };
  if (proxyTerminatesTls(values)) proxyPorts.https = 8443;
  const ports = (p: Record<string, number>) => new Set(Object.values(p));
  return {
    hub: {
      id: 'hub pod', namespace: NAMESPACE,
      labels: { ...CHART_SELECTOR.hub, [ACCESS('proxy-api')]: 'true', [ACCESS('proxy-http')]: 'true', [ACCESS('singleuser')]: 'true', ...values.hub?.labels },
      ports: hubPorts, listens: ports(hubPorts), loopback: new Set(),
    },
    proxy: {
      id: 'proxy pod (chart)', namespace: NAMESPACE,
      labels: { ...CHART_SELECTOR.proxy, [ACCESS('hub')]: 'true', [ACCESS('singleuser')]: 'true', ...values.proxy?.labels },
      ports: proxyPorts, listens: ports(proxyPorts), loopback: new Set(),
    },
    user: {
      id: 'user pod', namespace: NAMESPACE,
      labels: { ...CHART_SELECTOR.singleuser, ...values.singleuser?.extraLabels },
      ports: { 'notebook-port': 8888 }, listens: new Set([8888]), loopback: new Set(),
    },
  };
}

export interface ServiceModel { name: string; selector: Labels; ports: { port: number; targetPort: number | string }[]; source: string }

/** The chart's Services that the hops go through. */
export function chartServices(values: Obj): ServiceModel[] {
  const pub = [{ port: 80, targetPort: 'http' }];
  if (proxyTerminatesTls(values)) pub.push({ port: 443, targetPort: 'https' });
  return [
    { name: 'proxy-public', selector: CHART_SELECTOR.proxy, ports: pub, source: 'chart' },
    { name: 'proxy-api', selector: CHART_SELECTOR.proxy, ports: [{ port: 8001, targetPort: 'api' }], source: 'chart' },
    { name: 'hub', selector: CHART_SELECTOR.hub, ports: [{ port: HUB_PORT, targetPort: 'http' }], source: 'chart' },
  ];
}

// ------------------------------------------------------------------ network policies

export interface Peer { podSelector?: Labels; namespaceSelector?: Labels; ipBlock?: string }
export interface NetRule {
  /** Where the rule comes from, for the table. */
  source: string;
  /** Undefined: every peer. */
  peers?: Peer[];
  /** Undefined: every port. Names refer to the destination pod's container ports. */
  ports?: (number | string)[];
}
export interface Policy {
  source: string;
  namespace: string;
  podSelector: Labels;
  /** Undefined: the policy does not restrict that direction. */
  ingress?: NetRule[];
  egress?: NetRule[];
}

function labelsOf(selector: Obj | undefined, where: string): Labels {
  if (selector?.matchExpressions) throw new Error(`${where}: matchExpressions is not modelled`);
  return { ...(selector?.matchLabels ?? {}) };
}

/** One k8s NetworkPolicy rule (`from`/`to` and `ports`). */
export function k8sRule(rule: Obj, dir: 'from' | 'to', source: string): NetRule {
  const peers = rule[dir] as Obj[] | undefined;
  return {
    source,
    peers: peers?.length ? peers.map((p) => ({
      podSelector: p.podSelector ? labelsOf(p.podSelector, source) : undefined,
      namespaceSelector: p.namespaceSelector ? labelsOf(p.namespaceSelector, source) : undefined,
      ipBlock: p.ipBlock?.cidr,
    })) : undefined,
    ports: (rule.ports as Obj[] | undefined)?.length ? (rule.ports as Obj[]).map((p) => p.port) : undefined,
  };
}

export function k8sPolicy(obj: Obj, file: string): Policy {
  const name = `${rel(file)} NetworkPolicy ${obj.metadata.name}`;
  const types: string[] = obj.spec.policyTypes ?? (obj.spec.egress ? ['Ingress', 'Egress'] : ['Ingress']);
  return {
    source: name, namespace: NAMESPACE, podSelector: labelsOf(obj.spec.podSelector, name),
    ingress: types.includes('Ingress') ? (obj.spec.ingress ?? []).map((r: Obj, i: number) => k8sRule(r, 'from', `${name} ingress[${i}]`)) : undefined,
    egress: types.includes('Egress') ? (obj.spec.egress ?? []).map((r: Obj, i: number) => k8sRule(r, 'to', `${name} egress[${i}]`)) : undefined,
  };
}

/**
 * The chart's three NetworkPolicies for these merged values, with the values' additions. `egressAllowRules` are left
 * out: they are ipBlock rules (private and public address ranges, DNS), which Cilium and GKE Dataplane v2 do not
 * match against pod addresses, so no hop between pods may depend on them.
 */
export function chartPolicies(values: Obj, file: string): Policy[] {
  const f = rel(file);
  const out: Policy[] = [];
  const accessPeers = (np: Obj, label: string): Peer[] => {
    const peers: Peer[] = [{ podSelector: { [label]: 'true' } }];
    if (np.interNamespaceAccessLabels === 'accept') peers.push({ namespaceSelector: { [label]: 'true' } }, { namespaceSelector: {}, podSelector: { [label]: 'true' } });
    return peers;
  };
  const extras = (np: Obj, key: string, dir: 'ingress' | 'egress'): NetRule[] =>
    (np[dir] ?? []).map((r: Obj, i: number) => k8sRule(r, dir === 'ingress' ? 'from' : 'to', `${f} ${key}.networkPolicy.${dir}[${i}]`));
  // say whose setting opened a port: the chart's default, or the values file's
  const defaultPorts = (key: string) => key.split('.').reduce((o: Obj | undefined, k) => o?.[k], chartDefaults())?.networkPolicy?.allowedIngressPorts;
  const open = (np: Obj, key: string): NetRule[] => (np.allowedIngressPorts?.length ? [{
    source: `${JSON.stringify(np.allowedIngressPorts) === JSON.stringify(defaultPorts(key)) ? 'chart default' : f} ${key}.networkPolicy.allowedIngressPorts ${JSON.stringify(np.allowedIngressPorts)}`,
    ports: np.allowedIngressPorts,
  }] : []);

  const hubNp = values.hub?.networkPolicy ?? {};
  if (hubNp.enabled !== false) {
    out.push({
      source: 'chart hub netpol', namespace: NAMESPACE, podSelector: { ...CHART_SELECTOR.hub },
      ingress: [
        { source: 'chart hub netpol: ingress from network-access-hub on http', peers: accessPeers(hubNp, ACCESS('hub')), ports: ['http'] },
        ...open(hubNp, 'hub'), ...extras(hubNp, 'hub', 'ingress'),
      ],
      egress: [
        { source: 'chart hub netpol: egress to the proxy pods on 8001', peers: [{ podSelector: { ...CHART_SELECTOR.proxy } }], ports: [8001] },
        { source: 'chart hub netpol: egress to the user pods on 8888', peers: [{ podSelector: { ...CHART_SELECTOR.singleuser } }], ports: [8888] },
        ...extras(hubNp, 'hub', 'egress'),
      ],
    });
  }
  const proxyNp = values.proxy?.chp?.networkPolicy ?? {};
  if (proxyNp.enabled !== false) {
    out.push({
      source: 'chart proxy netpol', namespace: NAMESPACE, podSelector: { ...CHART_SELECTOR.proxy },
      ingress: [
        { source: 'chart proxy netpol: ingress from network-access-proxy-http on http/https', peers: accessPeers(proxyNp, ACCESS('proxy-http')), ports: ['http', 'https'] },
        { source: 'chart proxy netpol: ingress from network-access-proxy-api on api', peers: accessPeers(proxyNp, ACCESS('proxy-api')), ports: ['api'] },
        ...open(proxyNp, 'proxy.chp'), ...extras(proxyNp, 'proxy.chp', 'ingress'),
      ],
      egress: [
        { source: 'chart proxy netpol: egress to the hub on 8081', peers: [{ podSelector: { ...CHART_SELECTOR.hub } }], ports: [HUB_PORT] },
        { source: 'chart proxy netpol: egress to the user pods on 8888', peers: [{ podSelector: { ...CHART_SELECTOR.singleuser } }], ports: [8888] },
        ...extras(proxyNp, 'proxy.chp', 'egress'),
      ],
    });
  }
  const userNp = values.singleuser?.networkPolicy ?? {};
  if (userNp.enabled !== false) {
    out.push({
      source: 'chart singleuser netpol', namespace: NAMESPACE, podSelector: { ...CHART_SELECTOR.singleuser },
      ingress: [
        { source: 'chart singleuser netpol: ingress from network-access-singleuser on notebook-port', peers: accessPeers(userNp, ACCESS('singleuser')), ports: ['notebook-port'] },
        ...open(userNp, 'singleuser'), ...extras(userNp, 'singleuser', 'ingress'),
      ],
      egress: [
        { source: 'chart singleuser netpol: egress to the hub on 8081', peers: [{ podSelector: { ...CHART_SELECTOR.hub } }], ports: [HUB_PORT] },
        ...extras(userNp, 'singleuser', 'egress'),
      ],
    });
  }
  return out;
}

export const matchLabels = (selector: Labels, labels: Labels) => Object.entries(selector).every(([k, v]) => labels[k] === v);
const namespaceLabels = (ns: string): Labels => ({ 'kubernetes.io/metadata.name': ns });

function peerMatches(peer: Peer, policyNs: string, e: Endpoint): boolean {
  if (peer.ipBlock !== undefined) return false;
  if (e.namespace === undefined) return false;
  if (peer.namespaceSelector) {
    return matchLabels(peer.namespaceSelector, namespaceLabels(e.namespace)) && (!peer.podSelector || matchLabels(peer.podSelector, e.labels));
  }
  return e.namespace === policyNs && matchLabels(peer.podSelector ?? {}, e.labels);
}

function portMatches(rule: NetRule, dest: Endpoint, port: number): boolean {
  return !rule.ports || rule.ports.some((p) => (typeof p === 'number' ? p === port : dest.ports[p] === port));
}

export interface Side { ok: boolean; by: string }

/** Whether the policies selecting `self` let this connection out (egress) or in (ingress), and by which rule. */
function side(policies: Policy[], dir: 'ingress' | 'egress', self: Endpoint, peer: Endpoint, dest: Endpoint, port: number): Side {
  if (self.namespace === undefined) return { ok: true, by: dir === 'egress' ? 'outside the cluster' : 'n/a' };
  const selecting = policies.filter((p) => p[dir] !== undefined && p.namespace === self.namespace && matchLabels(p.podSelector, self.labels));
  if (!selecting.length) return { ok: true, by: `no ${dir} policy selects it` };
  for (const p of selecting) {
    const rule = p[dir]!.find((r) => (!r.peers || r.peers.some((x) => peerMatches(x, p.namespace, peer))) && portMatches(r, dest, port));
    if (rule) return { ok: true, by: rule.source };
  }
  return { ok: false, by: `no rule of ${selecting.map((p) => p.source).join(', ')}` };
}

export interface Verdict { allowed: boolean; egress: Side; ingress: Side }

/** A TCP connection from one endpoint to a port of another, under the policies. */
export function connect(policies: Policy[], from: Endpoint, to: Endpoint, port: number, opts: { loopback?: boolean } = {}): Verdict {
  if (opts.loopback) {
    if (from !== to) throw new Error('a loopback hop stays in one pod');
    const listening = to.loopback.has(port) || to.listens.has(port);
    const s = { ok: listening, by: listening ? 'loopback (same pod): NetworkPolicy does not apply' : `nothing listens on ${port}` };
    return { allowed: listening, egress: s, ingress: s };
  }
  const egress = side(policies, 'egress', from, to, to, port);
  let ingress = side(policies, 'ingress', to, from, to, port);
  if (!to.listens.has(port)) ingress = { ok: false, by: to.loopback.has(port) ? `listens on 127.0.0.1 only` : `nothing listens on ${port}` };
  return { allowed: egress.ok && ingress.ok, egress, ingress };
}

export function chartFilesPresent(): string | false {
  for (const f of ['values.yaml', 'values.schema.yaml']) if (!existsSync(join(CHART_DIR, f))) return `${join(CHART_DIR, f)} is missing`;
  return false;
}
