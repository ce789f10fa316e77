// `kubectl get pvc -o json` output for tests, shaped like what the Kubernetes API returns.

/** One PersistentVolumeClaim item. */
export function pvc(name: string, created: string | null, annotations: Record<string, string> = {}, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'jhub', ...(created ? { creationTimestamp: created } : {}), labels, annotations },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } },
    status: { phase: 'Bound' },
  };
}

/** The List kubectl prints for several claims. */
export const pvcList = (items: unknown[]) => JSON.stringify({ apiVersion: 'v1', kind: 'List', items, metadata: { resourceVersion: '' } });
