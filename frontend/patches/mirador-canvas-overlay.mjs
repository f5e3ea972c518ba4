// Fix for Mirador 4.0.0's annotation overlay (ProjectMirador/mirador#4533, open upstream).
//
// Mirador draws `#xywh` regions on a <canvas> laid over OpenSeadragon. Its CanvasOverlay
// scales that canvas by `viewportToImageZoom`, i.e. by the pixel size of the image actually
// loaded, although Mirador's OpenSeadragon world is in canvas coordinates. Where the image
// service is smaller than the canvas -- Beeldpost's rights-capped photos: a 6400 px canvas
// painted by a 1600 px public image -- every box comes out canvas/image times too big and
// off the person it belongs to. Hit-testing (hover, click) already uses canvas coordinates.
//
// The fix maps canvas coordinates to screen pixels through OpenSeadragon's own viewport
// (`pixelFromPointNoRotate`), which is right whatever the image's pixel size. The build fails
// if Mirador's code no longer matches, so a Mirador upgrade cannot drop it silently.
import { readFile } from 'node:fs/promises';

const BROKEN = [
  'const i = r.viewportToImageZoom(n), o = (this.viewportOrigin.x / this.imgWidth - this.viewportOrigin.x) / this.viewportWidth * this.containerWidth, a = (this.viewportOrigin.y / this.imgHeight - this.viewportOrigin.y) / this.viewportHeight * this.containerHeight;',
  'this.clearBeforeRedraw && this.clear(), this.context2d.translate(o, a), this.context2d.scale(i, i);',
];

const FIXED = [
  // Screen position of the world origin and screen pixels per canvas unit, from the viewport.
  'const v = this.viewer.viewport, z = v.pixelFromPointNoRotate(new hr.Point(0, 0), !0), u = v.pixelFromPointNoRotate(new hr.Point(1, 1), !0), i = u.x - z.x, o = z.x, a = z.y;',
  'this.clearBeforeRedraw && this.clear(), this.context2d.translate(o, a), this.context2d.scale(i, i);',
];

function patch(source) {
  const lines = source.split('\n');
  const at = lines.findIndex((line, index) => line.trim() === BROKEN[0]
    && (lines[index + 1] || '').trim() === BROKEN[1]);
  // `hr` is Mirador's name for OpenSeadragon in that module (CanvasOverlay.resize uses it).
  const openSeadragonInScope = source.includes('this.viewportOrigin = new hr.Point(0, 0)');
  if (at < 0 || !openSeadragonInScope
      || lines.filter((line) => line.trim() === BROKEN[0]).length !== 1) {
    throw new Error('mirador#4533 patch: CanvasOverlay.canvasUpdate is not the code this patch '
      + 'was written for (Mirador upgraded?); check whether the bug is fixed upstream and '
      + 'update or remove frontend/patches/mirador-canvas-overlay.mjs');
  }
  const indent = lines[at].match(/^\s*/)[0];
  lines.splice(at, 2, ...FIXED.map((line) => indent + line));
  return lines.join('\n');
}

// esbuild plugin: applies the fix to Mirador's ES build as it is bundled.
export const miradorCanvasOverlayFix = {
  name: 'mirador-4533-canvas-overlay',
  setup(build) {
    build.onLoad({ filter: /[\\/]mirador[\\/]dist[\\/]mirador\.es\.js$/ }, async (args) => ({
      contents: patch(await readFile(args.path, 'utf8')),
      loader: 'js',
    }));
  },
};
