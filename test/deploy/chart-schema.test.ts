// Every values file under deploy/, merged over the chart's defaults as Helm merges `-f` files, against the chart's
// own JSON schema (zero-to-jupyterhub 4.4.0, Draft 7): what `helm upgrade` itself checks before it renders anything.
// The schema forbids unknown keys almost everywhere (additionalProperties: false), so a misspelt key fails here
// instead of being ignored by the chart; the tests below prove that the check bites.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { chartDefaults, chartFilesPresent, helmMerge, merged, parseYaml, pythonMissing, rel, validateAgainstSchema, type Obj } from './chart.js';
import { LAYOUTS, deployPath } from './deploy-files.js';

const skip = pythonMissing(['yaml', 'jsonschema']) || chartFilesPresent();

describe("deploy/ values files against the chart's schema", { skip }, () => {
  test('Helm merge: maps merge key by key, lists and scalars replace, null removes', () => {
    const base = { a: { b: 1, c: [1, 2], d: { e: 'x' } }, f: 'keep', g: { h: 1 } };
    const over = { a: { c: [3], d: { z: true } }, g: null, i: { j: [] } };
    assert.deepEqual(helmMerge(base, over), { a: { b: 1, c: [3], d: { e: 'x', z: true } }, f: 'keep', i: { j: [] } });
    assert.deepEqual(base, { a: { b: 1, c: [1, 2], d: { e: 'x' } }, f: 'keep', g: { h: 1 } }, 'the defaults are not changed');
    // a list given as a map (extraEnv has both notations) replaces, it does not merge into the list
    assert.deepEqual(helmMerge({ e: [{ name: 'A' }] }, { e: { B: 'b' } }), { e: { B: 'b' } });
  });

  test("the chart's defaults alone are valid (the schema and the validator agree)", () => {
    assert.deepEqual(validateAgainstSchema({ defaults: chartDefaults() }).defaults, []);
  });

  test('every values file, merged over the defaults, is valid', () => {
    const files = LAYOUTS.map((l) => deployPath(l.values));
    const parsed = parseYaml(files);
    const instances: Record<string, Obj> = {};
    for (const f of files) {
      const r = parsed.get(f)!;
      assert.equal(r.error, undefined, `${rel(f)}: ${r.error}`);
      instances[rel(f)] = merged(r.docs![0] as Obj);
    }
    // and the layouts with the TLS and subdomain options operators combine them with
    for (const f of files) {
      instances[`${rel(f)} + proxy.https secret`] = merged(parsed.get(f)!.docs![0] as Obj, { proxy: { https: { enabled: true, type: 'secret', secret: { name: 'tls' }, hosts: ['hub.example.org'] } } });
    }
    const errors = validateAgainstSchema(instances);
    for (const [name, list] of Object.entries(errors)) assert.deepEqual(list, [], `${name} does not pass the chart's schema`);
    assert.equal(Object.keys(errors).length, files.length * 2);
  });

  test('the check bites: a misspelt key, a wrong type, a label that is not a string', () => {
    const errors = validateAgainstSchema({
      typo: merged({ proxy: { chp: { extraComandLineFlags: ['--watcher'] } } }),
      type: merged({ proxy: { chp: { extraCommandLineFlags: '--watcher' } } }),
      label: merged({ hub: { labels: { 'hub.jupyter.org/network-access-hub': true } } }),
      netpol: merged({ hub: { networkPolicy: { egressAllowRule: { privateIPs: false } } } }),
      good: merged({ proxy: { chp: { extraCommandLineFlags: ['--watcher'] } } }),
    });
    assert.match(errors.typo!.join('\n'), /^proxy\.chp: Additional properties are not allowed \('extraComandLineFlags' was unexpected\)$/m);
    assert.match(errors.type!.join('\n'), /^proxy\.chp\.extraCommandLineFlags: '--watcher' is not of type 'array'$/m);
    assert.match(errors.label!.join('\n'), /^hub\.labels\.hub\.jupyter\.org\/network-access-hub: True is not of type 'string'$/m);
    assert.match(errors.netpol!.join('\n'), /^hub\.networkPolicy: Additional properties are not allowed \('egressAllowRule' was unexpected\)$/m);
    assert.deepEqual(errors.good, []);
  });
});
