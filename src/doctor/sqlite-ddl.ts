// SQLite cannot add NOT NULL to an existing column; the documented way is to rebuild the table from its own
// CREATE statement with the constraint added. This edits that statement without touching anything else in it.

/** Splits the column list of a CREATE TABLE at its top-level commas; null when the text is not understood. */
function columnList(sql: string): { head: string; items: string[]; tail: string } | null {
  const open = sql.indexOf('(');
  if (open < 0) return null;
  const items: string[] = [];
  let depth = 0;
  let start = open + 1;
  for (let i = open; i < sql.length; i++) {
    const ch = sql[i];
    const closer = ch === "'" ? "'" : ch === '"' ? '"' : ch === '`' ? '`' : ch === '[' ? ']' : null;
    if (closer) {
      // Skip the quoted text; a doubled quote inside it continues it.
      let from = i + 1;
      for (;;) {
        const end = sql.indexOf(closer, from);
        if (end < 0) return null;
        if (closer !== ']' && sql[end + 1] === closer) {
          from = end + 2;
          continue;
        }
        i = end;
        break;
      }
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return null;
      i = end + 1;
      continue;
    }
    if (ch === '(') depth++;
    else if (ch === ')') {
      depth--;
      if (depth === 0) return { head: sql.slice(0, open), items: [...items, sql.slice(start, i)], tail: sql.slice(i) };
    } else if (ch === ',' && depth === 1) {
      items.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  return null;
}

const unquote = (name: string) => name.replace(/^["`[]|["`\]]$/g, '');

/**
 * The CREATE TABLE statement for `newName` with `column` made NOT NULL, or null if the statement cannot be
 * read with confidence (then the caller leaves the table alone and says so).
 */
export function withNotNull(createSql: string, column: string, newName: string): string | null {
  if (!/^\s*CREATE\s+TABLE\s/i.test(createSql)) return null;
  const parts = columnList(createSql);
  if (!parts) return null;
  const index = parts.items.findIndex((item) => unquote(item.trim().split(/\s+/)[0] ?? '').toLowerCase() === column.toLowerCase());
  if (index < 0) return null;
  const item = parts.items[index];
  const items = [...parts.items];
  if (!/\bNOT\s+NULL\b/i.test(item)) {
    const trailing = /\s*$/.exec(item)![0];
    items[index] = `${item.slice(0, item.length - trailing.length)} NOT NULL${trailing}`;
  }
  return `CREATE TABLE ${newName} (${items.join(',')}${parts.tail}`;
}
