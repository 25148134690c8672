// The JSON API's reference, drawn from /openapi.json with the app's own code: no
// Swagger UI from a CDN, so it works offline and under the pages' Content-Security-Policy.
import { getJSON } from "../api.js";
import { h, mount } from "../dom.js";
import { pageHeader, panel, startPage } from "../shell.js";

function schemaText(schema) {
  if (!schema) return "";
  if (schema.anyOf) return schema.anyOf.map(schemaText).filter((t) => t !== "null").join(" | ");
  const limits = [
    schema.minimum !== undefined ? `≥ ${schema.minimum}` : null,
    schema.maximum !== undefined ? `≤ ${schema.maximum}` : null,
    schema.maxLength !== undefined ? `≤ ${schema.maxLength} chars` : null,
    schema.pattern ? `pattern ${schema.pattern}` : null,
  ].filter(Boolean);
  return [schema.type || "", ...limits].join(" ");
}

function parameterRows(parameters) {
  if (!parameters || !parameters.length) return null;
  return h("table", { class: "table docs-params" },
    h("thead", {}, h("tr", {}, h("th", {}, "parameter"), h("th", {}, "in"), h("th", {}, "type"))),
    h("tbody", {}, parameters.map((p) =>
      h("tr", {}, h("td", { class: "mono" }, p.name + (p.required ? " *" : "")), h("td", {}, p.in),
        h("td", { class: "mono" }, schemaText(p.schema))))));
}

function operation(path, method, op) {
  return h("article", { class: "docs-operation", dataset: { path, method } },
    h("h3", { class: "mono" }, h("span", { class: "docs-method" }, method.toUpperCase()), " ", path),
    op.description || op.summary ? h("p", {}, op.description || op.summary) : null,
    parameterRows(op.parameters));
}

startPage(async (app) => {
  const spec = await getJSON("/openapi.json");
  const groups = {};
  for (const [path, methods] of Object.entries(spec.paths || {})) {
    for (const [method, op] of Object.entries(methods)) {
      const tag = (op.tags && op.tags[0]) || "other";
      (groups[tag] = groups[tag] || []).push(operation(path, method, op));
    }
  }
  mount(app,
    pageHeader(`${spec.info.title} API ${spec.info.version}`, spec.info.description || "",
      h("a", { class: "button", href: "/openapi.json" }, "openapi.json")),
    Object.entries(groups).map(([tag, ops]) => panel({ title: tag }, ops)));
});
