/** Writes schema/pipeline.schema.json from the zod schema of the assembly (npm run schema). */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { assemblyJsonSchema } from '../lib/synth/assembly.ts';

const target = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../schema/pipeline.schema.json');
await writeFile(target, `${JSON.stringify(assemblyJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.relative(process.cwd(), target)}`);
