#!/usr/bin/env node
// The `popek` command. TypeScript sources run through tsx's loader so that
// `npx popek` works straight after `npm ci`, with no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
