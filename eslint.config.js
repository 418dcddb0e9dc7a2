// ESLint 9 flat config: typescript-eslint's recommended type-aware rules (a promise nobody
// awaits, an `any` that leaks from JSON.parse, a cast that changes nothing), the rules of
// STYLE §10 (no `any` without a reason, no disabled rule without one), and no focused test.
// Type-aware linting costs one TypeScript program for the whole repository: about 25 s of
// CPU on the ~27k lines, most of it building the program (measured December 2026).
// Formatting is Prettier's alone (.prettierrc.json): eslint-config-prettier, last, turns
// off every rule that would fight it.

import js from '@eslint/js';
import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import prettier from 'eslint-config-prettier';
import { defineConfig } from 'eslint/config';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  {
    ignores: ['node_modules/', 'reports/', '.stryker-tmp/', 'popek-replays/', 'examples/'],
  },
  {
    linterOptions: { reportUnusedDisableDirectives: 'error' },
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  comments.recommended,
  {
    rules: {
      // STYLE §10: a rule is switched off only with the reason after `--`.
      '@eslint-community/eslint-comments/require-description': 'error',
      eqeqeq: ['error', 'always'],
      // A focused test silently skips the rest of the suite.
      'no-restricted-properties': [
        'error',
        ...['test', 'it', 'describe', 'suite', 'bench'].map((object) => ({
          object,
          property: 'only',
          message: 'A focused test skips every other test: remove `.only` before committing.',
        })),
      ],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.config.ts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // STYLE §10: no `any` without a reason (in the disable comment).
      '@typescript-eslint/no-explicit-any': 'error',
      // A deliberately unused binding starts with `_` (tsc's noUnusedLocals agrees).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
    },
  },
  {
    // bin/popek.js, properties/check/worker-entry.mjs: plain Node modules, outside the TypeScript program.
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: { ...tseslint.configs.disableTypeChecked.languageOptions, globals: globals.node },
  },
  prettier,
);
