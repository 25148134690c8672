// Parses LogQL with Grafana's own grammar (@grafana/lezer-logql, the parser of Grafana's Loki query
// editor), installed by scripts/install-deploy-tools.sh logql.
//   node parse_logql.cjs <dir holding node_modules>  < ["query", ...]
// prints [{"query": ..., "errors": [offset, ...]}, ...]: the offsets where the grammar found no way on.
const { createRequire } = require("node:module");
const { readFileSync } = require("node:fs");

const { parser } = createRequire(`${process.argv[2]}/`)("@grafana/lezer-logql");
const queries = JSON.parse(readFileSync(0, "utf8"));
const parsed = queries.map((query) => {
  const errors = [];
  parser.parse(query).iterate({
    enter: (node) => {
      if (node.type.isError) errors.push(node.from);
    },
  });
  return { query, errors };
});
process.stdout.write(JSON.stringify(parsed));
