// Who may connect to whom, for each layout, under the chart's NetworkPolicies (zero-to-jupyterhub 4.4.0, as its
// README in ../shared/z2jh-4.4.0 states them) plus each values file's additions and the manifests' own policies.
// The pods carry the chart's labels plus hub.labels / proxy.labels / singleuser.extraLabels and the manifests'
// labels; what listens where comes from the hub-guard flags. Every hop hub-guard needs must be allowed, by a rule
// that does not depend on egressAllowRules (their ipBlock rules do not match pod addresses under Cilium or GKE
// Dataplane v2, so the model never counts them), and some hops must stay denied. Hops through a Service also check
// that the Service selects the pod and leads to the port. The table is printed for the notes.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  NAMESPACE, chartFilesPresent, chartPods, chartPolicies, chartServices, connect, k8sPolicy, matchLabels, merged,
  pythonMissing, rel, type Endpoint, type Obj, type Policy, type ServiceModel, type Verdict,
} from './chart.js';
import { LAYOUTS, endpointOf, layout, load, type LayoutName, type LayoutView } from './deploy-files.js';

interface Hop {
  from: string;
  to: string;
  port: number;
  /** What makes the connection, for the table. */
  what: string;
  via?: string;
  loopback?: boolean;
  allowed: boolean;
}

// hub-guard's hops in each layout, and hops that must stay closed
const HOPS: Record<LayoutName, Hop[]> = {
  'proxy-pod': [
    { what: 'browser → hub-guard (public)', from: 'browser', to: 'proxy pod', port: 8000, via: 'proxy-public', allowed: true },
    { what: 'browser → hub-guard (public)', from: 'browser', to: 'extra proxy pod', port: 8000, via: 'proxy-public', allowed: true },
    { what: 'hub-guard → hub', from: 'proxy pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'hub-guard → hub', from: 'extra proxy pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'hub → hub-guard routes API', from: 'hub pod', to: 'proxy pod', port: 8001, via: 'proxy-api', allowed: true },
    { what: 'hub → hub-guard routes API', from: 'hub pod', to: 'extra proxy pod', port: 8001, via: 'proxy-api', allowed: true },
    { what: 'hub-guard → user server', from: 'proxy pod', to: 'user pod', port: 8888, allowed: true },
    { what: 'hub-guard → user server', from: 'extra proxy pod', to: 'user pod', port: 8888, allowed: true },
    { what: 'hub-guard watch → Redis', from: 'hub pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: true },
    { what: 'hub-guard → Redis', from: 'proxy pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: true },
    { what: 'hub-guard → Redis', from: 'extra proxy pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: true },
    { what: 'Prometheus → hub-guard metrics', from: 'prometheus', to: 'proxy pod', port: 8002, allowed: true },
    { what: 'Prometheus → hub-guard metrics', from: 'prometheus', to: 'extra proxy pod', port: 8002, allowed: true },
    { what: 'Prometheus → watcher metrics', from: 'prometheus', to: 'hub pod', port: 8002, allowed: true },
    { what: 'user server → hub API', from: 'user pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'user server → Redis', from: 'user pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: false },
    { what: 'user server → routes API', from: 'user pod', to: 'proxy pod', port: 8001, via: 'proxy-api', allowed: false },
    { what: 'user server → routes API', from: 'user pod', to: 'extra proxy pod', port: 8001, via: 'proxy-api', allowed: false },
    { what: 'user server → hub-guard metrics', from: 'user pod', to: 'proxy pod', port: 8002, allowed: false },
    { what: 'user server → watcher metrics', from: 'user pod', to: 'hub pod', port: 8002, allowed: false },
    { what: 'browser → routes API', from: 'browser', to: 'proxy pod', port: 8001, allowed: false },
    { what: 'browser → Redis', from: 'browser', to: 'redis', port: 6379, allowed: false },
    { what: 'browser → hub, around hub-guard', from: 'browser', to: 'hub pod', port: 8081, allowed: false },
  ],
  sidecar: [
    { what: 'browser → hub-guard (public)', from: 'browser', to: 'hub pod', port: 8000, via: 'hub-guard-public', allowed: true },
    { what: 'hub-guard → hub (hairpin)', from: 'hub pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'hub → hub-guard routes API', from: 'hub pod', to: 'hub pod', port: 8001, loopback: true, allowed: true },
    { what: 'hub-guard → user server', from: 'hub pod', to: 'user pod', port: 8888, allowed: true },
    { what: 'Prometheus → hub-guard metrics', from: 'prometheus', to: 'hub pod', port: 8002, allowed: true },
    { what: 'user server → hub API', from: 'user pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'user server → routes API', from: 'user pod', to: 'hub pod', port: 8001, allowed: false },
    { what: 'user server → hub-guard metrics', from: 'user pod', to: 'hub pod', port: 8002, allowed: false },
    { what: 'browser → hub, around hub-guard', from: 'browser', to: 'hub pod', port: 8081, allowed: false },
    { what: 'browser → configurable-http-proxy', from: 'browser', to: 'proxy pod (CHP)', port: 8000, via: 'proxy-public', allowed: false },
  ],
  'external-db': [
    { what: 'browser → hub-guard (public)', from: 'browser', to: 'proxy pod', port: 8000, via: 'proxy-public', allowed: true },
    { what: 'hub-guard → hub', from: 'proxy pod', to: 'hub pod', port: 8081, via: 'hub', allowed: true },
    { what: 'hub → hub-guard routes API', from: 'hub pod', to: 'proxy pod', port: 8001, via: 'proxy-api', allowed: true },
    { what: 'hub-guard → user server', from: 'proxy pod', to: 'user pod', port: 8888, allowed: true },
    { what: 'hub-guard → Redis', from: 'proxy pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: true },
    { what: 'hub-guard → hub database', from: 'proxy pod', to: 'hub database', port: 5432, allowed: true },
    { what: 'hub → hub database', from: 'hub pod', to: 'hub database', port: 5432, allowed: true },
    { what: 'Prometheus → hub-guard metrics', from: 'prometheus', to: 'proxy pod', port: 8002, allowed: true },
    { what: 'user server → Redis', from: 'user pod', to: 'redis', port: 6379, via: 'hub-guard-redis', allowed: false },
    { what: 'user server → routes API', from: 'user pod', to: 'proxy pod', port: 8001, via: 'proxy-api', allowed: false },
    { what: 'user server → hub database', from: 'user pod', to: 'hub database', port: 5432, allowed: false },
    { what: 'browser → Redis', from: 'browser', to: 'redis', port: 6379, allowed: false },
  ],
};

const outside = (id: string): Endpoint => ({ id, labels: {}, ports: {}, listens: new Set(), loopback: new Set() });

interface Network { endpoints: Map<string, Endpoint>; policies: Policy[]; services: ServiceModel[] }

/** The namespace as one layout leaves it, with the clients outside it. */
function network(v: LayoutView, values: Obj = v.values): Network {
  const endpoints = new Map<string, Endpoint>();
  const add = (e: Endpoint) => endpoints.set(e.id, e);
  const chart = chartPods(values);
  const hubPod = v.pods.find((p) => p.chart === 'hub')!;
  add({ ...endpointOf(hubPod, 'hub pod', v.guards), labels: chart.hub.labels });
  const proxyPod = v.pods.find((p) => p.chart === 'proxy');
  add(proxyPod ? { ...endpointOf(proxyPod, 'proxy pod', v.guards), labels: chart.proxy.labels } : { ...chart.proxy, id: 'proxy pod (CHP)' });
  add(chart.user);
  for (const p of v.pods.filter((x) => !x.chart)) {
    const id = p.what === 'StatefulSet hub-guard-redis' ? 'redis' : p.what === 'Deployment hub-guard-proxy-extra' ? 'extra proxy pod' : p.what;
    add(endpointOf(p, id, v.guards));
  }
  add(outside('browser'));
  add({ ...outside('prometheus'), namespace: 'monitoring', labels: { 'app.kubernetes.io/name': 'prometheus' } });
  // an in-cluster PostgreSQL as the common charts label it (the external-db values name it so); no policy of its own
  add({ id: 'hub database', namespace: NAMESPACE, labels: { 'app.kubernetes.io/name': 'postgresql', 'app.kubernetes.io/instance': 'hub-db' }, ports: { 'tcp-postgresql': 5432 }, listens: new Set([5432]), loopback: new Set() });
  const policies = [
    ...chartPolicies(values, v.valuesFile),
    ...v.objects.filter((o) => o.obj.kind === 'NetworkPolicy').map((o) => k8sPolicy(o.obj, o.file)),
  ];
  const services: ServiceModel[] = [
    ...chartServices(values),
    ...v.objects.filter((o) => o.obj.kind === 'Service').map((o) => ({
      name: o.obj.metadata.name as string, selector: o.obj.spec.selector as Record<string, string>, source: rel(o.file),
      ports: (o.obj.spec.ports as Obj[]).map((p) => ({ port: p.port as number, targetPort: (p.targetPort ?? p.port) as number | string })),
    })),
  ];
  return { endpoints, policies, services };
}

/** The Service port that leads to `port` of the pod, or why none does. */
function through(n: Network, name: string, to: Endpoint, port: number): { ok: boolean; text: string } {
  const svc = n.services.find((s) => s.name === name);
  if (!svc) return { ok: false, text: `no Service ${name}` };
  if (!matchLabels(svc.selector, to.labels)) return { ok: false, text: `Service ${name} does not select ${to.id}` };
  const sp = svc.ports.find((p) => (typeof p.targetPort === 'number' ? p.targetPort : to.ports[p.targetPort]) === port);
  return sp ? { ok: true, text: `${name}:${sp.port}` } : { ok: false, text: `Service ${name} has no port to ${port}` };
}

interface Row { layout: string; hop: Hop; verdict: Verdict; via: string; problem?: string }

function evaluate(n: Network, layoutName: string, hops: Hop[]): Row[] {
  return hops.map((hop) => {
    const from = n.endpoints.get(hop.from);
    const to = n.endpoints.get(hop.to);
    if (!from || !to) throw new Error(`${layoutName}: no endpoint ${!from ? hop.from : hop.to}`);
    const verdict = connect(n.policies, from, to, hop.port, { loopback: hop.loopback });
    const via = hop.via ? through(n, hop.via, to, hop.port) : { ok: true, text: hop.loopback ? '127.0.0.1' : 'pod IP' };
    let problem: string | undefined;
    if (verdict.allowed !== hop.allowed) problem = `${hop.allowed ? 'denied' : 'allowed'}, expected ${hop.allowed ? 'allowed' : 'denied'}`;
    else if (hop.allowed && !via.ok) problem = via.text;
    return { layout: layoutName, hop, verdict, via: via.text, problem };
  });
}

function reason(v: Verdict): string {
  if (v.allowed) return v.egress.by === v.ingress.by ? v.egress.by : `out: ${v.egress.by}; in: ${v.ingress.by}`;
  return [!v.egress.ok && `out: ${v.egress.by}`, !v.ingress.ok && `in: ${v.ingress.by}`].filter(Boolean).join('; ');
}

function table(rows: Row[]): string {
  const head = ['layout', 'hop', 'from', 'to', 'port', 'via', 'allowed', 'by which rule'];
  const body = rows.map((r) => [r.layout, r.hop.what, r.hop.from, r.hop.to, String(r.hop.port), r.via, r.verdict.allowed ? 'yes' : 'no', reason(r.verdict)]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

const skip = pythonMissing(['yaml']) || chartFilesPresent();

describe('deploy/ reachability under the network policies', { skip }, () => {
  const l = skip ? undefined! : load({ key: '', cert: '' });

  test('every hop hub-guard needs is allowed, and the ones it must not open stay closed', () => {
    const rows = LAYOUTS.flatMap((x) => evaluate(network(layout(l, x.name)), x.name, HOPS[x.name]));
    console.log(`\nReachability (namespace ${NAMESPACE}; egressAllowRules not counted):\n${table(rows)}\n`);
    const problems = rows.filter((r) => r.problem).map((r) => `${r.layout}: ${r.hop.what} (${r.hop.from} → ${r.hop.to}:${r.hop.port}): ${r.problem} — ${reason(r.verdict)}`);
    assert.deepEqual(problems, []);
  });

  test("the values' additions are what opens the hops (without them the same hops are denied)", () => {
    const cases: { layout: LayoutName; change: Obj; hop: Partial<Hop> & { from: string; to: string; port: number } }[] = [
      // the sidecar fix: without the label the hub's own policy refuses hub-guard's hop to the hub
      { layout: 'sidecar', change: { hub: { labels: null } }, hop: { from: 'hub pod', to: 'hub pod', port: 8081 } },
      // and without the egress rule the hub pod may not send it
      { layout: 'sidecar', change: { hub: { networkPolicy: { egress: [] } } }, hop: { from: 'hub pod', to: 'hub pod', port: 8081 } },
      { layout: 'proxy-pod', change: { proxy: { chp: { networkPolicy: { egress: [] } } } }, hop: { from: 'proxy pod', to: 'redis', port: 6379 } },
      { layout: 'proxy-pod', change: { proxy: { labels: null } }, hop: { from: 'proxy pod', to: 'redis', port: 6379 } },
      { layout: 'proxy-pod', change: { hub: { networkPolicy: { egress: [] } } }, hop: { from: 'hub pod', to: 'redis', port: 6379 } },
      { layout: 'proxy-pod', change: { hub: { networkPolicy: { ingress: [] } } }, hop: { from: 'prometheus', to: 'hub pod', port: 8002 } },
      { layout: 'proxy-pod', change: { proxy: { chp: { networkPolicy: { ingress: [] } } } }, hop: { from: 'prometheus', to: 'proxy pod', port: 8002 } },
      { layout: 'external-db', change: { proxy: { chp: { networkPolicy: { egress: [] } } } }, hop: { from: 'proxy pod', to: 'hub database', port: 5432 } },
    ];
    for (const c of cases) {
      const v = layout(l, c.layout);
      const own = l.values.get(v.valuesFile)!;
      const before = evaluate(network(v), c.layout, [{ what: 'before', allowed: true, ...c.hop }])[0]!;
      const after = evaluate(network(v, merged(own, c.change)), c.layout, [{ what: 'after', allowed: true, ...c.hop }])[0]!;
      assert.equal(before.verdict.allowed, true, `${c.layout} ${JSON.stringify(c.change)}: before`);
      assert.equal(after.verdict.allowed, false, `${c.layout} ${JSON.stringify(c.change)}: after (${reason(after.verdict)})`);
    }
  });

  test('the model: ports by name, namespaces, loopback, policies that do not select a pod', () => {
    const a: Endpoint = { id: 'a', namespace: 'x', labels: { role: 'a' }, ports: {}, listens: new Set(), loopback: new Set() };
    const b: Endpoint = { id: 'b', namespace: 'x', labels: { role: 'b' }, ports: { web: 80 }, listens: new Set([80, 81]), loopback: new Set([9]) };
    const c: Endpoint = { ...a, id: 'c', namespace: 'y' };
    const pol: Policy[] = [{ source: 'p', namespace: 'x', podSelector: { role: 'b' }, ingress: [{ source: 'r', peers: [{ podSelector: { role: 'a' } }], ports: ['web'] }] }];
    assert.equal(connect(pol, a, b, 80).allowed, true);
    assert.equal(connect(pol, a, b, 81).allowed, false, 'a port the rule does not name');
    assert.equal(connect(pol, c, b, 80).allowed, false, 'a podSelector alone means the policy\'s namespace');
    assert.equal(connect(pol, b, a, 80).allowed, false, 'nothing listens');
    assert.equal(connect(pol, b, a, 9).ingress.by, 'nothing listens on 9');
    assert.equal(connect([], b, b, 9, { loopback: true }).allowed, true);
    assert.equal(connect([], a, b, 9).allowed, false, 'a loopback port from another pod');
    const ns: Policy[] = [{ source: 'p', namespace: 'x', podSelector: {}, ingress: [{ source: 'r', peers: [{ namespaceSelector: { 'kubernetes.io/metadata.name': 'y' } }] }] }];
    assert.equal(connect(ns, c, b, 81).allowed, true, 'namespaceSelector');
    assert.equal(connect(ns, a, b, 81).allowed, false);
    const deny: Policy[] = [{ source: 'p', namespace: 'x', podSelector: { role: 'a' }, egress: [] }];
    assert.equal(connect(deny, a, b, 80).allowed, false, 'an empty egress list denies everything');
    assert.equal(connect(deny, b, b, 80).allowed, true, 'a policy that does not select the pod');
  });
});
