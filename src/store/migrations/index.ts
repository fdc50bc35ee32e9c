import type { Migration, MigrationProvider } from 'kysely/migration';
import * as m001 from './001_core.ts';

/** Numbered migrations, listed statically so a bundle or a type-stripped run finds them all. */
export const MIGRATIONS: Record<string, Migration> = {
  '001_core': m001,
};

export const migrationProvider: MigrationProvider = {
  getMigrations: async () => MIGRATIONS,
};
