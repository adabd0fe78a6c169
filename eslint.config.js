// Lint rules that keep the architecture honest (DESIGN.md, dependency direction):
// cli -> backup | restore -> driver contracts + repository -> storage, and drivers/ implement the
// contracts in src/driver without reaching into the engine.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Files matching `files` may not import the folders `src/<dir>` named in `dirs`. */
function layer(files, dirs, why) {
  const patterns = dirs.map((dir) => ({
    group: [`**/src/${dir}/**`, `**/src/${dir}`, `../${dir}/**`],
    message: `${why} (must not import src/${dir}).`,
  }));
  return { files, rules: { 'no-restricted-imports': ['error', { patterns }] } };
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      'no-restricted-syntax': [
        'error',
        { selector: 'TSEnumDeclaration', message: 'Use an `as const` union instead of an enum (STYLE.md 12).' },
        { selector: 'ExportDefaultDeclaration', message: 'Use named exports (STYLE.md 12).' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  layer(
    ['drivers/**/*.ts'],
    ['backup', 'restore', 'repository', 'storage', 'cli'],
    'drivers/ implement src/driver contracts and use nothing of the engine',
  ),
  // backup and restore are siblings: what both need (segment format, findings) lives below them
  layer(['src/restore/**/*.ts'], ['backup', 'cli'], 'src/restore: move what backup also needs to src/repository or src/driver'),
  layer(['src/backup/**/*.ts'], ['restore', 'cli'], 'src/backup: move what restore also needs to src/repository or src/driver'),
  layer(['src/copy/**/*.ts'], ['backup', 'restore', 'cli'], 'src/copy is an engine beside backup and restore'),
  layer(
    ['src/storage/**/*.ts'],
    ['backup', 'restore', 'repository', 'cli', 'driver'],
    'src/storage is the bottom layer',
  ),
  {
    files: ['eslint.config.js', 'vitest.config.ts', 'migrations/**/*.ts', 'knexfile*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
