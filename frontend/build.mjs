// Bundles the process studio (frontend/studio/) into build/studio/, served by Django as /static/studio/
// (config/settings.py STATICFILES_DIRS). Run by `npm run build` at install time (Makefile): nothing is
// bundled at run time and nothing is fetched from a CDN. The bundles keep the packages' licence
// comments (bpmn-js and the properties panel are MIT; the bpmn.io watermark stays on the canvas).
import * as esbuild from "esbuild";
import { readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const outdir = join(here, "build", "studio");
rmSync(outdir, { recursive: true, force: true });

// The properties panel builds its two containers from HTML with style attributes, which our
// Content-Security-Policy (no inline style) refuses and reports. The same two rules are in
// studio/modeler.css; the build stops if a new version of the package changes these lines.
const INLINE_STYLES = [
  ['<div style="height: 100%" tabindex="-1" class="bio-properties-panel-container">',
    '<div tabindex="-1" class="bio-properties-panel-container">'],
  ['<div style="flex: none; height: auto" class="bio-properties-panel bio-theme-parent bio-properties-panel-header-container">',
    '<div class="bio-properties-panel bio-theme-parent bio-properties-panel-header-container">'],
];
const noInlineStyles = {
  name: "no-inline-styles",
  setup(build) {
    build.onLoad({ filter: /bpmn-js-properties-panel[\\/]dist[\\/]index\.esm\.js$/ }, (args) => {
      let source = readFileSync(args.path, "utf8");
      for (const [from, to] of INLINE_STYLES) {
        if (!source.includes(from)) {
          throw new Error(`bpmn-js-properties-panel changed: "${from}" not found; update frontend/build.mjs`);
        }
        source = source.replace(from, to);
      }
      return { contents: source, loader: "js" };
    });
  },
};

await esbuild.build({
  plugins: [noInlineStyles],
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
