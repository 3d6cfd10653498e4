// Bundle the viewer into dist/ (lesson-archiver copies dist/* into site/viewer/).
// Why a build: no IIIF AV viewer on npm ships a browser-ready file that lists a manifest's
// chapters (structures) and switches its WebVTT tracks; Ramp does both, as React components.
// esbuild turns them, React and Video.js into one script and one stylesheet. Remote @imports
// in the packages' CSS (Ramp's Google Fonts) are dropped: the site loads nothing from elsewhere,
// and the build fails if any remote URL is left in a CSS url() or @import.
import * as esbuild from "esbuild";
import { readFile, writeFile, mkdir, rm } from "node:fs/promises";
import path from "node:path";

const REMOTE_IMPORT = /@import\s+(?:url\(\s*["']?https?:[^)]*\)|["']https?:[^"']*["'])[^;]*;?/g;

const localCss = {
  name: "local-css",
  setup(build) {
    build.onLoad({ filter: /\.css$/ }, async (args) => {
      const text = await readFile(args.path, "utf8");
      return { contents: text.replace(REMOTE_IMPORT, ""), loader: "css" };
    });
  },
};

await rm("dist", { recursive: true, force: true });
await mkdir("dist", { recursive: true });
const result = await esbuild.build({
  entryPoints: ["entry.js"],
  bundle: true,
  minify: true,
  format: "iife",
  target: "es2019",
  define: { "process.env.NODE_ENV": '"production"', "global": "window" },
  outfile: "dist/ramp-viewer.js",
  loader: { ".svg": "dataurl", ".woff": "dataurl", ".woff2": "dataurl", ".ttf": "dataurl", ".eot": "dataurl", ".png": "dataurl" },
  legalComments: "none",
  metafile: true,
  plugins: [localCss],
  logLevel: "warning",
});

const css = await readFile("dist/ramp-viewer.css", "utf8");
const remote = css.match(/url\(\s*["']?https?:[^)]*\)|@import[^;]*https?:/g);
if (remote) {
  throw new Error(`remote resources left in the viewer's CSS: ${remote.join(", ")}`);
}

// the licence of every package in the bundle, from its own package.json and licence file
const packages = new Map();  // package folder -> name
for (const input of Object.keys(result.metafile.inputs)) {
  const m = /^([^()]*node_modules\/((?:@[^/]+\/)?[^/]+))\//.exec(input);
  if (m) { packages.set(m[1], m[2]); }
}
const lines = ["Third-party software in ramp-viewer.js and ramp-viewer.css, as bundled by",
               "lesson-archiver's viewer/build.mjs (name, version, licence as each package declares it).", ""];
for (const [dir, name] of [...packages.entries()].sort((a, b) => a[1].localeCompare(b[1]))) {
  const pkg = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
  const license = typeof pkg.license === "string" ? pkg.license : JSON.stringify(pkg.license || pkg.licenses || "UNKNOWN");
  lines.push(`${name} ${pkg.version}: ${license}`);
  for (const file of ["LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "license", "license.md"]) {
    try {
      const text = await readFile(path.join(dir, file), "utf8");
      lines.push(...text.trim().split("\n").map((l) => "    " + l), "");
      break;
    } catch { /* next name */ }
  }
}
await writeFile("dist/LICENSES.txt", lines.join("\n") + "\n");
console.log(`viewer built: ${packages.size} packages bundled`);
