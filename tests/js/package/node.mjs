// Runs tests/js/package/provider.mjs in Node.js against @memecoin/client as installed from its
// packed tarball. argv[2]: the setup as JSON, with `app` (the folder the package was installed
// in). Prints one JSON line {"done": …}; a failed check throws (non-zero exit).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { run } from './provider.mjs';

const setup = JSON.parse(process.argv[2]);
setup.genesis = readFileSync(setup.genesisFile, 'utf8');
const entry = join(setup.app, 'node_modules/@memecoin/client/index.js');
const client = await import(pathToFileURL(entry).href);
const done = await run(client, setup);
console.log(JSON.stringify({ done }));
