// One lint config for the monorepo. Module boundaries are architecture, enforced here:
//  - services never import services (they talk over proto);
//  - libs never import services or apps;
//  - libs/compression (scope:pure) is pure computation: no gRPC, no network, no file system.
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';

export default [
  ...nx.configs['flat/base'],
  ...nx.configs['flat/typescript'],
  prettier,
  {
    ignores: ['**/dist', '**/node_modules', '**/.nx', '**/coverage', 'libs/proto/src/gen/**'],
  },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          // The e2e project drives the CLI (issue #16: it may import the CLI): its test helpers,
          // the ingest command and the service registry (each service's config loader, as
          // `embpress serve` calls it), by these three entry points only.
          allow: [
            '@embpress/cli/testing',
            '@embpress/cli/ingest-command',
            '@embpress/cli/services',
          ],
          depConstraints: [
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:lib', 'type:service'] },
            // Cross-service end-to-end specs: they drive the CLI (an app) and the services.
            {
              sourceTag: 'type:e2e',
              onlyDependOnLibsWithTags: ['type:app', 'type:lib', 'type:service'],
            },
            { sourceTag: 'type:service', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:lib'] },
            { sourceTag: 'scope:pure', onlyDependOnLibsWithTags: ['scope:pure'] },
          ],
        },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // The compression core takes and returns bytes; I/O and transport live in its callers.
    files: ['libs/compression/src/**/*.ts'],
    ignores: ['libs/compression/src/**/*.spec.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            'fs',
            'node:fs',
            'fs/promises',
            'node:fs/promises',
            'net',
            'node:net',
            'http',
            'node:http',
            'http2',
            'node:http2',
            'child_process',
            'node:child_process',
            '@grpc/grpc-js',
            '@grpc/proto-loader',
          ].map((name) => ({ name, message: 'libs/compression is pure: pass bytes in and out.' })),
          patterns: [
            { group: ['@grpc/*'], message: 'libs/compression never touches the transport.' },
          ],
        },
      ],
    },
  },
];
