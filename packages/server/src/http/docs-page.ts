/**
 * The `/docs` page: the OpenAPI document rendered to plain HTML on the server, so it works offline
 * and loads nothing from elsewhere (no script, no CDN). Everything from the document is escaped.
 */
import { escapeHtml } from '../manager/html.ts';

type Schema = {
  type?: string | string[];
  description?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  enum?: unknown[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
  pattern?: string;
  example?: unknown;
  additionalProperties?: boolean | Schema;
  then?: Schema;
  else?: Schema;
  'x-optional'?: boolean;
};
type Parameter = { name: string; in: string; required?: boolean; description?: string; schema?: Schema };
type Operation = {
  tags?: string[];
  summary?: string;
  description?: string;
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content?: Record<string, { schema?: Schema }> };
  security?: Array<Record<string, unknown>>;
  responses?: Record<string, unknown>;
};
export interface OpenApiDocument {
  info: { title: string; version: string; description?: string };
  tags?: Array<{ name: string; description?: string }>;
  paths?: Record<string, Record<string, Operation>>;
}

const escape = (text: unknown): string => escapeHtml(String(text));

function typeOf(schema: Schema): string {
  if (schema.enum) return schema.enum.map((value) => JSON.stringify(value)).join(' | ');
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type ?? 'any');
  return type === 'array' && schema.items ? `array of ${typeOf(schema.items)}` : type;
}

function details(schema: Schema): string {
  const notes = [
    schema.minimum !== undefined || schema.maximum !== undefined ? `${schema.minimum ?? '…'} to ${schema.maximum ?? '…'}` : '',
    schema.default !== undefined ? `default ${JSON.stringify(schema.default)}` : '',
    schema.example !== undefined ? `e.g. ${JSON.stringify(schema.example)}` : '',
  ].filter(Boolean);
  return [schema.description ?? '', notes.length ? `(${notes.join('; ')})` : ''].filter(Boolean).join(' ');
}

/** A table of an object's fields, nested objects indented under their parent. */
function fieldRows(schema: Schema, prefix = ''): string {
  const required = new Set(schema.required ?? []);
  return Object.entries(schema.properties ?? {})
    .map(([name, field]) => {
      const row = `<tr><td><code>${escape(prefix + name)}</code>${required.has(name) ? ' <b>required</b>' : ''}</td><td>${escape(typeOf(field))}</td><td>${escape(details(field))}</td></tr>`;
      return field.properties ? row + fieldRows(field, `${prefix}${name}.`) : row;
    })
    .join('');
}

function fieldTable(title: string, schema: Schema | undefined): string {
  const rows = schema ? fieldRows(schema.else?.else ?? schema) : '';
  const note = schema?.description ? `<p>${escape(schema.description)}</p>` : '';
  if (!rows) return note ? `<h4>${title}</h4>${note}` : '';
  return `<h4>${title}</h4>${note}<table><tr><th>Field</th><th>Type</th><th>Meaning</th></tr>${rows}</table>`;
}

function parameterTable(title: string, parameters: Parameter[]): string {
  if (!parameters.length) return '';
  const rows = parameters
    .map((p) => `<tr><td><code>${escape(p.name)}</code>${p.required ? ' <b>required</b>' : ''}</td><td>${escape(p.schema ? typeOf(p.schema) : 'string')}</td><td>${escape(p.description ?? (p.schema ? details(p.schema) : ''))}</td></tr>`)
    .join('');
  return `<h4>${title}</h4><table><tr><th>Name</th><th>Type</th><th>Meaning</th></tr>${rows}</table>`;
}

function keyOf(operation: Operation): string {
  const scheme = Object.keys(operation.security?.[0] ?? {})[0];
  return scheme === undefined ? 'no key' : scheme === 'globalKey' ? 'the global key' : 'the global key or the instance token';
}

function renderOperation(method: string, path: string, operation: Operation): string {
  const parameters = operation.parameters ?? [];
  const body = operation.requestBody?.content?.['application/json']?.schema;
  return [
    `<section id="${escape(`${method}-${path}`)}"><h3><span class="m">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>`,
    `<p>${escape(operation.summary ?? '')}. <i>Key: ${keyOf(operation)}.</i></p>`,
    operation.description ? `<p>${escape(operation.description)}</p>` : '',
    parameterTable('Path', parameters.filter((p) => p.in === 'path')),
    parameterTable('Query', parameters.filter((p) => p.in === 'query')),
    fieldTable('Body (JSON)', body),
    '</section>',
  ].join('');
}

const STYLE = `body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
code{background:#f4f4f4;padding:0 .2rem}.m{font-family:monospace;background:#234;color:#fff;padding:0 .4rem;border-radius:3px}
section{border-top:1px solid #eee;margin-top:1rem}`;

export function renderDocsPage(document: OpenApiDocument): string {
  const operations = Object.entries(document.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, operation]) => ({ path, method, operation })),
  );
  const sections = (document.tags ?? []).map((tag) => {
    const mine = operations.filter(({ operation }) => operation.tags?.includes(tag.name));
    return `<h2>${escape(tag.name)}</h2><p>${escape(tag.description ?? '')}</p>${mine.map(({ method, path, operation }) => renderOperation(method, path, operation)).join('')}`;
  });
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escape(document.info.title)}</title><style>${STYLE}</style></head><body>
<h1>${escape(document.info.title)} <small>${escape(document.info.version)}</small></h1><p>${escape(document.info.description ?? '')}</p>
<p>The machine-readable document: <a href="/docs/openapi.json">/docs/openapi.json</a> (OpenAPI 3.1). Send keys in the <code>apikey</code> header.</p>
${sections.join('\n')}</body></html>`;
}
