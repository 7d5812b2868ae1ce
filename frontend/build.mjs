// Bundles the process studio (frontend/studio/) into build/studio/, served by Django as /static/studio/
// (config/settings.py STATICFILES_DIRS). Run by `npm run build` at install time (Makefile): nothing is
// bundled at run time and nothing is fetched from a CDN. The bundles keep the packages' licence
// comments (bpmn-js and the properties panel are MIT; the bpmn.io watermark stays on the canvas).
import * as esbuild from "esbuild";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "build", "studio");
rmSync(outdir, { recursive: true, force: true });

await esbuild.build({
  absWorkingDir: here,
  entryPoints: {
    modeler: "studio/modeler.js",
    "form-editor": "studio/form-editor.js",
  },
  outdir,
  bundle: true,
  format: "iife",
  target: ["es2020", "chrome100", "firefox100", "safari15"],
  minify: true,
  sourcemap: "linked",
  legalComments: "eof",
  loader: { ".woff": "file", ".woff2": "file", ".ttf": "file", ".eot": "file", ".svg": "file" },
  assetNames: "assets/[name]-[hash]",
  define: { "process.env.NODE_ENV": '"production"' },
  logLevel: "warning",
});
