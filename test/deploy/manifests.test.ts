// The deployment files under deploy/ against the code and the chart (zero-to-jupyterhub 4.4.0): every file parses,
// every hub-guard command line (the chart's proxy command with the values' flags, the watcher, the sidecar, the
// extra replicas, compose) is accepted by src/config.ts, ports, probes, Services and PodMonitors meet the ports the
// flags open, paths named by flags lie on the right mounts, secrets come from keys the chart's Secret has, the
// pieces of each layout point at each other, no file pins chart 2.0, and every alert's metrics and labels exist and
// its runbook section is written. The schema and the network are checked in chart-schema and reachability tests.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FLAGS, WATCH_FLAGS, buildConfig } from '../../src/config.js';
import { registerWatcherMetrics, registry } from '../../src/metrics.js';
import {
  CHART_SECRET, CHART_SECRET_KEYS, CHART_SELECTOR, CHART_VERSION, DEPLOY, HUB_PORT, ROOT, chartFilesPresent,
  chartProxyCommand, matchLabels, merged, pythonMissing, rel, type Obj,
} from './chart.js';
import {
  LAYOUTS, config, deployPath, layout, load, type Container, type Guard, type LayoutName, type Loaded, type Mount,
} from './deploy-files.js';

// Environment variables hub-guard reads (config.ts, hubdb/url.ts); anything else in a manifest is a typo.
const ENV_READ = new Set([
  'CONFIGPROXY_AUTH_TOKEN', 'JPY_COOKIE_SECRET', 'HUB_GUARD_OPERATOR_TOKEN', 'PGPASSWORD', 'MYSQL_PWD',
  'HUB_GUARD_REDIS_PASSWORD', 'HUB_GUARD_REDIS_SENTINEL_PASSWORD', 'HUB_GUARD_UPSTREAM_TOKEN',
]);
// Labels Prometheus adds to every series from a pod target, usable in `by (…)` and in selectors.
const TARGET_LABELS = new Set(['namespace', 'pod', 'job', 'instance', 'container', 'service', 'endpoint']);
const OPERATOR_SECRET = { name: 'hub-guard', key: 'operator-token' };
const SQLITE_VOLUME = 'pvc';
const SQLITE_FILE = '/srv/jupyterhub/jupyterhub.sqlite';

const FLAG_NAMES = new Set(FLAGS.map((f) => f.name));
const WATCH_NAMES = new Set(WATCH_FLAGS.map((f) => f.name));
const NEGATABLE = new Set(FLAGS.filter((f) => f.negatable).map((f) => f.name));
// flags whose value is a file or directory hub-guard opens
const PATH_FLAGS = new Set(FLAGS.filter((f) => f.arg === 'file' || f.arg === 'dir' || f.arg === 'path').map((f) => f.name));

const isKnownFlag = (name: string, kind: Guard['kind']) => (kind === 'watch'
  ? WATCH_NAMES.has(name)
  : FLAG_NAMES.has(name) || (name.startsWith('no-') && NEGATABLE.has(name.slice(3))));

function flagValue(args: string[], name: string): string | undefined {
  let v: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) v = args[i + 1];
    else if (args[i]!.startsWith(`--${name}=`)) v = args[i]!.slice(name.length + 3);
  }
  return v;
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

const selects = (selector: Obj | undefined, labels: Record<string, string>) =>
  !!selector && Object.keys(selector).length > 0 && matchLabels(selector, labels);

function sqliteFile(hubDb: string | undefined): string | undefined {
  const m = hubDb && /^sqlite:\/\/\/(.*)$/.exec(hubDb);
  return m ? m[1] : undefined;
}

/** `c.ConfigurableHTTPProxy.api_url = "…"` and friends, read from Python config text. */
function pyString(text: string, name: string): string | undefined {
  return new RegExp(String.raw`^\s*c\.${name.replace(/\./g, '\\.')}\s*=\s*["']([^"']*)["']`, 'm').exec(text)?.[1];
}

const allInterfaces = (host: string | undefined) => host === undefined || host === '' || host === '0.0.0.0' || host === '::';

/** A self-signed key and certificate, for the chart's proxy.https command line (hub-guard reads the files). */
function makeTls(): { dir: string; key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'hub-guard-deploy-'));
  const key = join(dir, 'tls.key');
  const cert = join(dir, 'tls.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-subj', '/CN=hub.example.org', '-days', '1'], { stdio: 'ignore' });
  return { dir, key, cert };
}

const skip = pythonMissing(['yaml']) || chartFilesPresent();

describe('deploy/ manifests', { skip }, () => {
  const tls = skip ? undefined! : makeTls();
  after(() => tls && rmSync(tls.dir, { recursive: true, force: true }));
  const l: Loaded = skip ? undefined! : load(tls);
  const proxies = () => l.guards.filter((g) => g.kind === 'proxy');

  test('every YAML file parses, and each layout has its files', () => {
    assert.ok(l.parsed.size >= 8, `found ${l.parsed.size} manifest files`);
    for (const [file, r] of l.parsed) {
      assert.equal(r.error, undefined, `${rel(file)}: ${r.error}`);
      assert.ok(r.docs!.length > 0 && r.docs!.every((d) => d !== null && typeof d === 'object'), `${rel(file)}: empty or not a mapping`);
    }
    assert.ok(l.compose, 'a compose file');
    const inLayouts = new Set<string>(LAYOUTS.flatMap((x) => [x.values, ...x.manifests]).map(deployPath));
    for (const f of l.values.keys()) assert.ok(inLayouts.has(f), `${rel(f)} belongs to no layout in test/deploy/deploy-files.ts LAYOUTS`);
    for (const f of inLayouts) assert.ok(l.parsed.has(f), `${rel(f)} is missing`);
    const kinds = (name: LayoutName) => layout(l, name).guards.map((g) => `${g.kind} in ${g.pod.what}`).sort();
    assert.deepEqual(kinds('proxy-pod'), ['proxy in Deployment hub-guard-proxy-extra', "proxy in the chart's proxy pod", 'watch in the hub pod']);
    assert.deepEqual(kinds('sidecar'), ['proxy in the hub pod']);
    assert.deepEqual(kinds('external-db'), ["proxy in the chart's proxy pod"]);
  });

  test('every hub-guard flag exists (FLAGS, or WATCH_FLAGS for `hub-guard watch`) and the command line is accepted', () => {
    const problems: string[] = [];
    assert.ok(l.guards.length >= 5, `${l.guards.length} hub-guard command lines`);
    for (const g of l.guards) {
      for (const arg of g.flags) {
        const name = arg.slice(2).split('=')[0]!;
        if (!arg.startsWith('--')) problems.push(`${g.where}: '${arg}' is not a flag`);
        else if (!isKnownFlag(name, g.kind)) problems.push(`${g.where}: --${name} is not a flag of hub-guard${g.kind === 'watch' ? ' watch (src/config.ts WATCH_FLAGS)' : ' (src/config.ts FLAGS)'}`);
      }
      try {
        config(g);
      } catch (e) {
        problems.push(`${g.where}: ${(e as Error).message}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test("the chart's proxy command line with the values' flags: API on every interface, the watcher or the database", () => {
    for (const name of ['proxy-pod', 'external-db'] as const) {
      const v = layout(l, name);
      const g = v.guards.find((x) => x.pod.chart === 'proxy');
      assert.ok(g, `${name}: hub-guard replaces configurable-http-proxy in the chart's proxy pod`);
      assert.deepEqual(g.c.command!.slice(0, 7), [
        'configurable-http-proxy', '--ip=', '--api-ip=', '--api-port=8001',
        `--default-target=http://hub:${HUB_PORT}`, `--error-target=http://hub:${HUB_PORT}/hub/error`, '--port=8000',
      ], `${name}: the chart's own flags come first`);
      const cfg = config(g);
      assert.ok(allInterfaces(cfg.listen.host), `${name}: public side on every interface`);
      assert.equal(cfg.listen.port, 8000);
      assert.ok(allInterfaces(cfg.apiListen.host), `${name}: the API on every interface (the hub is in another pod), got '${cfg.apiListen.host}'`);
      assert.equal(cfg.apiListen.port, 8001);
      assert.equal(cfg.defaultTarget, `http://hub:${HUB_PORT}`);
      assert.equal(cfg.errorTarget, `http://hub:${HUB_PORT}/hub/error`);
      assert.ok(cfg.redis, `${name}: --redis-url: the proxy pods share routes and maintenance`);
      if (name === 'proxy-pod') {
        assert.equal(cfg.watcher, true, 'proxy-pod: --watcher on');
        assert.equal(cfg.hubDb, undefined, 'proxy-pod: the proxy does not read the database itself');
      } else {
        assert.equal(cfg.watcher, false);
        assert.match(cfg.hubDb ?? '', /^(postgresql|mysql):\/\//, 'external-db: the proxies read the database');
      }
      // the same values with the chart's TLS (proxy.https manual/secret) and with subdomains
      const https = merged(l.values.get(v.valuesFile)!, { proxy: { https: { enabled: true, type: 'secret', secret: { name: 'tls' }, hosts: ['hub.example.org'] } } });
      const tlsArgv = chartProxyCommand(https, tls);
      assert.ok(tlsArgv.includes('--redirect-port=8000') && tlsArgv.includes('--port=8443'));
      const tlsCfg = buildConfig(tlsArgv.slice(1), {});
      assert.equal(tlsCfg.listen.port, 8443);
      assert.equal(tlsCfg.redirectPort, 8000);
      assert.equal(tlsCfg.redirectTo, 443);
      assert.ok(tlsCfg.ssl?.key && tlsCfg.ssl.cert, 'the key and certificate are read');
      assert.ok(allInterfaces(tlsCfg.apiListen.host));
      assert.equal(tlsCfg.watcher, cfg.watcher);
      const sub = merged(l.values.get(v.valuesFile)!, { hub: { config: { JupyterHub: { subdomain_host: 'hub.example.org' } } } });
      assert.equal(buildConfig(chartProxyCommand(sub).slice(1), {}).hostRouting, true, `${name}: with subdomain_host`);
    }
  });

  test('ports: containers, probes, Services and PodMonitors meet the ports the flags open', () => {
    for (const g of l.guards) {
      const cfg = config(g);
      const metrics = cfg.metricsListen?.port;
      assert.equal(metrics, 8002, `${g.where}: metrics port`);
      const open = new Set<number>([metrics!]);
      if (g.kind === 'proxy') {
        assert.deepEqual([cfg.listen.port, cfg.apiListen.port], [8000, 8001], `${g.where}: public and API ports as configurable-http-proxy's`);
        open.add(cfg.listen.port!).add(cfg.apiListen.port!);
        assert.ok(g.c.ports.some((p) => p.port === cfg.listen.port), `${g.where}: the public port is declared`);
      }
      for (const p of g.c.ports) assert.ok(open.has(p.port), `${g.where}: declares port ${p.port}, which hub-guard does not open`);
      const apiLocal = cfg.apiListen.host === '127.0.0.1' || cfg.apiListen.host === 'localhost';
      for (const probe of g.c.probes) {
        assert.ok(g.kind === 'proxy', `${g.where}: the watcher has no probes (its readiness would be the hub pod's)`);
        const port = resolvePort(g.c, probe.port);
        assert.ok(port, `${g.where}: ${probe.kind} port ${probe.port} is not a declared port`);
        const expected = port === cfg.listen.port ? ['/_chp_healthz'] : port === cfg.apiListen.port ? ['/healthz', '/readyz'] : ['/metrics'];
        assert.ok(expected.includes(probe.path), `${g.where}: ${probe.kind} asks ${probe.path} on port ${port}, which answers ${expected.join(' or ')}`);
        assert.ok(!(port === cfg.apiListen.port && apiLocal), `${g.where}: ${probe.kind} on the API port, which listens on ${cfg.apiListen.host} where kubelet cannot reach it`);
      }
      if (g.kind === 'proxy' && g.pod.what !== "the chart's proxy pod" && !g.pod.what.startsWith('compose')) {
        assert.ok(g.c.probes.some((p) => p.kind === 'readinessProbe'), `${g.where}: a readiness probe`);
      }
      if (g.pod.what.startsWith('compose')) {
        const svc = (l.compose!.doc.services as Obj)[g.c.name];
        for (const p of svc.ports as string[]) assert.match(p, /^127\.0\.0\.1:\d+:\d+$/, `${g.where}: publishes ${p} beyond the loopback`);
      }
    }
    for (const name of LAYOUTS.map((x) => x.name)) {
      const v = layout(l, name);
      // every Service reaches a port some container of the pods it selects declares
      for (const { file, obj } of v.objects.filter((o) => o.obj.kind === 'Service')) {
        const where = `${name}: ${rel(file)} Service ${obj.metadata.name}`;
        const targets = v.pods.filter((p) => selects(obj.spec.selector, p.labels));
        assert.ok(targets.length > 0, `${where}: its selector matches no pod`);
        for (const sp of obj.spec.ports as Obj[]) {
          const ref = sp.targetPort ?? sp.port;
          assert.ok(targets.some((p) => p.containers.some((c) => resolvePort(c, ref) !== undefined)), `${where}: port ${ref} is no container port of ${targets.map((p) => p.what).join(', ')}`);
        }
      }
      // every hub-guard metrics port is scraped by a PodMonitor of the layout, and every scrape lands on one
      const monitors = v.objects.filter((o) => o.obj.kind === 'PodMonitor');
      const scraped = new Set<Guard>();
      for (const { file, obj } of monitors) {
        for (const e of obj.spec.podMetricsEndpoints as Obj[]) {
          assert.equal(e.path, '/metrics', `${rel(file)} PodMonitor ${obj.metadata.name}: path`);
          // Prometheus finds a target only through a declared port; a relabeling of __address__ may move it
          const moved = (e.relabelings ?? []).find((r: Obj) => r.targetLabel === '__address__');
          const movedTo = moved && Number(/:(\d+)$/.exec(String(moved.replacement))?.[1]);
          if (moved) assert.deepEqual(moved.sourceLabels, ['__meta_kubernetes_pod_ip'], `${rel(file)}: __address__ from the pod IP`);
          for (const p of v.pods.filter((x) => selects(obj.spec.selector?.matchLabels, x.labels))) {
            const declared = p.containers.flatMap((c) => c.ports).find((x) => x.name === e.port);
            if (!declared) continue;
            const port = movedTo ?? declared.port;
            const g = v.guards.find((x) => x.pod === p && config(x).metricsListen?.port === port);
            assert.ok(g, `${name}: ${rel(file)} PodMonitor ${obj.metadata.name} scrapes ${p.what} on ${port}, which is no hub-guard --metrics-port`);
            scraped.add(g);
          }
        }
      }
      for (const g of v.guards.filter((x) => config(x).metricsListen)) assert.ok(scraped.has(g), `${name}: no PodMonitor scrapes ${g.where}`);
    }
  });

  test('PodMonitors and the PrometheusRule carry the label kube-prometheus-stack selects on, and the job the alerts use', () => {
    const objs = l.objects.filter((o) => o.obj.kind === 'PodMonitor' || o.obj.kind === 'PrometheusRule');
    assert.ok(objs.length >= 4, `${objs.length} prometheus-operator objects`);
    const releases = new Set(objs.map((o) => o.obj.metadata.labels?.release));
    assert.deepEqual([...releases], ['kube-prometheus-stack'], 'one release label, the same everywhere');
    for (const { file, obj } of objs) {
      const text = readFileSync(file, 'utf8');
      assert.match(text, /release: kube-prometheus-stack # ← the kube-prometheus-stack release name/, `${rel(file)}: the label to change is marked`);
      if (obj.kind !== 'PodMonitor') continue;
      for (const e of obj.spec.podMetricsEndpoints as Obj[]) {
        const job = (e.relabelings ?? []).find((r: Obj) => r.targetLabel === 'job')?.replacement;
        assert.match(String(job), /^hub-guard(-watch)?$/, `${rel(file)} PodMonitor ${obj.metadata.name}: job relabeling`);
        const watchesHub = matchLabels(CHART_SELECTOR.hub, obj.spec.selector.matchLabels) && e.port === 'watch-metrics';
        assert.equal(job === 'hub-guard-watch', watchesHub, `${obj.metadata.name}: job hub-guard-watch is the watcher's, hub-guard the proxies'`);
      }
    }
  });

  test('paths: mounts exist, the hub database is read-only, the state directory writable, file flags on a mount', () => {
    for (const pod of l.pods) {
      for (const c of [...pod.containers, ...pod.init]) {
        for (const m of c.mounts) assert.ok(pod.volumes.has(m.name), `${rel(pod.file)} (${pod.what}, ${c.name}): mounts volume ${m.name}, which the pod does not have`);
      }
    }
    for (const g of l.guards) {
      const cfg = config(g);
      const db = sqliteFile(cfg.hubDb);
      if (db) {
        const m = mountFor(g.c, db);
        assert.ok(m, `${g.where}: --hub-db ${db} is on no mount`);
        assert.ok(m.readOnly, `${g.where}: the hub database ${db} is mounted writable (${m.path})`);
        if (m.name === SQLITE_VOLUME) assert.equal(db, SQLITE_FILE, `${g.where}: where the chart keeps the hub database`);
      }
      for (const arg of g.flags) {
        const name = arg.slice(2).split('=')[0]!;
        if (!PATH_FLAGS.has(name) || g.pod.chart === 'proxy') continue;
        const path = flagValue(g.flags, name)!;
        const m = mountFor(g.c, path);
        assert.ok(m, `${g.where}: --${name} ${path} is on no mount, so it would not survive a restart`);
        if (name === 'state-dir' || name === 'pid-file' || name === 'backup-dir') assert.ok(!m.readOnly, `${g.where}: --${name} ${path} is on a read-only mount`);
      }
      if (g.c.readOnlyRoot) assert.ok(g.c.mounts.some((m) => m.path === '/tmp' && !m.readOnly), `${g.where}: a read-only root file system needs a writable /tmp`);
    }
    // the state directory is a subdirectory of the hub's volume, which an init container creates with the same name
    for (const pod of l.pods) {
      for (const c of pod.containers.filter((x) => l.guards.some((g) => g.c === x))) {
        for (const m of c.mounts.filter((x) => x.subPath)) {
          const made = pod.init.some((i) => i.mounts.some((im) => im.name === m.name && i.command?.join(' ').includes(`${im.path}/${m.subPath}`)));
          assert.ok(made, `${rel(pod.file)}: no init container creates ${m.subPath} on volume ${m.name}`);
        }
      }
    }
    const restore = l.objects.find((o) => o.obj.kind === 'Pod' && o.obj.metadata.name === 'hub-db-restore');
    assert.ok(restore, 'the restore pod');
    assert.deepEqual(restore.obj.spec.volumes.map((v: Obj) => v.persistentVolumeClaim?.claimName), ['hub-db-dir']);
    assert.equal(restore.obj.spec.containers[0].volumeMounts[0].mountPath, '/srv/jupyterhub');
    assert.equal(restore.obj.spec.containers[0].image, `quay.io/jupyterhub/k8s-hub:${CHART_VERSION}`, "the chart's hub image");
  });

  test('secrets: only variables hub-guard reads, from Secret keys that exist, the same cookie secret everywhere', () => {
    const cookieSources = new Set<string>();
    for (const g of l.guards) {
      const cfg = config(g);
      const names = g.c.env.map((e) => e.name);
      for (const n of names) assert.ok(ENV_READ.has(n), `${g.where}: sets ${n}, which hub-guard does not read`);
      assert.equal(new Set(names).size, names.length, `${g.where}: a variable set twice`);
      if (g.kind === 'proxy') assert.ok(names.includes('CONFIGPROXY_AUTH_TOKEN'), `${g.where}: the routes API token`);
      if (g.kind === 'proxy' && !g.pod.what.startsWith('compose')) assert.ok(names.includes('HUB_GUARD_OPERATOR_TOKEN'), `${g.where}: an operator token apart from the hub's`);
      if (cfg.hubDb || cfg.watcher) assert.ok(names.includes('JPY_COOKIE_SECRET') || g.flags.some((a) => a.startsWith('--cookie-secret-file')), `${g.where}: the hub's cookie secret`);
      if (cfg.hubDb && /^postgres(ql)?:\/\/[^:@/]+@/.test(cfg.hubDb)) assert.ok(names.includes('PGPASSWORD'), `${g.where}: the database password`);
      if (cfg.hubDb && /^mysql:\/\/[^:@/]+@/.test(cfg.hubDb)) assert.ok(names.includes('MYSQL_PWD'), `${g.where}: the database password`);
      for (const e of g.c.env.filter((x) => x.secret)) {
        if (e.secret!.name === CHART_SECRET) assert.ok(CHART_SECRET_KEYS.includes(e.secret!.key), `${g.where}: ${e.name} reads key ${e.secret!.key}, which the chart's Secret "hub" does not have`);
        else assert.deepEqual(e.secret, OPERATOR_SECRET, `${g.where}: ${e.name} reads a Secret deploy/ does not document`);
        assert.equal(e.value, undefined, `${g.where}: ${e.name} has a value and a secret`);
      }
      for (const e of g.c.env) assert.ok(e.secret || g.pod.what.startsWith('compose'), `${g.where}: ${e.name} is written into the manifest; secrets come from Secrets`);
      const want: Record<string, { name: string; key: string }> = {
        CONFIGPROXY_AUTH_TOKEN: { name: CHART_SECRET, key: 'hub.config.ConfigurableHTTPProxy.auth_token' },
        JPY_COOKIE_SECRET: { name: CHART_SECRET, key: 'hub.config.JupyterHub.cookie_secret' },
        PGPASSWORD: { name: CHART_SECRET, key: 'hub.db.password' },
        HUB_GUARD_OPERATOR_TOKEN: OPERATOR_SECRET,
      };
      for (const e of g.c.env.filter((x) => x.secret && want[x.name])) assert.deepEqual(e.secret, want[e.name], `${g.where}: ${e.name}`);
      const cookie = g.c.env.find((e) => e.name === 'JPY_COOKIE_SECRET')?.secret;
      if (cookie) cookieSources.add(`${cookie.name}/${cookie.key}`);
    }
    assert.equal(cookieSources.size, 1, `proxies and watcher read one cookie secret: ${[...cookieSources].join(', ')}`);
  });

  test('the pieces of each layout point at each other', () => {
    const redisService = (url: string | undefined, where: string, v: ReturnType<typeof layout>) => {
      const u = new URL(url!);
      const svc = v.objects.find((o) => o.obj.kind === 'Service' && o.obj.metadata.name === u.hostname);
      assert.ok(svc, `${where}: --redis-url names ${u.hostname}, which is no Service of the layout`);
      const port = (svc.obj.spec.ports as Obj[]).find((p) => p.port === Number(u.port || 6379));
      assert.ok(port, `${where}: Service ${u.hostname} has no port ${u.port || 6379}`);
      const pod = v.pods.find((p) => selects(svc.obj.spec.selector, p.labels));
      assert.ok(pod?.containers.some((c) => c.image?.startsWith('redis:') && resolvePort(c, port.targetPort) === 6379), `${where}: Service ${u.hostname} leads to Redis`);
    };

    // proxy-pod: the proxies and the watcher meet in one Redis; the watcher reads the chart's sqlite file
    const pp = layout(l, 'proxy-pod');
    const watch = pp.guards.find((g) => g.kind === 'watch')!;
    const wcfg = config(watch);
    assert.equal(sqliteFile(wcfg.hubDb), SQLITE_FILE, 'the watcher reads the chart\'s sqlite file');
    assert.ok(wcfg.backup, 'the watcher keeps verified copies');
    assert.ok(watch.c.env.some((e) => e.name === 'JPY_COOKIE_SECRET'), 'the watcher keys the index with the cookie secret');
    for (const g of pp.guards) {
      const cfg = config(g);
      redisService(flagValue(g.flags, 'redis-url'), g.where, pp);
      assert.deepEqual({ ...cfg.redis, password: undefined }, { ...wcfg.redis, password: undefined }, `${g.where}: the same Redis as the watcher`);
    }
    const extra = pp.guards.find((g) => g.pod.what === 'Deployment hub-guard-proxy-extra')!;
    const chart = pp.guards.find((g) => g.pod.chart === 'proxy')!;
    assert.deepEqual(extra.c.command, chart.c.command, 'the extra replicas run the command line the chart builds');
    assert.deepEqual(extra.c.env.map((e) => [e.name, e.secret]).sort(), chart.c.env.map((e) => [e.name, e.secret]).sort(), 'and its environment');
    assert.equal(extra.c.image, chart.c.image, 'and its image');
    for (const [k, val] of Object.entries(chart.pod.labels)) assert.equal(extra.pod.labels[k], val, `the extra replicas carry the chart proxy pod's label ${k}`);
    for (const p of ['http', 'api']) assert.equal(resolvePort(extra.c, p), resolvePort(chart.c, p), `port ${p} as the chart names it`);
    const dep = pp.objects.find((o) => o.obj.metadata.name === 'hub-guard-proxy-extra')!.obj;
    assert.ok(!matchLabels(dep.spec.selector.matchLabels, chart.pod.labels), "the extra Deployment's selector does not take the chart's pod");

    // external-db: the proxies read the hub's own database, with its password
    const ed = layout(l, 'external-db');
    const edProxy = ed.guards.find((g) => g.pod.chart === 'proxy')!;
    redisService(flagValue(edProxy.flags, 'redis-url'), edProxy.where, ed);
    assert.equal(config(edProxy).hubDb, ed.values.hub.db.url, 'external-db: --hub-db is hub.db.url');
    assert.equal(ed.guards.filter((g) => g.kind === 'watch').length, 0, 'external-db: no watcher');

    // neither proxy layout touches the hub's proxy settings: the hub keeps talking to proxy-api
    for (const v of [pp, ed]) {
      const cfgText = Object.values(v.values.hub?.extraConfig ?? {}).join('\n');
      assert.doesNotMatch(cfgText, /ConfigurableHTTPProxy/, `${v.name}: the hub's proxy settings stay the chart's`);
      assert.notEqual(v.values.proxy.service.type, 'ClusterIP', `${v.name}: proxy-public stays the public entry`);
    }

    // sidecar: the hub talks to hub-guard in its own pod, whose NetworkPolicy admits hub-guard's hop to the hub
    const sc = layout(l, 'sidecar');
    const side = sc.guards[0]!;
    const scfg = config(side);
    const config_ = Object.values(sc.values.hub?.extraConfig ?? {}).join('\n');
    assert.equal(pyString(config_, 'ConfigurableHTTPProxy.should_start'), undefined, 'should_start is a bool, not a string');
    assert.match(config_, /^\s*c\.ConfigurableHTTPProxy\.should_start\s*=\s*False\s*$/m, 'sidecar: should_start = False');
    const apiUrl = new URL(pyString(config_, 'ConfigurableHTTPProxy.api_url')!);
    assert.equal(apiUrl.hostname, '127.0.0.1', 'sidecar: hub-guard shares the hub pod\'s network');
    assert.equal(Number(apiUrl.port), scfg.apiListen.port, 'sidecar: api_url port');
    assert.equal(sqliteFile(scfg.hubDb), SQLITE_FILE, "sidecar: the chart's sqlite file");
    assert.equal(sc.values.hub.labels['hub.jupyter.org/network-access-hub'], 'true', 'sidecar: the hub pod may reach the hub (hub-guard → Service hub → this pod)');
    const pub = sc.objects.find((o) => o.obj.kind === 'Service' && o.obj.metadata.name === 'hub-guard-public')!;
    assert.ok(selects(pub.obj.spec.selector, side.pod.labels), 'sidecar: hub-guard-public selects the hub pod');

    // compose: the optional hub's configuration
    const hubConfig = readFileSync(join(DEPLOY, 'jupyterhub_config.py'), 'utf8');
    const g = proxies().find((x) => x.pod.what.startsWith('compose'))!;
    const gcfg = config(g);
    const composeApi = new URL(pyString(hubConfig, 'ConfigurableHTTPProxy.api_url')!);
    assert.equal(composeApi.hostname, g.c.name, 'compose: api_url names the hub-guard service');
    assert.equal(Number(composeApi.port), gcfg.apiListen.port, 'compose: api_url port');
    assert.equal(pyString(hubConfig, 'JupyterHub.db_url'), gcfg.hubDb, 'compose: the hub and hub-guard read one database');
    assert.equal(new URL(pyString(hubConfig, 'JupyterHub.hub_connect_url')!).host, new URL(gcfg.defaultTarget!).host, 'compose: --default-target is the hub');
    const services = l.compose!.doc.services as Obj;
    assert.ok(services[new URL(gcfg.defaultTarget!).hostname], 'compose: the hub service exists');
    const mounted = (services.jupyterhub.volumes as string[]).map((x) => x.split(':'));
    assert.ok(mounted.some(([src, dst]) => resolve(DEPLOY, src!) === join(DEPLOY, 'jupyterhub_config.py') && services.jupyterhub.command.includes(dst)), 'compose: the hub runs deploy/jupyterhub_config.py');
    assert.match(String(services.jupyterhub.build?.dockerfile_inline ?? services.jupyterhub.image), /quay\.io\/jupyterhub\/jupyterhub:5\.\d+\.\d+/, 'compose: a JupyterHub 5.x image');
  });

  test('images: hub-guard at the package version, the hub at the chart version, compose builds the repository', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const pod of l.pods.filter((p) => !p.what.startsWith('compose'))) {
      for (const c of [...pod.containers, ...pod.init].filter((x) => /(^|\/)hub-guard:/.test(x.image ?? ''))) {
        assert.equal(c.image, `hub-guard:${pkg.version}`, `${rel(pod.file)} (${c.name}): image tag is the package version`);
      }
    }
    const svc = (l.compose!.doc.services as Obj)['hub-guard'];
    assert.equal(resolve(DEPLOY, svc.build.context, svc.build.dockerfile), join(ROOT, 'Dockerfile'), 'compose builds the repository Dockerfile');
    assert.ok(existsSync(join(ROOT, 'Dockerfile')));
  });

  test('no pins to chart 2.0 / JupyterHub 3.0; helm commands name the chart version; the docs give the 5.x alembic head', () => {
    const texts = [...l.parsed.keys(), join(DEPLOY, 'README.md'), join(DEPLOY, 'jupyterhub_config.py'), join(ROOT, 'docs/operations.md')]
      .map((f) => ({ f, text: readFileSync(f, 'utf8') }));
    for (const { f, text } of texts) {
      for (const bad of [/\b2\.0\.0\b/, /chart 2\.0/i, /k8s-hub:2/, /JupyterHub 3\.0/, /2\.0 values/]) {
        const m = bad.exec(text);
        assert.ok(m === null, `${rel(f)}: "${m?.[0]}" in "…${m && text.slice(Math.max(0, m.index - 40), m.index + 40)}…"`);
      }
      for (const m of text.matchAll(/--version[ =](\S+)/g)) assert.equal(m[1], CHART_VERSION, `${rel(f)}: helm --version`);
      for (const m of text.matchAll(/k8s-hub:(\S+?)[\s`'"]/g)) assert.equal(m[1], CHART_VERSION, `${rel(f)}: hub image tag`);
    }
    const ops = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const facts = readFileSync(join(ROOT, '..', 'shared', 'jupyterhub-facts.md'), 'utf8');
    const head5 = /5\.0\.0b1–5\.5\.1 `([0-9a-f]{12})`/.exec(facts)?.[1];
    assert.equal(head5, '4621fec11365', 'the 5.x head in ../shared/jupyterhub-facts.md');
    assert.match(ops, new RegExp(`schema \`${head5}\` \\(JupyterHub 5\\.x\\)`), 'docs/operations.md: the restore check expects the 5.x head');
    for (const h of ['Install', 'Upgrade from configurable-http-proxy', 'Roll back to configurable-http-proxy']) {
      assert.match(ops, new RegExp(`^## ${h}`, 'm'), `docs/operations.md: section "${h}"`);
    }
  });

  test('alerts: metrics and labels exist in src/metrics.ts; each alert has a runbook section', () => {
    const rules = l.objects.filter((o) => o.obj.kind === 'PrometheusRule');
    assert.equal(rules.length, 1);
    const runbook = readFileSync(join(ROOT, 'docs/operations.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^#{2,4} (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    // what a proxy run with --watcher exports besides the rest
    registerWatcherMetrics();
    const known = new Map(registry.getMetricsAsArray().map((m) => [m.name, m]));
    const alerts = rules[0]!.obj.spec.groups.flatMap((g: Obj) => g.rules).filter((r: Obj) => r.alert) as Obj[];
    assert.ok(alerts.length >= 9, `${alerts.length} alerts`);
    const problems: string[] = [];
    const names = new Set<string>();
    for (const a of alerts) {
      const where = `alert ${a.alert}`;
      if (names.has(a.alert)) problems.push(`${where} defined twice`);
      names.add(a.alert);
      if (!['critical', 'warning', 'info'].includes(a.labels?.severity)) problems.push(`${where}: severity`);
      if (!a.annotations?.summary || !a.annotations?.description) problems.push(`${where}: summary and description`);
      const anchor = a.alert.toLowerCase();
      if (a.annotations?.runbook_url !== `docs/operations.md#${anchor}`) problems.push(`${where}: runbook_url`);
      if (!anchors.has(anchor)) problems.push(`${where}: docs/operations.md has no section "${a.alert}"`);
      const expr = String(a.expr);
      // the annotations may query metrics too (a template's `query`)
      const texts = [expr, ...Object.values(a.annotations ?? {}).map(String)];
      const used = texts.flatMap((t) => [...t.matchAll(/\b(hub_guard_[a-z0-9_]+)\s*(\{[^}]*\})?/g)]);
      if (!used.length && !/\bup\{job="hub-guard"\}/.test(expr)) problems.push(`${where}: uses no hub-guard metric`);
      const labelsHere = new Set<string>(TARGET_LABELS);
      for (const [, series, selector] of used) {
        const base = series!.replace(/_(bucket|sum|count)$/, '');
        const metric = known.get(series!) ?? known.get(base);
        if (!metric) {
          problems.push(`${where}: ${series} is not a metric in src/metrics.ts`);
          continue;
        }
        const labelNames = (registry.getSingleMetric(metric.name) as unknown as { labelNames?: string[] }).labelNames ?? [];
        for (const n of labelNames) labelsHere.add(n);
        for (const [, label] of (selector ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)/g)) {
          if (!labelNames.includes(label!) && !TARGET_LABELS.has(label!)) problems.push(`${where}: ${metric.name} has no label ${label}`);
        }
      }
      for (const [, list] of expr.matchAll(/\bby\s*\(([^)]*)\)/g)) {
        for (const label of list!.split(',').map((s) => s.trim()).filter(Boolean)) {
          if (!labelsHere.has(label)) problems.push(`${where}: groups by ${label}, which neither the metric nor the target has`);
        }
      }
    }
    for (const must of ['hub_guard_maintenance', 'hub_guard_blocked_total', 'hub_guard_db_healthy', 'hub_guard_state_store_up', 'hub_guard_db_findings', 'hub_guard_watcher_up']) {
      if (!alerts.some((a) => String(a.expr).includes(must))) problems.push(`no alert on ${must}`);
    }
    assert.deepEqual(problems, []);
  });
});
