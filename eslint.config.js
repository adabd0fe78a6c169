// Lint rules that keep the architecture honest: drivers implement the contracts in
// src/driver and must not reach into the engine (backup, restore, repository, storage).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const engineImports = ['backup', 'restore', 'repository', 'storage', 'cli'].map((dir) => ({
  group: [`**/src/${dir}/**`, `**/src/${dir}`],
  message: `drivers/ implement src/driver contracts and must not import src/${dir} (DESIGN.md, dependency direction).`,
}));

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
  {
    files: ['drivers/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: engineImports }] },
  },
  {
    // backup and restore are siblings: what both need (segment format, findings) lives below them
    files: ['src/restore/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['backup', 'cli'].map((dir) => ({
            group: [`**/src/${dir}/**`, `../${dir}/**`],
            message: `src/restore must not import src/${dir}; move what both need to src/repository or src/driver.`,
          })),
        },
      ],
    },
  },
  {
    files: ['src/backup/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['restore', 'cli'].map((dir) => ({
            group: [`**/src/${dir}/**`, `../${dir}/**`],
            message: `src/backup must not import src/${dir}; move what both need to src/repository or src/driver.`,
          })),
        },
      ],
    },
  },
  {
    files: ['src/storage/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: ['backup', 'restore', 'repository', 'cli', 'driver'].map((dir) => ({
            group: [`**/src/${dir}/**`, `../${dir}/**`],
            message: `src/storage is the bottom layer and must not import src/${dir}.`,
          })),
        },
      ],
    },
  },
  {
    files: ['eslint.config.js', 'vitest.config.ts', 'migrations/**/*.ts', 'knexfile*.ts'],
    rules: { 'no-restricted-syntax': 'off' },
  },
);
