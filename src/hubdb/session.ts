// What the snapshot readers ask of a database, whichever engine answers.

export type Row = Record<string, unknown>;

/** What each engine's driver provides inside one read-only transaction; the snapshot logic is shared. */
export interface SqlSession {
  /** `columns`: the names of the columns the statement returns. */
  rows(sql: string, columns: readonly string[]): Promise<Row[]>;
  /**
   * One value standing for the rows the statement returns, in any order, computed by the server: equal values mean
   * equal rows. null when the server cannot give one exactly (then the rows are read).
   */
  digest?(sql: string, columns: readonly string[]): Promise<string | null>;
  /** Quotes an identifier (`groups` is a reserved word in MySQL 8). */
  quote(name: string): string;
  tables(): Promise<string[]>;
  columns(table: string): Promise<string[]>;
  /** Only called when the users table has a cookie_id column. */
  cookieIdConstraint(): Promise<{ notNull: boolean; unique: boolean }>;
  integrity?(): Promise<string>;
}
