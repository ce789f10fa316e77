// The doctor's findings and plan as text for a person at a terminal (the JSON form is the same data).
import type { Finding } from '../hubdb/checks.js';
import type { HubDbEngine } from '../hubdb/url.js';
import type { VerifiedBackup } from './backups.js';
import type { Plan } from './plan.js';
import type { VolumeReading } from './volumes.js';

export interface AdvisedFinding extends Finding {
  action: string;
}

export interface DoctorReport {
  database: string;
  engine: HubDbEngine;
  readAt: string;
  users: number;
  schema: string | null;
  baseline: { source: string; names: number; highWater: number; updatedAt: string } | null;
  findings: AdvisedFinding[];
  volumes: (VolumeReading & { source: string }) | null;
  plan: Plan;
  /** The plan as one script; empty when there is nothing to do. */
  sql: string;
  applied?: { backup: VerifiedBackup; statements: number; findings: AdvisedFinding[] };
}

const WIDTH = 110;

function wrap(text: string, indent: string): string[] {
  const lines: string[] = [];
  let line = indent;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line.length + word.length + 1 > WIDTH && line.trim() !== '') {
      lines.push(line);
      line = indent;
    }
    line += line.trim() === '' ? word : ` ${word}`;
  }
  if (line.trim() !== '') lines.push(line);
  return lines;
}

function summary(findings: Finding[]): string {
  const critical = findings.filter((f) => f.severity === 'critical').length;
  const warnings = findings.length - critical;
  return [critical && `${critical} critical`, warnings && `${warnings} warning${warnings === 1 ? '' : 's'}`].filter(Boolean).join(', ');
}

function findingLines(findings: AdvisedFinding[]): string[] {
  if (!findings.length) return ['No findings: every check the watchdog runs passes.'];
  const out = [`Findings: ${summary(findings)}`];
  for (const f of findings) {
    out.push(`  [${f.severity}] ${f.check}`, ...wrap(f.message, '    '), ...wrap(`What to do: ${f.action}`, '    '));
  }
  return out;
}

function volumeLines(v: NonNullable<DoctorReport['volumes']>): string[] {
  const out = [`Volumes (${v.source}): ${v.claims.length + v.unmapped.length} claims, ${v.claims.filter((c) => c.name !== null).length} read, ` +
    `${v.claims.filter((c) => c.name === null).length} uncertain, ${v.unmapped.length} not mapped`];
  const width = Math.min(48, Math.max(0, ...v.claims.map((c) => c.claim.length)));
  for (const c of v.claims) {
    const who = c.name !== null ? JSON.stringify(c.name) : `one of ${c.candidates.map((n) => JSON.stringify(n)).join(', ')}`;
    const extra = [c.id !== null && `id ${c.id}`, c.server && `server ${c.server}`, c.created && `created ${c.created}`].filter(Boolean).join(', ');
    out.push(`  ${c.claim.padEnd(width)}  → ${who}${extra ? ` (${extra})` : ''}; ${c.how}`);
  }
  if (v.unmapped.length) {
    out.push('  Not mapped:');
    for (const u of v.unmapped) out.push(...wrap(`${u.claim}: ${u.reason}`, '    '));
  }
  if (v.ambiguities.length) {
    out.push('  Ambiguous:');
    for (const a of v.ambiguities) out.push(...wrap(a.message, '    '));
  }
  return out;
}

export function renderReport(r: DoctorReport): string {
  const out: string[] = [`hub-guard doctor: ${r.database}`];
  out.push(`Read at ${r.readAt}: ${r.users} user${r.users === 1 ? '' : 's'}, schema ${r.schema ?? 'unknown'}.`);
  out.push(r.baseline
    ? `Baseline: ${r.baseline.source} (${r.baseline.names} names, at most ${r.baseline.highWater} users seen, updated ${r.baseline.updatedAt}).`
    : 'Baseline: none given (--baseline or --state-dir), so ids and user counts are not compared with a healthy past.');
  out.push('', ...findingLines(r.findings));

  if (r.plan.lookalikes.length) {
    out.push('', 'Lookalike names');
    for (const l of r.plan.lookalikes) out.push(`  ${l.names.map((n) => JSON.stringify(n)).join(' / ')}: ${l.action}`, ...wrap(l.explanation, '    '));
  }
  if (r.plan.idRestores.length) {
    out.push('', 'Ids to restore');
    for (const i of r.plan.idRestores) {
      out.push(...wrap(`${JSON.stringify(i.name)} ${i.from} → ${i.to} (from the ${i.source})${i.blocked ? `: left alone, ${i.blocked}` : ''}`, '  '));
    }
  }
  if (r.volumes) out.push('', ...volumeLines(r.volumes));

  out.push('');
  if (!r.plan.steps.length) {
    out.push('Repair plan: nothing to change.');
  } else {
    out.push(`Repair plan: ${r.plan.steps.length} step${r.plan.steps.length === 1 ? '' : 's'}${r.applied ? '' : ', nothing written yet'}`);
    r.plan.steps.forEach((s, i) => out.push(...wrap(`${i + 1}. ${s.title}${s.afterCommit ? ' (after the transaction)' : ''}`, '  '), ...wrap(s.why, '     ')));
  }
  if (r.plan.notes.length) {
    out.push('  Left for you:');
    for (const n of r.plan.notes) out.push(...wrap(`- ${n}`, '    '));
  }
  if (r.plan.steps.length) {
    out.push(`  Once it is applied the checks expect: ${r.plan.expected.length ? r.plan.expected.map((f) => `${f.check} (${f.severity})`).join(', ') : 'no findings'}.`);
    if (!r.applied) out.push('', '--- SQL ---', r.sql.trimEnd(), '--- end of SQL ---');
  }

  if (r.applied) {
    out.push('', `Applied ${r.applied.statements} statements in one transaction. Backup taken first: ${r.applied.backup.file} (verified, ${r.applied.backup.users ?? '?'} users).`);
    out.push('Checked again:', ...findingLines(r.applied.findings).map((l) => `  ${l}`));
  }
  return `${out.join('\n')}\n`;
}
