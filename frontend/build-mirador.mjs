// Bundle Mirador's ES build with React/MUI in production mode into one IIFE script.
//   node build-mirador.mjs OUTDIR      -> OUTDIR/mirador.min.js, OUTDIR/THIRD-PARTY-LICENSES.txt
// Why not ship node_modules/mirador/dist/mirador.min.js as is: Mirador 4.0.0's UMD build
// runs React's development build (its `process.env` was replaced with `{}`), which is slower
// and logs development warnings. esbuild with NODE_ENV=production selects the production builds.
import { build } from 'esbuild';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { miradorCanvasOverlayFix } from './patches/mirador-canvas-overlay.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = process.argv[2];
if (!out) {
  console.error('usage: node build-mirador.mjs OUTDIR');
  process.exit(2);
}

const result = await build({
  absWorkingDir: here,
  entryPoints: ['mirador-entry.js'],
  outfile: join(out, 'mirador.min.js'),
  bundle: true,
  minify: true,
  format: 'iife',
  globalName: 'Mirador',
  platform: 'browser',
  target: ['es2020'],
  define: { 'process.env.NODE_ENV': '"production"' },
  legalComments: 'none',
  metafile: true,
  // Mirador 4.0.0 draws #xywh regions at the wrong scale on capped images (see the patch).
  plugins: [miradorCanvasOverlayFix],
  logLevel: 'warning',
});

// One licence text per bundled package (the packages Mirador's ES build imports, and Mirador itself).
const packages = new Map();
for (const input of Object.keys(result.metafile.inputs)) {
  const parts = input.split('node_modules/');
  if (parts.length < 2) continue;
  const last = parts[parts.length - 1].split('/');
  const name = last[0].startsWith('@') ? `${last[0]}/${last[1]}` : last[0];
  const dir = join(here, parts.slice(0, -1).join('node_modules/'), 'node_modules', name);
  packages.set(`${name}`, dir);
}
let text = 'Third-party software bundled into mirador.min.js\n'
  + '(Mirador\'s own ES build already contains further MIT/BSD/Apache-2.0 packages, e.g. OpenSeadragon, Redux, i18next; see its package.json.)\n';
for (const [name, dir] of [...packages].sort()) {
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const licenceFile = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE']
    .map((f) => join(dir, f)).find((f) => existsSync(f));
  text += `\n${'='.repeat(72)}\n${name}@${pkg.version} (${pkg.license || 'see below'})\n${'='.repeat(72)}\n`;
  text += licenceFile ? readFileSync(licenceFile, 'utf8').trim() + '\n' : '(no licence file in package)\n';
}
writeFileSync(join(out, 'THIRD-PARTY-LICENSES.txt'), text);
console.log(`build-mirador: ${packages.size} packages bundled`);
