// JupyterHub's release lines as its database shows them (docs: ../shared/jupyterhub-facts.md 3.1). The alembic
// revision is the one place a hub database says which hub wrote it: sharing arrived in 5.0 with tables made by
// create_all and no migration of their own, so only the revision tells a 5.x database from a 4.x one.

/** The head each release line stamps, oldest first. */
export const RELEASE_HEADS: ReadonlyArray<{ release: string; head: string }> = [
  { release: '1.x', head: '4dc2d5a8c53c' },
  { release: '2.x', head: '833da8570507' },
  { release: '3.x', head: '651f5419b74d' },
  { release: '4.x', head: '0eee8c825d24' },
  { release: '5.x', head: '4621fec11365' },
  { release: '6.0b', head: 'f460b0348206' },
];

/** Every revision from 0.5 on, in order; a database between heads was left there by an interrupted upgrade. */
const ALEMBIC_CHAIN = [
  '19c0846f6344', 'eeb276e51423', 'af4cbdb2d13c', '3ec6993fe20c', '1cebaf56856c', '56cc5a70207e', '99a28a4418e1',
  'd68c98b66cd4', '896818069c98', '4dc2d5a8c53c', '833da8570507', '651f5419b74d', '0eee8c825d24', '3c2384c5aae1',
  '4621fec11365', 'be8ecf03ddac', 'afd65840b69e', 'ff1860e38070', 'f460b0348206',
];

/** The first revision only a 5.0 hub writes. */
const FIRST_WITH_SHARING = ALEMBIC_CHAIN.indexOf('3c2384c5aae1');

/**
 * Whether the hub that stamped this `alembic_version` has sharing (5.0 and later); undefined when the revision is
 * missing, unknown or several revisions at once, which says nothing either way.
 */
export function revisionHasSharing(alembicVersion: string | null): boolean | undefined {
  const at = alembicVersion === null ? -1 : ALEMBIC_CHAIN.indexOf(alembicVersion);
  return at === -1 ? undefined : at >= FIRST_WITH_SHARING;
}
