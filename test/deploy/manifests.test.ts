// The deployment files under deploy/ against the code: every file parses, every hub-guard flag exists and its value
// is accepted, ports, probes, Services and PodMonitors meet the ports the flags open, paths named by flags lie on the
// right mounts, secrets come from the chart's Secret, the hub side points at hub-guard, and every alert's metrics
// and labels exist and its runbook section is written.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FLAGS, buildConfig, type Config } from '../../src/config.js';
import { registry } from '../../src/metrics.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const PYTHON = '/usr/bin/python3';

// What the zero-to-jupyterhub chart 2.0 itself puts in the hub pod (templates/hub/deployment.yaml: volumes "config",
// "secret" and, for sqlite-pvc, "pvc" from the PersistentVolumeClaim "hub-db-dir"), its labels, and its Secret "hub".
const Z2JH_HUB_VOLUMES = ['config', 'secret'];
const Z2JH_SQLITE_VOLUME = 'pvc';
const Z2JH_PVC = 'hub-db-dir';
const Z2JH_HUB_LABELS = { app: 'jupyterhub', component: 'hub', release: 'jhub' };
const Z2JH_SECRET = 'hub';
const Z2JH_SECRET_KEYS = ['hub.config.JupyterHub.cookie_secret', 'hub.config.ConfigurableHTTPProxy.auth_token', 'hub.db.password'];
// Environment variables hub-guard reads (config.ts, hubdb/url.ts); anything else in a manifest is a typo.
const ENV_READ = new Set([
  'CONFIGPROXY_AUTH_TOKEN', 'JPY_COOKIE_SECRET', 'HUB_GUARD_OPERATOR_TOKEN', 'PGPASSWORD', 'MYSQL_PWD',
  'HUB_GUARD_REDIS_PASSWORD', 'HUB_GUARD_REDIS_SENTINEL_PASSWORD', 'HUB_GUARD_UPSTREAM_TOKEN',
]);
// Labels Prometheus adds to every series from a pod target, usable in `by (…)`.
const TARGET_LABELS = new Set(['namespace', 'pod', 'job', 'instance', 'container', 'service', 'endpoint']);

type Obj = Record<string, any>;

interface Mount { name: string; path: string; readOnly: boolean; subPath?: string }
interface Port { name?: string; port: number }
interface Probe { kind: string; port: string | number; path: string }
interface EnvVar { name: string; secret?: { name: string; key: string } }
interface Container {
  name: string;
  image?: string;
  command?: string[];
  args: string[];
  env: EnvVar[];
  ports: Port[];
  mounts: Mount[];
  probes: Probe[];
  readOnlyRoot: boolean;
}
interface Pod {
  file: string;
  what: string;
  labels: Record<string, string>;
  /** Volume names the pod declares; for compose, named volumes and bind sources. */
  volumes: Set<string>;
  containers: Container[];
  init: Container[];
}

// ------------------------------------------------------------------ loading

function pythonYamlMissing(): string | false {
  const r = spawnSync(PYTHON, ['-c', 'import yaml'], { encoding: 'utf8' });
  return r.status === 0 ? false : `${PYTHON} cannot import yaml (apt-get install python3-yaml); manifest checks skipped`;
}

function deployFiles(dir = DEPLOY): string[] {
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

/** file → its documents (YAML may hold several), parsed by PyYAML's safe loader, or the parse error. */
function parseAll(files: string[]): Map<string, { docs?: unknown[]; error?: string }> {
  const out = new Map<string, { docs?: unknown[]; error?: string }>();
  const yamlFiles = files.filter((f) => /\.ya?ml$/.test(f));
  if (yamlFiles.length) {
    const parsed = JSON.parse(execFileSync(PYTHON, ['-c', PARSE, ...yamlFiles], { encoding: 'utf8' })) as Record<string, { docs?: unknown[]; error?: string }>;
    for (const [f, r] of Object.entries(parsed)) out.set(f, r);
  }
  for (const f of files.filter((f) => f.endsWith('.json'))) {
    try {
      out.set(f, { docs: [JSON.parse(readFileSync(f, 'utf8'))] });
    } catch (e) {
      out.set(f, { error: (e as Error).message });
    }
  }
  return out;
}

const rel = (f: string) => relative(ROOT, f);

function container(c: Obj): Container {
  const probes: Probe[] = [];
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const get = c[kind]?.httpGet;
    if (get) probes.push({ kind, port: get.port, path: get.path });
  }
  return {
    name: c.name,
    image: c.image,
    command: c.command,
    args: (c.args ?? []).map(String),
    env: (c.env ?? []).map((e: Obj) => ({ name: e.name, secret: e.valueFrom?.secretKeyRef && { name: e.valueFrom.secretKeyRef.name, key: e.valueFrom.secretKeyRef.key } })),
    ports: (c.ports ?? []).map((p: Obj) => ({ name: p.name, port: p.containerPort })),
    mounts: (c.volumeMounts ?? []).map((m: Obj) => ({ name: m.name, path: m.mountPath, readOnly: m.readOnly === true, subPath: m.subPath })),
    probes,
    readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
  };
}

function podFromSpec(file: string, what: string, labels: Obj, spec: Obj): Pod {
  return {
    file, what, labels: labels ?? {},
    volumes: new Set((spec.volumes ?? []).map((v: Obj) => v.name)),
    containers: (spec.containers ?? []).map(container),
    init: (spec.initContainers ?? []).map(container),
  };
}

/** The hub pod as the chart renders it with these values: its own volumes plus what the values add. */
function z2jhHubPod(file: string, values: Obj): Pod {
  const hub = values.hub ?? {};
  const volumes = [...Z2JH_HUB_VOLUMES, ...(hub.db?.type === 'sqlite-pvc' ? [Z2JH_SQLITE_VOLUME] : []), ...(hub.extraVolumes ?? []).map((v: Obj) => v.name)];
  return {
    file, what: 'the hub pod', labels: Z2JH_HUB_LABELS, volumes: new Set(volumes),
    containers: (hub.extraContainers ?? []).map(container),
    init: (hub.initContainers ?? []).map(container),
  };
}

/** A compose service running hub-guard, in the same shape (compose's `command` replaces the image's CMD). */
function composePod(file: string, doc: Obj, name: string, svc: Obj): Pod {
  const env = Array.isArray(svc.environment)
    ? svc.environment.map((e: string) => ({ name: e.split('=')[0] }))
    : Object.keys(svc.environment ?? {}).map((k) => ({ name: k }));
  const mounts = (svc.volumes ?? []).map((v: string) => {
    const [source, path, mode] = v.split(':');
    return { name: source!, path: path!, readOnly: mode === 'ro' };
  });
  const ports = (svc.ports ?? []).map((p: string) => ({ port: Number(String(p).split(':').at(-1)) }));
  const volumes = new Set<string>([...Object.keys(doc.volumes ?? {}), ...mounts.filter((m: Mount) => /^[./]/.test(m.name)).map((m: Mount) => m.name)]);
  return {
    file, what: `compose service ${name}`, labels: {}, volumes,
    containers: [{ name, image: svc.image, args: (svc.command ?? []).map(String), env, ports, mounts, probes: [], readOnlyRoot: false }],
    init: [],
  };
}

interface Loaded {
  parsed: Map<string, { docs?: unknown[]; error?: string }>;
  /** Every Kubernetes object, with the file it came from. */
  objects: { file: string; obj: Obj }[];
  pods: Pod[];
  values: Map<string, Obj>;
  compose?: { file: string; doc: Obj };
}

function load(): Loaded {
  const files = deployFiles();
  const parsed = parseAll(files);
  const objects: Loaded['objects'] = [];
  const pods: Pod[] = [];
  const values = new Map<string, Obj>();
  let compose: Loaded['compose'];
  for (const [file, r] of parsed) {
    for (const doc of (r.docs ?? []) as Obj[]) {
      if (!doc || typeof doc !== 'object') continue;
      if (typeof doc.kind === 'string' && typeof doc.apiVersion === 'string') {
        objects.push({ file, obj: doc });
        const name = `${doc.kind} ${doc.metadata?.name}`;
        if (doc.kind === 'Pod') pods.push(podFromSpec(file, name, doc.metadata?.labels, doc.spec));
        else if (doc.spec?.template?.spec) {
          const pod = podFromSpec(file, name, doc.spec.template.metadata?.labels, doc.spec.template.spec);
          // a StatefulSet's volumeClaimTemplates become volumes of its pods
          for (const t of doc.spec.volumeClaimTemplates ?? []) pod.volumes.add(t.metadata?.name);
          pods.push(pod);
        }
      } else if (doc.services) {
        compose = { file, doc };
        for (const [name, svc] of Object.entries(doc.services as Record<string, Obj>)) {
          if (svc.build || /^hub-guard:/.test(svc.image ?? '')) pods.push(composePod(file, doc, name, svc));
        }
      } else if (doc.hub || doc.proxy) {
        values.set(file, doc);
        pods.push(z2jhHubPod(file, doc));
      }
    }
  }
  return { parsed, objects, pods, values, compose };
}

// ------------------------------------------------------------------ helpers

const FLAG_NAMES = new Set(FLAGS.map((f) => f.name));
const NEGATABLE = new Set(FLAGS.filter((f) => f.negatable).map((f) => f.name));
// flags whose value is a file or directory hub-guard opens
const PATH_FLAGS = new Set(FLAGS.filter((f) => f.arg === 'file' || f.arg === 'dir' || f.arg === 'path').map((f) => f.name));

const isGuard = (c: Container, pod: Pod) => (/^hub-guard:/.test(c.image ?? '') || pod.what.startsWith('compose')) && !c.command;

const isKnownFlag = (name: string) => FLAG_NAMES.has(name) || (name.startsWith('no-') && NEGATABLE.has(name.slice(3)));

/** The arguments without flags hub-guard does not know: those fail the flag test; the other tests check the rest. */
function knownArgs(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--') || isKnownFlag(arg.slice(2).split('=')[0]!)) {
      out.push(arg);
      continue;
    }
    if (!arg.includes('=') && args[i + 1] !== undefined && !args[i + 1]!.startsWith('--')) i++;
  }
  return out;
}

function guards(l: Loaded): { pod: Pod; c: Container; cfg: Config; where: string }[] {
  return l.pods.flatMap((pod) => pod.containers.filter((c) => isGuard(c, pod)).map((c) => ({
    pod, c, where: `${rel(pod.file)} (${pod.what}, container ${c.name})`,
    cfg: buildConfig(knownArgs(c.args), {}),
  })));
}

function flagValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i]!.startsWith(`--${name}=`)) return args[i]!.slice(name.length + 3);
  }
  return undefined;
}

/** The port number a reference (number or container port name) means in this container, if it declares it. */
function resolvePort(c: Container, ref: string | number): number | undefined {
  return typeof ref === 'number' ? c.ports.find((p) => p.port === ref)?.port : c.ports.find((p) => p.name === ref)?.port;
}

/** The mount that holds a path: the longest mount path that is a prefix of it on a segment boundary. */
function mountFor(c: Container, path: string): Mount | undefined {
  const under = c.mounts.filter((m) => path === m.path || path.startsWith(m.path.endsWith('/') ? m.path : `${m.path}/`));
  return under.sort((a, b) => b.path.length - a.path.length)[0];
}

const matches = (selector: Obj | undefined, labels: Record<string, string>) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);

function sqliteFile(hubDb: string | undefined): string | undefined {
  const m = hubDb && /^sqlite:\/\/\/(.*)$/.exec(hubDb);
  return m ? m[1] : undefined;
}

/** `c.ConfigurableHTTPProxy.api_url = "…"` and friends, read from Python config text. */
function pyString(text: string, name: string): string | undefined {
  return new RegExp(String.raw`^\s*c\.${name.replace(/\./g, '\\.')}\s*=\s*["']([^"']*)["']`, 'm').exec(text)?.[1];
}

const missing = pythonYamlMissing();

describe('deploy/ manifests', { skip: missing }, () => {
  const l = missing ? undefined! : load();

  test('every YAML and JSON file parses', () => {
    assert.ok(l.parsed.size >= 5, `found ${l.parsed.size} manifest files`);
    for (const [file, r] of l.parsed) {
      assert.equal(r.error, undefined, `${rel(file)}: ${r.error}`);
      assert.ok(r.docs!.length > 0 && r.docs!.every((d) => d !== null && typeof d === 'object'), `${rel(file)}: empty or not a mapping`);
    }
    assert.ok(l.compose, 'a compose file');
    assert.ok(guards(l).length >= 3, 'hub-guard runs in the sidecar values, the standalone Deployment and compose');
  });

  test('every hub-guard flag exists in src/config.ts FLAGS and its value is accepted', () => {
    const problems: string[] = [];
    for (const p of l.pods) {
      for (const c of p.containers.filter((x) => isGuard(x, p))) {
        const where = `${rel(p.file)} (${p.what}, container ${c.name})`;
        for (const arg of c.args) {
          const name = arg.slice(2).split('=')[0]!;
          if (!arg.startsWith('--')) problems.push(`${where}: '${arg}' is not a flag`);
          else if (!isKnownFlag(name)) problems.push(`${where}: --${name} is not a hub-guard flag (src/config.ts FLAGS)`);
        }
        try {
          buildConfig(knownArgs(c.args), {});
        } catch (e) {
          problems.push(`${where}: ${(e as Error).message}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  test('ports: containers, probes, Services and PodMonitors meet the ports the flags open', () => {
    for (const { pod, c, cfg, where } of guards(l)) {
      const pub = cfg.listen.port!;
      const api = cfg.apiListen.port!;
      const metrics = cfg.metricsListen?.port;
      assert.deepEqual([pub, api], [8000, 8001], `${where}: public and API ports as configurable-http-proxy's`);
      assert.equal(metrics, 8002, `${where}: metrics port`);
      const open = new Set([pub, api, metrics]);
      for (const p of c.ports) assert.ok(open.has(p.port), `${where}: declares port ${p.port}, which hub-guard does not open`);
      assert.ok(c.ports.some((p) => p.port === pub), `${where}: the public port ${pub} is declared`);
      const apiLocal = cfg.apiListen.host === '127.0.0.1' || cfg.apiListen.host === 'localhost';
      for (const probe of c.probes) {
        const port = resolvePort(c, probe.port);
        assert.ok(port, `${where}: ${probe.kind} port ${probe.port} is not a declared port`);
        const expected = port === pub ? ['/_chp_healthz'] : port === api ? ['/healthz', '/readyz'] : ['/metrics'];
        assert.ok(expected.includes(probe.path), `${where}: ${probe.kind} asks ${probe.path} on port ${port}, which answers ${expected.join(' or ')}`);
        assert.ok(!(port === api && apiLocal), `${where}: ${probe.kind} on the API port, which listens on ${cfg.apiListen.host} where kubelet cannot reach it`);
      }
      if (pod.what.startsWith('compose')) {
        const svc = (l.compose!.doc.services as Obj)[c.name];
        for (const p of svc.ports as string[]) {
          assert.match(p, /^127\.0\.0\.1:\d+:\d+$/, `${where}: publishes ${p} beyond the loopback`);
        }
      }
    }
    // every Service and PodMonitor reaches a port some container declares
    for (const { file, obj } of l.objects.filter((o) => o.obj.kind === 'Service' || o.obj.kind === 'PodMonitor')) {
      const name = `${rel(file)}: ${obj.kind} ${obj.metadata.name}`;
      const selector = obj.kind === 'Service' ? obj.spec.selector : obj.spec.selector?.matchLabels;
      const targets = l.pods.filter((p) => matches(selector, p.labels));
      assert.ok(targets.length > 0, `${name}: its selector ${JSON.stringify(selector)} matches no pod in deploy/`);
      const refs: (string | number)[] = obj.kind === 'Service'
        ? obj.spec.ports.map((p: Obj) => p.targetPort ?? p.port)
        : obj.spec.podMetricsEndpoints.map((e: Obj) => e.port);
      for (const ref of refs) {
        const hit = targets.flatMap((p) => p.containers.map((c) => ({ p, c, port: resolvePort(c, ref) }))).find((x) => x.port !== undefined);
        assert.ok(hit, `${name}: port ${ref} is no container port of ${targets.map((p) => p.what).join(', ')}`);
        if (obj.kind === 'PodMonitor') {
          const g = guards(l).find((x) => x.c === hit.c);
          assert.equal(hit.port, g?.cfg.metricsListen?.port, `${name}: scrapes ${ref}, which is not hub-guard's --metrics-port`);
          for (const e of obj.spec.podMetricsEndpoints) assert.equal(e.path, '/metrics', `${name}: path`);
        }
      }
    }
  });

  test('paths: mounts exist, the hub database is read-only, the state directory writable, file flags on a mount', () => {
    for (const pod of l.pods) {
      for (const c of [...pod.containers, ...pod.init]) {
        for (const m of c.mounts) assert.ok(pod.volumes.has(m.name), `${rel(pod.file)} (${pod.what}, ${c.name}): mounts volume ${m.name}, which the pod does not have`);
      }
    }
    for (const { c, cfg, where } of guards(l)) {
      const db = sqliteFile(cfg.hubDb);
      if (db) {
        const m = mountFor(c, db);
        assert.ok(m, `${where}: --hub-db ${db} is on no mount`);
        assert.ok(m.readOnly, `${where}: the hub database ${db} is mounted writable (${m.path})`);
        if (m.name === Z2JH_SQLITE_VOLUME) assert.equal(m.path, '/srv/jupyterhub', `${where}: where the chart mounts the hub database`);
      }
      for (const arg of c.args) {
        const name = arg.slice(2).split('=')[0]!;
        if (!PATH_FLAGS.has(name)) continue;
        const path = flagValue(c.args, name)!;
        const m = mountFor(c, path);
        assert.ok(m, `${where}: --${name} ${path} is on no mount, so it would not survive a restart`);
        if (name === 'state-dir' || name === 'pid-file') assert.ok(!m.readOnly, `${where}: --${name} ${path} is on a read-only mount`);
      }
      if (c.readOnlyRoot) assert.ok(c.mounts.some((m) => m.path === '/tmp' && !m.readOnly), `${where}: a read-only root file system needs a writable /tmp`);
    }
    // the state directory is a subdirectory of the hub's volume, which the init container creates with the same name
    for (const pod of l.pods) {
      for (const c of pod.containers.filter((x) => isGuard(x, pod))) {
        for (const m of c.mounts.filter((x) => x.subPath)) {
          const made = pod.init.some((i) => i.mounts.some((im) => im.name === m.name && i.command?.join(' ').includes(`${im.path}/${m.subPath}`)));
          assert.ok(made, `${rel(pod.file)}: no init container creates ${m.subPath} on volume ${m.name}`);
        }
      }
    }
    const restore = l.objects.find((o) => o.obj.kind === 'Pod' && o.obj.metadata.name === 'hub-db-restore');
    assert.ok(restore, 'the restore pod');
    assert.deepEqual(restore.obj.spec.volumes.map((v: Obj) => v.persistentVolumeClaim?.claimName), [Z2JH_PVC]);
    assert.equal(restore.obj.spec.containers[0].volumeMounts[0].mountPath, '/srv/jupyterhub');
  });

  test('secrets: only variables hub-guard reads, from the chart Secret keys that exist', () => {
    for (const { c, cfg, where } of guards(l)) {
      const names = c.env.map((e) => e.name);
      for (const n of names) assert.ok(ENV_READ.has(n), `${where}: sets ${n}, which hub-guard does not read`);
      assert.ok(names.includes('CONFIGPROXY_AUTH_TOKEN'), `${where}: the routes API token`);
      if (cfg.hubDb) assert.ok(names.includes('JPY_COOKIE_SECRET') || c.args.some((a) => a.startsWith('--cookie-secret-file')), `${where}: --hub-db needs the hub's cookie secret`);
      if (cfg.hubDb && /^postgres(ql)?:\/\/[^:@/]+@/.test(cfg.hubDb)) assert.ok(names.includes('PGPASSWORD'), `${where}: the database password`);
      for (const e of c.env.filter((x) => x.secret?.name === Z2JH_SECRET)) {
        assert.ok(Z2JH_SECRET_KEYS.includes(e.secret!.key), `${where}: ${e.name} reads key ${e.secret!.key}, which the chart's Secret "hub" does not have`);
      }
      const token = c.env.find((e) => e.name === 'CONFIGPROXY_AUTH_TOKEN')?.secret;
      if (token) assert.deepEqual(token, { name: Z2JH_SECRET, key: 'hub.config.ConfigurableHTTPProxy.auth_token' }, `${where}: the same token the hub sends`);
      const secret = c.env.find((e) => e.name === 'JPY_COOKIE_SECRET')?.secret;
      if (secret) assert.deepEqual(secret, { name: Z2JH_SECRET, key: 'hub.config.JupyterHub.cookie_secret' }, `${where}: the hub's own cookie secret`);
    }
  });

  test('the hub side points at hub-guard', () => {
    const all = guards(l);
    for (const [file, values] of l.values) {
      const config = Object.values(values.hub?.extraConfig ?? {}).join('\n');
      assert.equal(pyString(config, 'ConfigurableHTTPProxy.should_start'), undefined, 'should_start is a bool, not a string');
      assert.match(config, /^\s*c\.ConfigurableHTTPProxy\.should_start\s*=\s*False\s*$/m, `${rel(file)}: should_start = False`);
      const apiUrl = new URL(pyString(config, 'ConfigurableHTTPProxy.api_url')!);
      const sidecar = all.find((g) => g.pod.file === file);
      if (sidecar) {
        assert.equal(apiUrl.hostname, '127.0.0.1', `${rel(file)}: the sidecar shares the hub's network`);
        assert.equal(Number(apiUrl.port), sidecar.cfg.apiListen.port, `${rel(file)}: api_url port`);
        assert.equal(sqliteFile(sidecar.cfg.hubDb), '/srv/jupyterhub/jupyterhub.sqlite', `${rel(file)}: the chart's sqlite file`);
      } else {
        // the standalone Deployment: api_url names its Service, which leads to hub-guard's API port
        const svc = l.objects.find((o) => o.obj.kind === 'Service' && o.obj.metadata.name === apiUrl.hostname);
        assert.ok(svc, `${rel(file)}: api_url host ${apiUrl.hostname} is no Service in deploy/`);
        const port = svc.obj.spec.ports.find((p: Obj) => p.port === Number(apiUrl.port));
        assert.ok(port, `${rel(file)}: Service ${apiUrl.hostname} has no port ${apiUrl.port}`);
        const g = all.find((x) => matches(svc.obj.spec.selector, x.pod.labels));
        assert.ok(g, `${rel(file)}: Service ${apiUrl.hostname} selects no hub-guard`);
        assert.equal(resolvePort(g.c, port.targetPort), g.cfg.apiListen.port, `${rel(file)}: Service ${apiUrl.hostname} leads to the API port`);
        assert.equal(values.hub.db.url, g.cfg.hubDb, `${rel(file)}: hub.db.url is hub-guard's --hub-db`);
      }
    }
    // compose: the optional hub's configuration
    const hubConfig = readFileSync(join(DEPLOY, 'jupyterhub_config.py'), 'utf8');
    const g = all.find((x) => x.pod.what.startsWith('compose'))!;
    const apiUrl = new URL(pyString(hubConfig, 'ConfigurableHTTPProxy.api_url')!);
    assert.equal(apiUrl.hostname, g.c.name, 'compose: api_url names the hub-guard service');
    assert.equal(Number(apiUrl.port), g.cfg.apiListen.port, 'compose: api_url port');
    assert.equal(pyString(hubConfig, 'JupyterHub.db_url'), g.cfg.hubDb, 'compose: the hub and hub-guard read one database');
    assert.equal(new URL(pyString(hubConfig, 'JupyterHub.hub_connect_url')!).host, new URL(g.cfg.defaultTarget!).host, 'compose: --default-target is the hub');
    const services = l.compose!.doc.services as Obj;
    assert.ok(services[new URL(g.cfg.defaultTarget!).hostname], 'compose: the hub service exists');
    assert.ok(services[apiUrl.hostname], 'compose: the hub-guard service exists');
    const mounted = (services.jupyterhub.volumes as string[]).map((v) => v.split(':'));
    assert.ok(mounted.some(([src, dst]) => resolve(DEPLOY, src!) === join(DEPLOY, 'jupyterhub_config.py') && services.jupyterhub.command.includes(dst)), 'compose: the hub runs deploy/jupyterhub_config.py');
  });

  test('images: the repository Dockerfile, its version, its entrypoint', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /^ENTRYPOINT \["node", "\/app\/dist\/src\/cli\.js"\]$/m, 'flags are arguments of the entrypoint');
    for (const pod of l.pods) {
      for (const c of [...pod.containers, ...pod.init].filter((x) => /^hub-guard:/.test(x.image ?? '') && !pod.what.startsWith('compose'))) {
        assert.equal(c.image, `hub-guard:${pkg.version}`, `${rel(pod.file)} (${c.name}): image tag is the package version`);
      }
    }
    const svc = (l.compose!.doc.services as Obj)['hub-guard'];
    assert.equal(resolve(DEPLOY, svc.build.context, svc.build.dockerfile), join(ROOT, 'Dockerfile'), 'compose builds the repository Dockerfile');
    assert.ok(existsSync(join(ROOT, 'Dockerfile')));
  });

  test('alerts: metrics and labels exist in src/metrics.ts; each alert has a runbook section', () => {
    const rules = l.objects.filter((o) => o.obj.kind === 'PrometheusRule');
    assert.equal(rules.length, 1);
    const runbook = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const known = new Map(registry.getMetricsAsArray().map((m) => [m.name, m]));
    const alerts = rules[0]!.obj.spec.groups.flatMap((g: Obj) => g.rules).filter((r: Obj) => r.alert);
    assert.ok(alerts.length >= 8, `${alerts.length} alerts`);
    const names = new Set<string>();
    for (const a of alerts as Obj[]) {
      const where = `alert ${a.alert}`;
      assert.ok(!names.has(a.alert), `${where} defined twice`);
      names.add(a.alert);
      assert.ok(['critical', 'warning', 'info'].includes(a.labels?.severity), `${where}: severity`);
      assert.ok(a.annotations?.summary && a.annotations?.description, `${where}: summary and description`);
      const anchor = a.alert.toLowerCase();
      assert.equal(a.annotations.runbook_url, `docs/operations.md#${anchor}`, `${where}: runbook_url`);
      assert.ok(anchors.has(anchor), `${where}: docs/operations.md has no section "${a.alert}"`);
      const expr = String(a.expr);
      const used = [...expr.matchAll(/\b(hub_guard_[a-z0-9_]+)\s*(\{[^}]*\})?/g)];
      assert.ok(used.length > 0 || /\bup\{job="hub-guard"\}/.test(expr), `${where}: uses no hub-guard metric`);
      const labelsHere = new Set<string>(TARGET_LABELS);
      for (const [, series, selector] of used) {
        const base = series!.replace(/_(bucket|sum|count)$/, '');
        const metric = known.get(series!) ?? known.get(base);
        assert.ok(metric, `${where}: ${series} is not a metric in src/metrics.ts`);
        const labelNames = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
        for (const n of labelNames) labelsHere.add(n);
        for (const [, label] of (selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
          assert.ok(labelNames.includes(label!), `${where}: ${metric.name} has no label ${label}`);
        }
      }
      for (const [, list] of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of list!.split(',').map((s) => s.trim()).filter(Boolean)) {
          assert.ok(labelsHere.has(label), `${where}: groups by ${label}, which neither the metric nor the target has`);
        }
      }
    }
    for (const must of ['hub_guard_maintenance', 'hub_guard_blocked_total', 'hub_guard_db_healthy', 'hub_guard_state_store_up', 'hub_guard_db_findings']) {
      assert.ok(alerts.some((a: Obj) => String(a.expr).includes(must)), `an alert on ${must}`);
    }
  });
});
