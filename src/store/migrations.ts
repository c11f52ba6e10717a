import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { ErrorCode, HeadroomError } from '../errors/index.ts';

export interface MigrationFile {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly statements: readonly string[];
}

export interface MigrationReport {
  readonly applied: readonly string[];
  readonly alreadyApplied: readonly string[];
}

const FILE_PATTERN = /^(\d{4})_[a-z0-9_]+\.sql$/;

/** Splits a migration into statements: `;` at the end of a line ends one; `--` comment lines are dropped. */
export function splitStatements(sql: string): string[] {
  const withoutComments = sql
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('--'))
    .join('\n');
  return withoutComments
    .split(/;[ \t]*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export async function readMigrations(dir: string): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((n) => FILE_PATTERN.test(n)).sort();
  const files: MigrationFile[] = [];
  for (const name of names) {
    const text = await readFile(join(dir, name), 'utf8');
    files.push({
      version: Number(name.slice(0, 4)),
      name,
      checksum: createHash('sha256').update(text).digest('hex'),
      statements: splitStatements(text),
    });
  }
  const versions = new Set<number>();
  for (const file of files) {
    if (versions.has(file.version)) {
      throw new HeadroomError(
        ErrorCode.migrationFailed,
        `two migrations share version ${file.version} in ${dir}`,
      );
    }
    versions.add(file.version);
  }
  return files;
}

/**
 * Applies numbered migrations in order and records each in `schema_migrations` with its checksum.
 * Refuses (before applying anything) when an applied file was edited, since the database no longer
 * matches what the file says.
 */
export async function applyMigrations(
  client: ClickHouseClient,
  database: string,
  dir: string,
): Promise<MigrationReport> {
  const files = await readMigrations(dir);
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${database}.schema_migrations
      (version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC'))
      ENGINE = ReplacingMergeTree(applied_at) ORDER BY version`,
  });
  const result = await client.query({
    query: `SELECT version, name, checksum FROM ${database}.schema_migrations FINAL ORDER BY version`,
    format: 'JSONEachRow',
  });
  const applied = new Map<number, { name: string; checksum: string }>();
  for (const row of await result.json<{ version: number; name: string; checksum: string }>()) {
    applied.set(Number(row.version), { name: row.name, checksum: row.checksum });
  }

  for (const file of files) {
    const record = applied.get(file.version);
    if (record !== undefined && record.checksum !== file.checksum) {
      throw new HeadroomError(
        ErrorCode.migrationEdited,
        `migration ${file.name} was edited after it was applied (recorded checksum ${record.checksum.slice(0, 12)}…, ` +
          `file now ${file.checksum.slice(0, 12)}…); restore the file and add a new migration instead`,
        { details: { migration: file.name } },
      );
    }
  }

  const report = { applied: [] as string[], alreadyApplied: [] as string[] };
  for (const file of files) {
    if (applied.has(file.version)) {
      report.alreadyApplied.push(file.name);
      continue;
    }
    for (const statement of file.statements) {
      try {
        await client.command({ query: statement.replaceAll('{{database}}', database) });
      } catch (error) {
        throw new HeadroomError(
          ErrorCode.migrationFailed,
          `migration ${file.name} failed: ${(error as Error).message}`,
          {
            cause: error,
            details: { migration: file.name },
          },
        );
      }
    }
    await client.insert({
      table: `${database}.schema_migrations`,
      values: [{ version: file.version, name: file.name, checksum: file.checksum, applied_at: Date.now() }],
      format: 'JSONEachRow',
    });
    report.applied.push(file.name);
  }
  return report;
}

/** True when every migration file is recorded as applied with a matching checksum. */
export async function migrationsUpToDate(
  client: ClickHouseClient,
  database: string,
  dir: string,
): Promise<boolean> {
  const files = await readMigrations(dir);
  const result = await client.query({
    query: `SELECT version, checksum FROM ${database}.schema_migrations FINAL`,
    format: 'JSONEachRow',
  });
  const applied = new Map<number, string>();
  for (const row of await result.json<{ version: number; checksum: string }>()) {
    applied.set(Number(row.version), row.checksum);
  }
  return files.every((f) => applied.get(f.version) === f.checksum);
}
