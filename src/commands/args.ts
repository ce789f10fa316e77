// The subcommands' flags: `--name value` or `--name=value`, switches without values; every error names the flag.

export class UsageError extends Error {}

export interface CommandArgs { positional: string[]; values: Map<string, string>; switches: Set<string> }

export interface ArgSpec {
  command: string;
  values: string[];
  switches: string[];
  /** Whether bare words (actions such as `on`, `list`) are allowed. */
  positional: boolean;
}

export function parseCommandArgs(argv: string[], spec: ArgSpec): CommandArgs | 'help' {
  const out: CommandArgs = { positional: [], values: new Map(), switches: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') return 'help';
    if (!arg.startsWith('--')) {
      if (!spec.positional) throw new UsageError(`unexpected argument '${arg}' (see hub-guard ${spec.command} --help)`);
      out.positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq === -1 ? undefined : eq);
    if (spec.switches.includes(name)) {
      if (eq !== -1) throw new UsageError(`--${name} takes no value`);
      out.switches.add(name);
      continue;
    }
    if (!spec.values.includes(name)) throw new UsageError(`unknown flag --${name} (see hub-guard ${spec.command} --help)`);
    const value = eq === -1 ? argv[++i] : arg.slice(eq + 1);
    // `--reason --json` is a forgotten value, not the value "--json" (write --reason=--json for that)
    if (value === undefined || (eq === -1 && value.startsWith('--'))) throw new UsageError(`--${name} needs a value`);
    if (out.values.has(name)) throw new UsageError(`--${name} given twice`);
    out.values.set(name, value);
  }
  return out;
}
