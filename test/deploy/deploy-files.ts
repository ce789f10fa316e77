// deploy/ read as data for the tests: every file parsed, the values files merged over the chart's defaults, the
// pods they make (the chart's own, from the values, and the manifests'), and every hub-guard command line in them.
// A layout is a values file and the manifests applied with it; the tests check each layout as a whole.
import { basename, join } from 'node:path';
import { buildConfig, buildWatchConfig, type Config } from '../../src/config.js';
import {
  DEPLOY, NAMESPACE, chartPods, chartProxyCommand, chartProxyEnv, containerPorts, deployFiles, envList, merged,
  parseYaml, proxyTerminatesTls, rel, type Endpoint, type EnvVar, type Obj, type Parsed,
} from './chart.js';

/** Each way of deploying hub-guard on the chart: its values file and the manifests that go with it. */
export const LAYOUTS = [
  { name: 'proxy-pod', values: 'z2jh-proxy-values.yaml', manifests: ['redis.yaml', 'proxy-replicas.yaml', 'podmonitors.yaml'] },
  { name: 'sidecar', values: 'z2jh-sidecar-values.yaml', manifests: ['sidecar-services.yaml'] },
  { name: 'external-db', values: 'z2jh-external-db-values.yaml', manifests: ['redis.yaml', 'podmonitors.yaml'] },
] as const;
export type LayoutName = (typeof LAYOUTS)[number]['name'];

export interface Mount { name: string; path: string; readOnly: boolean; subPath?: string }
export interface Port { name?: string; port: number }
export interface Probe { kind: string; port: string | number; path: string }
export interface Container {
  name: string;
  image?: string;
  /** command and args as the container runs them; undefined command: the image's entrypoint takes `args`. */
  command?: string[];
  args: string[];
  env: EnvVar[];
  ports: Port[];
  mounts: Mount[];
  probes: Probe[];
  readOnlyRoot: boolean;
}
export interface Pod {
  file: string;
  what: string;
  labels: Record<string, string>;
  volumes: Set<string>;
  containers: Container[];
  init: Container[];
  /** The chart's pod that the values file describes, if it is one. */
  chart?: 'hub' | 'proxy';
  /** Merged values, for the chart's pods. */
  values?: Obj;
}

/** A hub-guard process: the proxy, or `hub-guard watch`. */
export interface Guard {
  pod: Pod;
  c: Container;
  kind: 'proxy' | 'watch';
  /** The flags, after the program name (and `watch`). */
  flags: string[];
  where: string;
}

const isGuardImage = (image: string | undefined) => !!image && /(^|\/)hub-guard(:|$)/.test(image);
const PROGRAMS = new Set(['hub-guard', 'configurable-http-proxy']);

export function container(c: Obj): Container {
  const probes: Probe[] = [];
  for (const kind of ['readinessProbe', 'livenessProbe', 'startupProbe']) {
    const get = c[kind]?.httpGet;
    if (get) probes.push({ kind, port: get.port, path: get.path });
  }
  return {
    name: c.name,
    image: c.image,
    command: c.command?.map(String),
    args: (c.args ?? []).map(String),
    env: envList(c.env),
    ports: (c.ports ?? []).map((p: Obj) => ({ name: p.name, port: p.containerPort })),
    mounts: (c.volumeMounts ?? []).map((m: Obj) => ({ name: m.name, path: m.mountPath, readOnly: m.readOnly === true, subPath: m.subPath })),
    probes,
    readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
  };
}

/** The hub-guard process a container runs, if any. */
export function guardOf(pod: Pod, c: Container): Guard | undefined {
  const where = `${rel(pod.file)} (${pod.what}, container ${c.name})`;
  if (c.command) {
    const argv = [...c.command, ...c.args];
    if (!PROGRAMS.has(basename(argv[0]!))) return undefined;
    if (argv[1] === 'watch') return { pod, c, kind: 'watch', flags: argv.slice(2), where };
    return { pod, c, kind: 'proxy', flags: argv.slice(1), where };
  }
  return isGuardImage(c.image) ? { pod, c, kind: 'proxy', flags: c.args, where } : undefined;
}

export function config(g: Guard, env: NodeJS.ProcessEnv = {}): Config {
  return g.kind === 'watch' ? buildWatchConfig(g.flags, env) : buildConfig(g.flags, env);
}

/** The values files' chart pods: the hub pod with its additions, and the proxy pod when hub-guard replaces CHP in it. */
function chartPodsOf(file: string, own: Obj, tls: { key: string; cert: string }): Pod[] {
  const values = merged(own);
  const hub = values.hub ?? {};
  const models = chartPods(values);
  const volumes = ['config', 'secret', ...(hub.db?.type === 'sqlite-pvc' ? ['pvc'] : []), ...(hub.extraVolumes ?? []).map((v: Obj) => v.name)];
  const pods: Pod[] = [{
    file, what: 'the hub pod', labels: models.hub.labels, volumes: new Set(volumes), chart: 'hub', values,
    containers: [
      { name: 'hub', args: [], env: [], ports: [{ name: 'http', port: 8081 }], mounts: [], probes: [], readOnlyRoot: false },
      ...(hub.extraContainers ?? []).map(container),
    ],
    init: (hub.initContainers ?? []).map(container),
  }];
  const image = values.proxy?.chp?.image;
  const imageRef = image && `${image.name}:${image.tag}`;
  if (isGuardImage(imageRef)) {
    const command = chartProxyCommand(values, proxyTerminatesTls(values) ? tls : undefined);
    const publicPort = proxyTerminatesTls(values) ? 'https' : 'http';
    pods.push({
      file, what: "the chart's proxy pod", labels: models.proxy.labels, volumes: new Set(), chart: 'proxy', values,
      containers: [{
        name: 'chp', image: imageRef, command, args: [], env: chartProxyEnv(values),
        ports: Object.entries(models.proxy.ports).map(([name, port]) => ({ name, port })),
        mounts: [],
        probes: ['readinessProbe', 'livenessProbe'].map((kind) => ({ kind, port: publicPort, path: '/_chp_healthz' })),
        readOnlyRoot: values.proxy?.chp?.containerSecurityContext?.readOnlyRootFilesystem === true,
      }],
      init: [],
    });
  }
  return pods;
}

function manifestPod(file: string, what: string, labels: Obj | undefined, spec: Obj): Pod {
  return {
    file, what, labels: labels ?? {},
    volumes: new Set((spec.volumes ?? []).map((v: Obj) => v.name)),
    containers: (spec.containers ?? []).map(container),
    init: (spec.initContainers ?? []).map(container),
  };
}

/** A compose service running hub-guard, in the same shape (compose's `command` replaces the image's CMD). */
function composePod(file: string, doc: Obj, name: string, svc: Obj): Pod {
  const env = Array.isArray(svc.environment)
    ? svc.environment.map((e: string) => ({ name: e.split('=')[0]! }))
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

export interface Loaded {
  parsed: Map<string, Parsed>;
  /** Every Kubernetes object, with the file it came from. */
  objects: { file: string; obj: Obj }[];
  pods: Pod[];
  /** Values files as written (not merged). */
  values: Map<string, Obj>;
  compose?: { file: string; doc: Obj };
  guards: Guard[];
}

export function load(tls: { key: string; cert: string }): Loaded {
  const files = deployFiles().filter((f) => /\.(ya?ml|json)$/.test(f));
  const parsed = parseYaml(files.filter((f) => !f.endsWith('.json')));
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
        if (doc.kind === 'Pod') pods.push(manifestPod(file, name, doc.metadata?.labels, doc.spec));
        else if (doc.spec?.template?.spec) {
          const pod = manifestPod(file, name, doc.spec.template.metadata?.labels, doc.spec.template.spec);
          // a StatefulSet's volumeClaimTemplates become volumes of its pods
          for (const t of doc.spec.volumeClaimTemplates ?? []) pod.volumes.add(t.metadata?.name);
          pods.push(pod);
        }
      } else if (doc.services) {
        compose = { file, doc };
        for (const [name, svc] of Object.entries(doc.services as Record<string, Obj>)) {
          if (isGuardImage(svc.image)) pods.push(composePod(file, doc, name, svc));
        }
      } else if (doc.hub || doc.proxy) {
        values.set(file, doc);
        pods.push(...chartPodsOf(file, doc, tls));
      }
    }
  }
  const guards = pods.flatMap((p) => p.containers.map((c) => guardOf(p, c)).filter((g): g is Guard => !!g));
  return { parsed, objects, pods, values, compose, guards };
}

export const deployPath = (name: string) => join(DEPLOY, name);

/** What one layout puts in the namespace: the chart's pods from its values, the manifests' pods and objects. */
export interface LayoutView {
  name: LayoutName;
  valuesFile: string;
  values: Obj;
  pods: Pod[];
  objects: { file: string; obj: Obj }[];
  guards: Guard[];
}

export function layout(l: Loaded, name: LayoutName): LayoutView {
  const def = LAYOUTS.find((x) => x.name === name)!;
  const valuesFile = deployPath(def.values);
  const files = new Set<string>([valuesFile, ...def.manifests.map(deployPath)]);
  const pods = l.pods.filter((p) => files.has(p.file));
  return {
    name, valuesFile, values: merged(l.values.get(valuesFile) ?? {}), pods,
    objects: l.objects.filter((o) => files.has(o.file)),
    guards: l.guards.filter((g) => files.has(g.pod.file)),
  };
}

/** A pod as the network model sees it: its labels, its container ports, and what hub-guard listens on. */
export function endpointOf(p: Pod, id: string, guards: Guard[]): Endpoint {
  const ports = containerPorts(p.containers.map((c) => ({ ports: c.ports.map((x) => ({ name: x.name, containerPort: x.port })) })));
  const listens = new Set<number>(p.containers.flatMap((c) => c.ports.map((x) => x.port)));
  const loopback = new Set<number>();
  for (const g of guards.filter((x) => x.pod === p)) {
    const cfg = config(g);
    for (const l of [g.kind === 'proxy' ? cfg.listen : undefined, g.kind === 'proxy' ? cfg.apiListen : undefined, cfg.metricsListen]) {
      if (l?.port === undefined) continue;
      if (l.host === '127.0.0.1' || l.host === 'localhost' || l.host === '::1') {
        loopback.add(l.port);
        listens.delete(l.port);
      } else listens.add(l.port);
    }
  }
  return { id, namespace: NAMESPACE, labels: p.labels, ports, listens, loopback };
}
